"""``akshift doctor`` and ``akshift strategy``: find a cluster's known AKS pitfalls, and choose how to leave kubenet.

Why a package of its own: it reads two inputs nobody else in the project
reads — the cluster's ARM description (``az aks show``) and a live cluster's
DNS, proxy and API-version set-up — and it decides something nobody else
decides (in-place update or new cluster). It sits beside ``migration`` (whose
:class:`~kube.client.KubeClient` it uses to read, never to write) and
``stacks`` (whose model describes the target); it imports neither Pulumi nor
``components``; :func:`doctor.execute.refresh_stack` reaches the Pulumi engine
through the gateway (:mod:`deploy.engine`) when ``--execute`` runs.

Modules: :mod:`~doctor.arm` (ARM description), :mod:`~doctor.cluster` (what is
read from the cluster), :mod:`~doctor.checks` (pure checks, one finding each),
:mod:`~doctor.verdicts` (what a check concludes), :mod:`~doctor.deprecations` (removed API versions),
:mod:`~doctor.strategy` (decision + runbook), :mod:`~doctor.execute` and
:mod:`~doctor.azure` (the only Azure calls, never run by tests).
"""
from doctor.arm import AgentPool, ArmCluster, load_arm_file, parse_arm
from doctor.checks import CHECKS, Inputs, run_checks
from doctor.cluster import ClusterObjects, collect
from doctor.errors import ArmError, AzureUnavailable, DoctorError, ExecutionRefused, StepFailed
from doctor.strategy import Route, Step, StepKind, Strategy, decide
from doctor.verdicts import Grade, Verdict, fails, worst

__all__ = [
    "CHECKS",
    "AgentPool",
    "ArmCluster",
    "ArmError",
    "StepFailed",
    "AzureUnavailable",
    "ClusterObjects",
    "DoctorError",
    "ExecutionRefused",
    "Verdict",
    "Inputs",
    "Route",
    "Grade",
    "Step",
    "StepKind",
    "Strategy",
    "collect",
    "decide",
    "fails",
    "load_arm_file",
    "parse_arm",
    "run_checks",
    "worst",
]
