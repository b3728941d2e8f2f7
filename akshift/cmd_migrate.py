"""`akshift inventory|plan|apply|verify|migrate`: the migration stages (wired in by the migration engine)."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the migration commands to the top-level app."""
