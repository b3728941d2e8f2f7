"""The one gateway to the Pulumi engine, and test-then-prod promotion on top of it.

Why it is a package of its own: everything in akshift that drives the Pulumi
engine — ``akshift up|preview|promote``, the Pulumi traffic router of the
cutover, the Pulumi disk mover, doctor's refresh — goes through
:mod:`deploy.engine` (open a stack three ways, guarded preview with a saved
plan, ``up`` held to that plan, engine failures as
:class:`deploy.errors.EngineError`); it is the only module that imports
``pulumi.automation`` (enforced by ``.importlinter``). The decisions around it
are pure functions tested without an engine: the engine's events
(:mod:`deploy.events`), the plan guards (:mod:`deploy.guards`), the promotion
rules and pins (:mod:`deploy.rules`, :mod:`deploy.pins`), the backend
(:mod:`deploy.backend`). :mod:`deploy.promotion` strings them together for
``promote``; :mod:`deploy.artifacts` reads the migration's files (snapshot,
verify report) for the program; :mod:`deploy.disk_mover` copies disks through
the gateway. Programs arrive as functions, so the package never imports
``components`` or the Azure SDK.
"""
