"""The akshift Pulumi program as `pulumi up` runs it; the composition is :func:`akshift.program.main` (also run inline by `akshift up`)."""
from pathlib import Path

from akshift import program

program.main(Path(__file__).resolve().parent)
