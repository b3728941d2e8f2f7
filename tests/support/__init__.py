"""Helpers shared by the test groups (unit, mocks, cluster, engine): builders, the Pulumi harness, judges.

Why a package of its own: tests live one or two directories deep (``tests/unit/<package>/``,
``tests/cluster/``), so shared helpers need one import path that does not depend on where a test
sits (``from support import builders``; ``tests/`` is on ``sys.path`` through its conftest), and
paths into the repository are computed once here instead of by counting parents in every file.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository checkout
FIXTURES = ROOT / "tests" / "fixtures"  # recorded inputs and golden files shared by the groups
