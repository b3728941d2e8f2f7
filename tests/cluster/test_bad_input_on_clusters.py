"""Bad inputs that need real clusters: a clear message, the right exit code, nothing changed, on the sandbox.

The rows are ``support.bad_inputs.CLUSTER_CASES`` (the rest of the table, without clusters, is
``tests/unit/akshift/test_bad_input.py``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from akshift.cli import app

from support.bad_inputs import CLUSTER_CASES, ClusterCase, runner
from support.bad_inputs import fingerprint as _fingerprint


@pytest.mark.parametrize("case", CLUSTER_CASES, ids=[c.id for c in CLUSTER_CASES])
def test_bad_input_against_the_sandbox_gets_a_clear_error(case: ClusterCase, blue: Any, green: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    scene = tmp_path / "scene"
    scene.mkdir()
    b, g = str(blue.kubeconfig), str(green.kubeconfig)
    case.setup(scene, b, g)
    monkeypatch.chdir(scene)
    before = _fingerprint(tmp_path, scene / "run")
    r = runner.invoke(app, [a.replace("{tmp}", str(scene)).replace("{blue}", b).replace("{green}", g)
                            for a in case.argv])
    output = r.output
    assert "Traceback" not in output and "internal error" not in output, output
    assert r.exit_code == case.code, output
    assert "".join(case.says.split()) in "".join(output.split()), output
    assert _fingerprint(tmp_path, scene / "run") == before
    if case.no_run_dir:
        assert not (scene / "run").exists()
