"""User and server text is printed as it is: never read as Rich markup or emoji.

Why: a path or an admission message containing ``[/]`` once crashed a command
after it had written its results; ``[denied]`` vanished from messages and
``:x:`` became an emoji. The shared consoles are plain by default.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from akshift.cli import app
from akshift.output import err_console, error_exit
from errors import AkshiftError, ErrorKind

runner = CliRunner()
TRICKY = ["[/]", "[denied] by policy", ":x: :thumbs_up:", "[bold]x[/bold]", "trailing \\", "[link=x]y[/link]"]


@pytest.mark.parametrize("text", TRICKY, ids=["close-tag", "bracketed-word", "emoji-codes", "style-tags",
                                              "trailing-backslash", "link-tag"])
def test_error_messages_print_user_text_verbatim(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with err_console.capture() as cap:
        error_exit(AkshiftError(f"object {text} refused", kind=ErrorKind.BAD_INPUT))
        err_console.print(f"plain {text}")
    printed = cap.get()
    assert f"object {text} refused" in printed
    assert f"plain {text}" in printed


def test_a_run_directory_with_markup_in_its_name_is_named_verbatim(tmp_path: Path) -> None:
    out = tmp_path / "run [/] :x: [denied]"
    r = runner.invoke(app, ["transform", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    assert "[/] :x: [denied]" in " ".join(r.output.split())
