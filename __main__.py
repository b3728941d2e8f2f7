"""The akshift Pulumi program, as `pulumi up` runs it: the composition lives in ``program.py``.

Why it is this short: `akshift up|preview|promote` run the same program through
the Automation API (an inline program), so the composition is a function
(:func:`program.main`) both entry points call — there is no second copy to
drift. Everything with a decision in it lives in ``stacks`` (what a valid config
is), ``components`` (what resources that means) and ``promotion`` (what a
promoted stack must match), where it is tested (see docs/components.md and
docs/promotion.md).
"""
from pathlib import Path

import program

program.main(Path(__file__).resolve().parent)
