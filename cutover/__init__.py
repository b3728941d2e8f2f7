"""Blue-green cutover: move traffic from the old (kubenet) cluster to the new one step by step, safely.

Why it is a package of its own, shaped as it is:

* :mod:`cutover.engine` is a pure state machine (no clock, no I/O): every
  decision — which weights next, when a step passes, where a rollback goes,
  whether blue may be decommissioned — is a function of the persisted state and
  what was observed, so it is tested exhaustively without sockets or sleeps.
* :mod:`cutover.store` persists that state atomically after every transition and
  appends every step and gate result to a JSON-lines log, so a killed run can
  resume or roll back from exactly where it stopped.
* :mod:`cutover.routers` hides *where* the weights live behind one small
  ``Router`` protocol: a local HAProxy (runtime API, no reload) for the sandbox,
  or the ``akshift:traffic`` stack config plus a Pulumi ``up`` for Azure Traffic
  Manager / Front Door. The engine never knows which.
* :mod:`cutover.gates` measures green (HTTP probes, workload readiness, error
  rate) and judges each measurement with pure functions.
* :mod:`cutover.freeze` keeps blue frozen during the cutover with a
  ValidatingAdmissionPolicy the tool installs and removes.
* :mod:`cutover.runner` wires these together for the CLI (``akshift cutover``,
  ``rollback``, ``decommission``).

It talks to Kubernetes only through :class:`kube.client.KubeClient` and never
imports ``components`` or ``pulumi_azure_native``: Azure resources are declared
by ``components.traffic.TrafficSwitch``; this package only changes stack config.
"""
