"""Test-then-prod promotion and the guarded `up`/`preview` wrappers, around the Pulumi Automation API.

Why it is a package of its own: promotion is a decision (is what ran on
``test`` verified, recent, complete?) followed by a deployment (pin the
verified values into ``prod`` and apply exactly the previewed plan). The
decision and the guards are pure functions over stack outputs, update history
and preview steps (:mod:`deploy.rules`, :mod:`deploy.guards`,
:mod:`deploy.pins`, :mod:`deploy.backend`), tested without an engine; the
engine is only driven by :mod:`deploy.automation`, which receives the Pulumi
program as a function and so never imports ``components`` or the Azure SDK
(enforced by ``.importlinter``). :mod:`deploy.artifacts` reads the migration's
files (snapshot, verify report) for the program.
"""
