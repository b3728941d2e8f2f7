"""``MigratedWorkloads``: a transformed snapshot declared on the new cluster, one Pulumi resource per object.

Why it exists: after ``akshift migrate`` the reproduced workloads would belong
to nobody — ``pulumi preview`` would not show their drift and ``pulumi destroy``
would leave them behind. Declaring the sanitized snapshot in the same stack as
the cluster and its add-ons makes Pulumi own them: a second ``pulumi up`` of an
unchanged snapshot is a no-op, a changed object is one ``update`` in the
preview, and destroy removes them.

Why it is shaped so:

* **One resource per object, generic.** Each object becomes a
  ``pulumi.CustomResource`` of the provider's own type token
  (``kubernetes:apps/v1:Deployment``, ``kubernetes:core/v1:Secret``, a CRD's
  ``kubernetes:<group>/<version>:<Kind>``) with the object as its inputs, exactly
  as the migration engine would send it. The provider's await logic applies as
  for typed resources (Deployments wait until Available). The typed SDK classes
  would only add snake_case translation we do not want for objects that are
  already API JSON.
* **Stable logical names**: ``f"{name}-{group}/{Kind}/{namespace}/{name}"``
  (:func:`logical_name`, the migration journal's key), independent of the
  object's content, its apiVersion and the order of the snapshot. The version is
  in the type token, so an apiVersion change is a replacement unless aliased;
  the transform stage settles versions before the first ``up``.
* **Secrets are Pulumi secrets**: ``data`` and ``stringData`` are wrapped with
  ``Output.secret`` and marked ``additional_secret_outputs``, so the state holds
  them encrypted; the decrypted snapshot exists in memory only.
* **Order is the migration's table** (:func:`migration.order.apply_tiers`):
  CRDs, Namespaces, quotas … admission last. Two mechanisms, chosen for size:
  dependencies that matter for deletion too — an object on its Namespace, a
  custom resource on its CRD — are recorded as ``dependsOn`` (destroy removes
  them first). The rest of the tier order is enforced at creation only: each
  tier's registrations wait until every resource of the previous tier has
  settled, through a ``depends_on`` Output that resolves late but carries no
  resources. Recording the full tier order instead would store every object of
  a tier as a dependency of every object of the next — about two million URNs
  in the state at 5,000 objects.
* A failed object does not stop the rest: the next tier waits for the previous
  one to *settle* (created or failed), and the engine reports each failure,
  as the migration engine's per-object results do.

The pure part (:func:`declarations`) is tested without Pulumi; the constructor
only registers what it returns.
"""
from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from kube.objects import ObjectRef, group_of, is_secret
from kube.order import apply_tiers, tier, tier_name

TOKEN = "akshift:index:MigratedWorkloads"

#: Fields of a core Secret that hold its data; wrapped as Pulumi secrets.
SECRET_FIELDS: tuple[str, ...] = ("data", "stringData")

#: Server-owned metadata a transformed snapshot should not carry; dropped defensively so a stray field
#: cannot make every ``up`` an update.
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


def logical_name(obj: Mapping[str, Any]) -> str:
    """The stable logical-name suffix of an object: ``group/Kind/namespace/name``.

    ``::`` separates the parts of a Pulumi URN, so it is escaped (Kubernetes
    names may contain ``:``, e.g. ``system:auth-delegator``).

    Args:
        obj: A Kubernetes object dict.

    Returns:
        The suffix, e.g. ``apps/Deployment/shop/web`` or ``core/Namespace//shop``.
    """
    return ObjectRef.of(obj).key.replace("%", "%25").replace("::", "%3A%3A")


def type_token(obj: Mapping[str, Any]) -> str:
    """The Kubernetes provider's type token of an object: ``kubernetes:<group or core>/<version>:<Kind>``."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj['kind']}"


#: The provider's annotation that turns its await logic off for one resource.
SKIP_AWAIT = "pulumi.com/skipAwait"


def skip_await_reason(obj: Mapping[str, Any]) -> str | None:
    """Why ``pulumi up`` must not wait for this object to become ready, or None when it may wait.

    A migration carries objects whose readiness it does not control: a claim binds only when a consumer
    runs (``WaitForFirstConsumer``) or after ``akshift volumes move``; a LoadBalancer Service or an
    Ingress gets its address from Azure or an ingress controller; a Job runs pods the migration did not
    ask for; a workload scaled to 0 (quiesced for a volume move) has nothing to become ready. The
    provider would wait on each of them and fail the ``up`` after its timeout (10 minutes), so these
    are declared with :data:`SKIP_AWAIT`; `akshift verify` judges readiness against the source instead.

    >>> skip_await_reason({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "d"}})
    'a claim binds when a consumer runs or its volume is moved'
    >>> skip_await_reason({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2}}) is None
    True
    """
    kind, group = obj.get("kind"), group_of(obj)
    spec = obj.get("spec") or {}
    if group == "" and kind == "PersistentVolumeClaim":
        return "a claim binds when a consumer runs or its volume is moved"
    if group == "" and kind == "Service" and spec.get("type") == "LoadBalancer":
        return "its address comes from the Azure load balancer"
    if group == "networking.k8s.io" and kind == "Ingress":
        return "its address comes from the ingress controller"
    if group == "batch" and kind == "Job":
        return "a migrated Job is not meant to run again on its own schedule"
    if group == "apps" and kind in ("Deployment", "StatefulSet", "ReplicaSet") and spec.get("replicas") == 0:
        return "scaled to 0 (quiesced): nothing to become ready"
    return None


#: The provider's annotation that makes its server-side apply take over fields another manager owns.
PATCH_FORCE = "pulumi.com/patchForce"


def patch_force_reason(obj: Mapping[str, Any]) -> str | None:
    """Why adopting this object must force server-side apply conflicts, or None when it need not.

    ``akshift migrate`` created the object (field manager ``akshift``) from the same snapshot the stack
    declares, so adopting it changes no value — except in an *atomic* list that the API server fills
    with defaults: a StatefulSet's ``volumeClaimTemplates`` are stored with ``volumeMode`` and a
    ``status``, the provider sends them without, and the whole list then counts as a conflicting value
    owned by ``akshift`` ("conflict with akshift: .spec.volumeClaimTemplates"; found by running the
    sandbox walkthrough). Those objects carry :data:`PATCH_FORCE`, so Pulumi takes the list over.

    >>> patch_force_reason({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"volumeClaimTemplates": [{}]}})
    'volumeClaimTemplates is an atomic list the API server defaults'
    >>> patch_force_reason({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {}}) is None
    True
    """
    if group_of(obj) == "apps" and obj.get("kind") == "StatefulSet" and (obj.get("spec") or {}).get(
            "volumeClaimTemplates"):
        return "volumeClaimTemplates is an atomic list the API server defaults"
    return None


def resource_inputs(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs sent to the provider: the object without status or server-owned metadata.

    Objects whose readiness a migration does not control (:func:`skip_await_reason`) carry the
    provider's :data:`SKIP_AWAIT` annotation; those whose adoption conflicts on a defaulted atomic list
    (:func:`patch_force_reason`) carry :data:`PATCH_FORCE`.

    Args:
        obj: A transformed snapshot object.

    Returns:
        A deep copy; the caller may wrap fields as secrets.
    """
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    if skip_await_reason(obj):
        meta["annotations"] = {**(meta.get("annotations") or {}), SKIP_AWAIT: "true"}
    if patch_force_reason(obj):
        meta["annotations"] = {**(meta.get("annotations") or {}), PATCH_FORCE: "true"}
    out["metadata"] = meta
    return out


@dataclasses.dataclass(frozen=True)
class Declaration:
    """One object as a resource to register.

    Attributes:
        name: Logical-name suffix (:func:`logical_name`).
        type: Provider type token (:func:`type_token`).
        inputs: Provider inputs (:func:`resource_inputs`).
        secret: A core Secret: its data fields become Pulumi secrets.
        tier: Index into :data:`migration.order.APPLY_ORDER`.
        namespace: Its namespace, or None when cluster-scoped.
        crd: ``group/Kind`` of the CustomResourceDefinition it needs, or None for built-in kinds.
        defines: What it provides to others: ``namespace/<name>`` or ``crd/<group>/<Kind>``, or None.
    """

    name: str
    type: str
    inputs: dict[str, Any]
    secret: bool
    tier: int
    namespace: str | None
    crd: str | None
    defines: str | None


def declarations(objects: Sequence[Mapping[str, Any]]) -> list[list[Declaration]]:
    """Group a snapshot into tiers of declarations, in the migration's apply order.

    Args:
        objects: Transformed snapshot objects (Secrets decrypted).

    Returns:
        Non-empty tiers in apply order; inside a tier, the order of :func:`migration.order.sort_key`.

    Raises:
        ValueError: Two objects share a logical name (the snapshot lists one object twice).
    """
    crd_kinds = {f"{o['spec']['group']}/{o['spec']['names']['kind']}"
                 for o in objects if o.get("kind") == "CustomResourceDefinition"}
    seen: set[str] = set()
    out: list[list[Declaration]] = []
    for group_objs in apply_tiers(objects):
        row = []
        for obj in group_objs:
            name = logical_name(obj)
            if name in seen:
                raise ValueError(f"{name} appears twice in the snapshot; each object must be declared once")
            seen.add(name)
            meta = obj.get("metadata") or {}
            kind_key = f"{group_of(obj)}/{obj['kind']}"
            defines = None
            if obj["kind"] == "Namespace" and obj["apiVersion"] == "v1":
                defines = f"namespace/{meta['name']}"
            elif obj["kind"] == "CustomResourceDefinition":
                defines = f"crd/{obj['spec']['group']}/{obj['spec']['names']['kind']}"
            row.append(Declaration(
                name=name, type=type_token(obj), inputs=resource_inputs(obj), secret=is_secret(obj),
                tier=tier(obj), namespace=meta.get("namespace") or None,
                crd=kind_key if kind_key in crd_kinds else None, defines=defines,
            ))
        out.append(row)
    return out


@dataclasses.dataclass(frozen=True)
class MigratedWorkloadsArgs:
    """Inputs of :class:`MigratedWorkloads`.

    Attributes:
        objects: The transformed snapshot's objects, Secrets decrypted (``deploy.artifacts.load_workloads``).
        digest: The snapshot's digest, exported so promotion can pin it.
    """

    objects: Sequence[Mapping[str, Any]]
    digest: str


class MigratedWorkloads(pulumi.ComponentResource):
    """The reproduced workloads of a migration, owned by the stack.

    Pass the cluster's Kubernetes provider in ``opts.providers``; children inherit it through ``parent``.

    Outputs:
        resources: Every object's resource by logical-name suffix.
        digest: The snapshot digest.
        count: How many objects are declared.
    """

    def __init__(self, name: str, args: MigratedWorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        self.resources: dict[str, pulumi.CustomResource] = {}
        provided: dict[str, pulumi.CustomResource] = {}
        gate: asyncio.Future[Any] | None = None
        for row in declarations(args.objects):
            registered = []
            for d in row:
                needs = [provided[k] for k in (f"namespace/{d.namespace}", f"crd/{d.crd}") if k in provided]
                inputs: dict[str, Any] = dict(d.inputs)
                if d.secret:
                    for f in SECRET_FIELDS:
                        if f in inputs:
                            inputs[f] = pulumi.Output.secret(inputs[f])
                res = pulumi.CustomResource(
                    d.type, f"{name}-{d.name}", inputs,
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=_after(gate, needs),
                        additional_secret_outputs=list(SECRET_FIELDS) if d.secret else None,
                    ),
                )
                self.resources[d.name] = res
                registered.append(res)
                if d.defines:
                    provided[d.defines] = res
            gate = _settled(registered, tier_name(row[0].tier))
        self.digest = args.digest
        self.count = len(self.resources)
        self.register_outputs({"digest": args.digest, "count": self.count})


def _settled(resources: Sequence[pulumi.Resource], label: str) -> asyncio.Future[Any]:
    """A future done when every resource of a tier has finished registering, successfully or not."""

    async def wait() -> str:
        # return_exceptions: a failed object is reported by the engine; the next tier still goes ahead.
        await asyncio.gather(*(r.urn.future() for r in resources), return_exceptions=True)
        return label

    return asyncio.ensure_future(wait())


def _after(gate: asyncio.Future[Any] | None, needs: list[pulumi.CustomResource]) -> pulumi.Input[Any]:
    """``depends_on`` that records ``needs`` but only resolves once ``gate`` (the previous tier) is done."""
    if gate is None:
        return needs

    async def value() -> list[pulumi.CustomResource]:
        await asyncio.shield(gate)
        return needs

    async def known() -> bool:
        return True

    # No resources on the Output itself: the wait orders creation without recording the whole tier.
    return pulumi.Output(set(), value(), known())
