"""Every command pays for what ``akshift.cli`` imports: the heavy packages wait for the commands that use them."""
from __future__ import annotations

import subprocess
import sys

from akshift import cmd_config
from stacks.schema import SCHEMA_FILE


def test_the_command_line_imports_neither_the_stack_model_nor_pulumi_until_a_command_needs_them() -> None:
    code = ("import sys, akshift.cli; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('stacks', 'pulumi', 'pydantic', 'importlib_metadata') or m == 'importlib.metadata')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_schema_help_names_the_file_the_schema_command_writes() -> None:
    assert cmd_config.SCHEMA_FILE_NAME == SCHEMA_FILE.name
