"""Freeze blue during the cutover: a ValidatingAdmissionPolicy that refuses new deployments, installed and removed by akshift.

Why: blue is the rollback target. If a team keeps deploying to blue while
traffic moves to green, the two drift apart and a rollback lands on
something nobody tested — or a release lands on the cluster that is being
drained. So while a cutover is in flight, blue refuses:

* ``CREATE`` of Deployments, StatefulSets, DaemonSets and CronJobs, and
* ``UPDATE`` of them that changes ``spec`` (a new image, new env, new replicas
  in the object rather than through ``/scale``).

It still accepts everything controllers need to keep blue running: status and
metadata updates (the Deployment controller's revision annotation),
``/scale`` (HPA), ReplicaSets, Pods and Jobs (CronJob runs), deletes, and
every change in the exempt system namespaces (AKS add-ons, Calico's
operator on kubenet clusters). A ValidatingAdmissionPolicy (GA since
Kubernetes 1.30) needs no webhook server — nothing to run on blue — and
it is removed with two deletes.

:func:`freeze` does not trust that the objects exist: it proves the policy is
enforced by a dry-run create that must be refused (the API server loads
policies asynchronously, within about a second).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from cutover.errors import FreezeError
from kube.client import KubeClient
from kube.errors import ApiError

FIELD_MANAGER = "akshift-cutover"
API_VERSION = "admissionregistration.k8s.io/v1"
EXEMPT_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "calico-system", "tigera-operator",
                     "gatekeeper-system")
PROBE_NAMESPACE = "default"
MANAGED_BY = {"app.kubernetes.io/managed-by": "akshift"}


def policy_name(blue: str) -> str:
    return f"akshift-freeze-{blue}"


def freeze_policy(blue: str, green: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy that refuses new workloads and spec changes on ``blue``."""
    rules = [
        {"apiGroups": ["apps"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
         "resources": ["deployments", "statefulsets", "daemonsets"]},
        {"apiGroups": ["batch"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["cronjobs"]},
    ]
    message = (f"'{blue} is frozen by akshift during the cutover to {green}: ' + request.operation + ' of ' + "
               f"request.resource.resource + ' ' + request.namespace + '/' + request.name + ' refused; deploy to "
               f"{green}, or run `akshift rollback` to unfreeze {blue}'")
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name(blue), "labels": dict(MANAGED_BY)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": rules},
            "validations": [{
                # Allowed only: an UPDATE that leaves spec as it was (status, labels, annotations, finalizers).
                "expression": "request.operation == 'UPDATE' && has(object.spec) && has(oldObject.spec) "
                              "&& object.spec == oldObject.spec",
                "messageExpression": message,
                "reason": "Forbidden",
            }],
        },
    }


def freeze_binding(blue: str, exempt: Sequence[str] = EXEMPT_NAMESPACES) -> dict[str, Any]:
    """The binding that enforces the policy (Deny) everywhere but the exempt system namespaces."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy_name(blue), "labels": dict(MANAGED_BY)},
        "spec": {
            "policyName": policy_name(blue),
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(exempt)}]}},
        },
    }


def _probe(blue: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "akshift-freeze-probe"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"akshift-freeze-probe-{blue}", "namespace": PROBE_NAMESPACE, "labels": labels},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]}}}}


def refuses_new_deployments(client: KubeClient, blue: str) -> bool:
    """Whether blue refuses a new Deployment because of the freeze (a dry-run create; nothing is stored).

    Raises:
        FreezeError: the dry run failed for another reason (RBAC, unreachable).
    """
    try:
        client.apply(_probe(blue), field_manager=FIELD_MANAGER, dry_run=True)
        return False
    except ApiError as e:
        if e.status == 403 and policy_name(blue) in e.detail:
            return True
        raise FreezeError(f"cannot probe the freeze on {blue}: {e}") from e


def freeze(client: KubeClient, blue: str, green: str, *, timeout: float = 30.0) -> None:
    """Install the freeze on blue (idempotent) and wait until the API server enforces it.

    Raises:
        FreezeError: the objects could not be applied (RBAC: needs rights on
            admissionregistration.k8s.io), or blue still accepts new Deployments after ``timeout``.
    """
    try:
        client.apply(freeze_policy(blue, green), field_manager=FIELD_MANAGER, force=True)
        client.apply(freeze_binding(blue), field_manager=FIELD_MANAGER, force=True)
    except ApiError as e:
        raise FreezeError(f"cannot install the freeze policy on {blue}: {e}",
                          fix="use a kubeconfig allowed to create ValidatingAdmissionPolicies (cluster-admin)") from e
    deadline = time.monotonic() + timeout
    while not refuses_new_deployments(client, blue):
        if time.monotonic() > deadline:
            raise FreezeError(f"{blue} still accepts new Deployments {timeout:.0f}s after the freeze was installed",
                              fix="check that the ValidatingAdmissionPolicy admission plugin is enabled")
        time.sleep(0.25)


def unfreeze(client: KubeClient, blue: str, *, timeout: float = 30.0) -> None:
    """Remove the freeze (idempotent) and wait until blue accepts new Deployments again.

    Raises:
        FreezeError: the objects could not be deleted, or the refusal persists after ``timeout``.
    """
    try:
        client.delete(freeze_binding(blue))
        client.delete(freeze_policy(blue, ""))
    except ApiError as e:
        raise FreezeError(f"cannot remove the freeze policy from {blue}: {e}",
                          fix=f"delete ValidatingAdmissionPolicy(Binding) {policy_name(blue)} by hand") from e
    deadline = time.monotonic() + timeout
    while refuses_new_deployments(client, blue):
        if time.monotonic() > deadline:
            raise FreezeError(f"{blue} still refuses new Deployments {timeout:.0f}s after the freeze was removed")
        time.sleep(0.25)
