"""The akshift Pulumi program as a function, so `pulumi up` and the Automation API run the same code.

Why it exists: ``__main__.py`` is what ``pulumi up`` runs through the Python
language host; `akshift up|preview|promote` run the program as an Automation API
*inline program* (the language host cannot be built in every environment, and
the wrappers need the engine's events for their guards). Both call
:func:`main`, which reads the stack configuration the engine hands the program
and calls :func:`compose`; there is no second copy of the composition.

What :func:`compose` builds, by ``cluster.mode``:

* ``new``: resource group, network, identities, the AKS cluster (as before).
* ``existing``: nothing in Azure; the kubeconfig comes from a file or another
  stack's output, and the cluster's Kubernetes version is checked against
  ``cluster.kubernetesVersion`` before any provider is created.

Then, for both: the in-cluster add-ons with a ready provider, and — when
``akshift:workloads`` is set — the migrated workloads (checked against the
pinned digest before anything is registered). Outputs include what
`akshift promote` reads (``kubernetesVersion``, ``addonVersions``,
``workloads``, ``verification``).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi
import yaml
from pulumi.runtime import config as engine

import stacks
from components.addons import ClusterAddons, ClusterAddonsArgs
from components.workloads import MigratedWorkloads, MigratedWorkloadsArgs
from deploy import artifacts, pins
from deploy.errors import PromotionError
from deploy.rules import addon_versions
from stacks import guards
from stacks.capabilities import resolve_node_dns_cache
from stacks.model import ExistingCluster, NewCluster, NodeDnsCache, StackConfig, TrafficConfig

NAME = "aks"  # logical-name prefix of every resource: never change it (a rename needs aliases)

#: Reads the API server's version (``gitVersion``) from a kubeconfig's text; injected for tests.
ServerVersion = Callable[[str], str]


def main(base_dir: str | os.PathLike[str], *, server_version: ServerVersion | None = None,
         last_outputs: Mapping[str, Any] | None = None) -> None:
    """Run the program for the current stack: parse its configuration once, compose, export.

    Args:
        base_dir: The project directory; relative paths in the stack file are taken from it.
        server_version: How to ask a cluster for its version (default: :func:`live_server_version`).
        last_outputs: The stack's outputs from its last deployment, read before the update started
            (``akshift up``, promotion: :class:`deploy.engine.Stack`); None under ``pulumi up``, where the program
            reads them through a StackReference to its own stack.

    Raises:
        pulumi.RunError: The configuration is invalid, or a pin does not hold; nothing is registered.
    """
    # pulumi.Config cannot list keys, and unknown keys must fail `pulumi up` too, so read the raw map.
    raw = {**engine.get_config_env(), **engine.CONFIG.get()}
    secret_keys = set(engine.get_config_secret_keys_env()) | {k for k in raw if engine.is_config_secret(k)}
    try:
        cfg = stacks.load(stacks.decode_engine_config(raw), secret_keys=secret_keys, namespace=pulumi.get_project())
    except stacks.ConfigError as e:
        raise pulumi.RunError(f"invalid stack configuration, nothing was deployed:\n{e}") from None
    compose(cfg, base_dir=Path(base_dir), server_version=server_version or live_server_version,
            last_outputs=last_outputs)


def compose(cfg: StackConfig, *, base_dir: Path, server_version: ServerVersion,
            last_outputs: Mapping[str, Any] | None = None) -> None:
    """Declare the stack's resources and export its outputs.

    Args:
        cfg: The validated stack configuration.
        base_dir: The project directory (for relative paths).
        server_version: Reads an existing cluster's version from its kubeconfig text.
        last_outputs: The stack's last outputs, when read before the update (see :func:`main`).

    Raises:
        pulumi.RunError: The workloads' snapshot is missing, altered or not the pinned one.
    """
    workloads = _load_workloads(cfg, base_dir)  # before any resource: a bad snapshot registers nothing
    tags = {**cfg.tags, "akshift-stack": pulumi.get_stack()}
    if isinstance(cfg.cluster, ExistingCluster):
        kubeconfig = _existing_kubeconfig(cfg.cluster, base_dir, server_version,
                                          created=_own_output("clusterId", last_outputs))
        api_server_host: Any = kubeconfig.apply(_server_host)
        # LocalDNS is a node-pool setting of a cluster we do not manage: only the DaemonSet is ours to install.
        node_dns = NodeDnsCache.NODELOCALDNS if cfg.dns.node_cache is NodeDnsCache.NODELOCALDNS else NodeDnsCache.NONE
        pulumi.export("kubeconfig", kubeconfig)
        pulumi.export("clusterName", cfg.cluster.name)
    else:
        node_dns = resolve_node_dns_cache(cfg.dns.node_cache, cfg.networking.mode, cfg.cluster.kubernetes_version,
                                          cfg.node_pools)
        kubeconfig, api_server_host = _new_cluster(cfg, node_dns, tags, last_outputs)
    addons = ClusterAddons(NAME, ClusterAddonsArgs(kubeconfig, api_server_host, cfg.networking, node_dns, cfg.dns))
    if isinstance(cfg.cluster, ExistingCluster) or cfg.cluster.kubernetes_version is not None:
        pulumi.export("kubernetesVersion", cfg.cluster.kubernetes_version)
    pulumi.export("addonVersions", addon_versions(cfg.networking, node_dns, cfg.dns))
    if cfg.traffic is not None:
        _traffic_switch(cfg.traffic, cfg.resource_group, tags)
    if workloads is not None:
        loaded, verification = workloads
        MigratedWorkloads(NAME, MigratedWorkloadsArgs(loaded.objects, loaded.digest), opts=pulumi.ResourceOptions(
            providers=[addons.provider], protect=cfg.cluster.protect))
        pulumi.export("workloads", {"digest": loaded.digest, "objects": len(loaded.objects),
                                    "snapshot": str(loaded.snapshot)})
        pulumi.export("verification", verification)


def _new_cluster(cfg: StackConfig, node_dns: NodeDnsCache, tags: dict[str, str],
                 last_outputs: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """Resource group, network, identities and the AKS cluster; returns (kubeconfig, API server host)."""
    from components.cluster import AksCluster, AksClusterArgs, current_subscription, plan, read_live_cluster
    from components.identity import ClusterIdentity, ClusterIdentityArgs
    from components.network import ClusterNetwork, ClusterNetworkArgs
    from components.resource_group import ClusterResourceGroup, ClusterResourceGroupArgs

    # compose() calls this for mode new only, and stacks.rules requires these for mode new
    assert isinstance(cfg.cluster, NewCluster)
    assert cfg.network is not None and cfg.location is not None and cfg.resource_group is not None
    # The rename guard, first: the live read below looks the cluster up by the name the stack file gives now,
    # so a renamed cluster.name or resourceGroup would find nothing there while Pulumi deletes the one it created.
    # The subscription is part of that name; Azure is asked for it only when the group and the name are unchanged.
    problems = guards.created_cluster_problems(
        _last_output_now("clusterId", last_outputs), resource_group=cfg.resource_group, cluster=cfg.cluster.name,
        delete_intent=cfg.cluster.delete_created_cluster, stack=pulumi.get_stack(),
        subscription=current_subscription)
    if problems:
        raise pulumi.RunError("refused, nothing was deployed:\n" + "\n".join(p.line() for p in problems))
    # The replacement guard, before any resource is registered: the live cluster against every force-new field.
    decided = plan(cfg.resource_group, cfg.location, cfg.cluster, cfg.networking, cfg.node_pools,
                   read_live_cluster(cfg.resource_group, cfg.cluster.name))
    guarded = pulumi.ResourceOptions(protect=cfg.cluster.protect)
    secret = cfg.service_principal_client_secret

    rg = ClusterResourceGroup(NAME, ClusterResourceGroupArgs(cfg.resource_group, cfg.location, tags), opts=guarded)
    # `akshift volumes` copies disks here: a group of its own, protected on its own, never the node group that
    # AKS deletes with the cluster. Lineage snapshots stay in it until the stack is decommissioned.
    disks = ClusterResourceGroup(f"{NAME}-disk-copies", ClusterResourceGroupArgs(
        cfg.disk_copies.group_for(cfg.resource_group), cfg.location, {**tags, "akshift-purpose": "disk-copies"}),
        opts=pulumi.ResourceOptions(protect=cfg.disk_copies.protect))
    net = ClusterNetwork(NAME, ClusterNetworkArgs(rg.name, cfg.location, cfg.network, tags), opts=guarded)
    monitoring = None
    if cfg.cluster.monitoring is not None:  # the workspace first: the cluster's add-on and Defender point at it
        from components.monitoring import ClusterMonitoring, ClusterMonitoringArgs

        monitoring = ClusterMonitoring(NAME, ClusterMonitoringArgs(
            rg.name, cfg.location, cfg.cluster.name, cfg.cluster.monitoring, tags), opts=guarded)
    ids = ClusterIdentity(NAME, ClusterIdentityArgs(
        cfg.identity, cfg.cluster.name, rg.name, cfg.location, net.role_scopes,
        pulumi.Output.secret(secret.value) if secret is not None and secret.value else None, tags), opts=guarded)
    # The cluster reads the live cluster by its plain group name first (the replacement guard), so the
    # dependency on the group, the grants and the egress is explicit.
    cluster = AksCluster(NAME, AksClusterArgs(
        cfg.resource_group, cfg.location, cfg.cluster, cfg.networking, cfg.node_pools, node_dns, net.node_subnet_id,
        ids.refs, local_dns_mode=cfg.dns.local_dns_mode, pod_subnet_id=net.pod_subnet_id,
        depends_on=[rg, net, *ids.role_assignments], tags=tags, plan=decided,
        workspace_id=monitoring.workspace_id if monitoring is not None else None), opts=guarded)
    if monitoring is not None:
        monitoring.attach(cluster.id)
        pulumi.export("logAnalyticsWorkspaceId", monitoring.workspace_id)

    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("clusterName", cluster.name)
    pulumi.export("clusterId", cluster.id)
    pulumi.export("nodeResourceGroup", cluster.node_resource_group)
    pulumi.export("diskCopyResourceGroup", disks.name)
    pulumi.export("oidcIssuerUrl", cluster.oidc_issuer_url)
    pulumi.export("networkingMode", cluster.networking_mode)
    if cfg.cluster.kubernetes_version is None:  # left to AKS: export what it picked
        pulumi.export("kubernetesVersion", cluster.kubernetes_version)
    if cfg.identity.mode == "servicePrincipal":
        pulumi.export("servicePrincipalSecretExpiresOn", cfg.identity.secret_expires_on.isoformat())
    return cluster.kubeconfig, cluster.fqdn


def _traffic_switch(traffic: TrafficConfig, resource_group: str | None, tags: dict[str, str]) -> None:
    """The blue-green switch, exported as ``traffic`` (``weights`` as Azure reports them, ``fqdn``, ``profileId``).

    It lives in the stack that declares it (prod, by convention) rather than a stack of its own: each
    `akshift cutover --router pulumi` step previews this stack and refuses any change outside the
    ``TrafficSwitch`` component (deploy.guards.check_confined), so sharing the stack cannot move anything
    else, while users keep one stack per environment.
    """
    from components.traffic import HealthProbe, SwitchKind, TrafficEndpoint, TrafficSwitch, TrafficSwitchArgs

    group = traffic.resource_group or resource_group
    assert group is not None  # stacks.rules requires one
    probe = traffic.probe
    switch = TrafficSwitch(f"{NAME}-traffic", TrafficSwitchArgs(
        resource_group_name=group, profile_name=traffic.profile_name,
        endpoints=tuple(TrafficEndpoint(e.name, e.target, e.target_resource_id, e.host_header)
                        for e in traffic.endpoints),
        weights=dict(traffic.weights), kind=SwitchKind(traffic.kind), dns_ttl=traffic.dns_ttl,
        relative_dns_name=traffic.relative_dns_name,
        probe=HealthProbe(probe.protocol, probe.port, probe.path, probe.interval_seconds, probe.timeout_seconds,
                          probe.tolerated_failures),
        tags=tags))
    pulumi.export("traffic", {"weights": switch.weights, "fqdn": switch.fqdn, "profileId": switch.profile_id})


def _load_workloads(cfg: StackConfig, base_dir: Path) -> tuple[artifacts.Workloads, dict[str, Any] | None] | None:
    """The snapshot to declare and the verification to export, or None without ``akshift:workloads``."""
    if cfg.workloads is None:
        return None
    from migration.errors import MigrationError
    from migration.secrets import load_secret_key

    w = cfg.workloads
    snapshot = artifacts.resolve_path(base_dir, w.snapshot)
    report = artifacts.resolve_path(base_dir, w.verify_report) if w.verify_report else snapshot.parent / "verify.json"
    try:
        identity = artifacts.resolve_path(base_dir, w.age_identity_file) if w.age_identity_file else None
        key = load_secret_key(identity_file=identity)
        loaded = artifacts.load_workloads(snapshot, pinned_digest=w.digest, secret_key=key)
        return loaded, artifacts.read_verification(report)
    except (PromotionError, MigrationError) as e:
        raise pulumi.RunError(f"workloads not deployable, nothing was deployed:\n{e}") from None


def _own_output(name: str, last_outputs: Mapping[str, Any] | None) -> pulumi.Output[Any]:
    """One of this stack's outputs from its last deployment (None before the first, or when it had none).

    Taken from ``last_outputs`` when the caller read them before the update; otherwise (``pulumi up``) through a
    StackReference to this stack, which reads the state while the engine writes it — on a ``file://`` backend
    that read can fail with "failed to load checkpoint: EOF" (docs/promotion.md says how to avoid it).
    """
    if last_outputs is not None:
        return pulumi.Output.from_input(last_outputs.get(name))
    return pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
                                 ).get_output(name)


def _last_output_now(name: str, last_outputs: Mapping[str, Any] | None) -> Any:
    """One of this stack's outputs from its last deployment, as a plain value, before anything is registered.

    Taken from ``last_outputs`` when the caller read them before the update; otherwise (``pulumi up``) through
    the engine's built-in ``pulumi:pulumi:readStackOutputs`` invoke — the read a StackReference makes, but
    synchronous, like the ``getManagedCluster`` invoke, so a guard can refuse before the first registration (a
    StackReference's value only arrives once the program has moved on). Same caveat on a ``file://`` backend as
    :func:`_own_output`.

    Raises:
        pulumi.RunError: The outputs could not be read: the guard cannot vouch for the plan.
    """
    if last_outputs is not None:
        return last_outputs.get(name)
    ref = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        result = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": ref})
    except Exception as e:  # noqa: BLE001 - the engine raises a plain Exception for a failed invoke
        raise pulumi.RunError(f"cannot read stack {ref}'s last outputs ({e}); the guard against deleting the "
                              "cluster it created needs them before anything is planned — retry") from None
    outputs = (result.value or {}).get("outputs") if isinstance(result.value, Mapping) else None
    return outputs.get(name) if isinstance(outputs, Mapping) else None


def mode_switch_refusal(created_cluster_id: str | None, cluster: ExistingCluster, stack: str) -> str | None:
    """Why switching this stack from ``cluster.mode new`` to ``existing`` is refused, or None.

    The stack's last deployment exported ``clusterId`` only if it created the cluster; with mode existing that
    cluster (and its network and identities) is no longer declared, so Pulumi would delete it.

    Args:
        created_cluster_id: The stack's last ``clusterId`` output (None: it never created a cluster).
        cluster: The ``cluster`` section, now mode existing.
        stack: The stack's name, for the message.

    Returns:
        The refusal, naming ``cluster.deleteCreatedCluster``; None when nothing would be deleted or the intent is named.
    """
    if not created_cluster_id or cluster.delete_created_cluster:
        return None
    return (f"cluster.mode: stack {stack} created the AKS cluster {created_cluster_id} (cluster.mode new); with mode "
            "existing Pulumi would delete it, with its network and identities. Set cluster.mode back to new; or, to "
            "delete it, set cluster.deleteCreatedCluster: true (and pass --allow-cluster-replacement to `akshift "
            "up`); or, to keep it running outside this stack, `pulumi state delete` its resources first (`pulumi "
            "stack --show-urns`), then set cluster.deleteCreatedCluster: true for the one `up` that leaves mode new "
            "(nothing is left in the state to delete)")


def _existing_kubeconfig(cluster: ExistingCluster, base_dir: Path, server_version: ServerVersion, *,
                         created: pulumi.Output[Any] | None = None) -> pulumi.Output[str]:
    """The kubeconfig of a cluster this program did not create, its version checked before it is used.

    ``created`` is the stack's last ``clusterId`` output: a stack switched from mode new is refused here
    (:func:`mode_switch_refusal`), inside the value every Kubernetes provider is built from.
    """
    if cluster.kubeconfig is not None:
        path = artifacts.resolve_path(base_dir, cluster.kubeconfig)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise pulumi.RunError(f"cluster.kubeconfig: cannot read {path} ({e.strerror}); "
                                  "point it at the cluster's kubeconfig file") from None
        source: pulumi.Output[str] = pulumi.Output.from_input(with_context(text, cluster.context))
    else:
        ref = cluster.stack_reference
        assert ref is not None  # stacks.rules requires one source
        source = pulumi.StackReference(ref.stack).require_output(ref.output)

    def checked(text: str, created_id: Any = None) -> str:
        refusal = mode_switch_refusal(created_id, cluster, pulumi.get_stack())
        if refusal:
            raise pulumi.RunError(f"refused (preview fails here, before any change):\n{refusal}")
        try:
            live = server_version(text)
        except Exception as e:  # noqa: BLE001 - any failure to ask is reported the same way
            raise pulumi.RunError(f"cluster {cluster.name}: cannot read its Kubernetes version ({e}); "
                                  "is the cluster reachable with this kubeconfig?") from None
        try:
            pins.check_kubernetes_version(live, cluster.kubernetes_version, cluster=cluster.name)
        except PromotionError as e:
            raise pulumi.RunError(str(e)) from None
        return text

    # The check sits inside the value every Kubernetes provider is built from: when it fails, no
    # provider and so no in-cluster resource is registered.
    if created is None:
        return pulumi.Output.secret(source.apply(checked))
    return pulumi.Output.secret(pulumi.Output.all(source, created).apply(lambda v: checked(v[0], v[1])))


def with_context(kubeconfig: str, context: str | None) -> str:
    """A kubeconfig whose current-context is ``context`` (unchanged when None).

    Raises:
        pulumi.RunError: The kubeconfig has no such context.
    """
    if context is None:
        return kubeconfig
    doc = yaml.safe_load(kubeconfig) or {}
    if context not in {c.get("name") for c in doc.get("contexts") or []}:
        raise pulumi.RunError(f"cluster.context: the kubeconfig has no context {context!r}")
    doc["current-context"] = context
    return yaml.safe_dump(doc, sort_keys=False)


def _server_host(kubeconfig: str) -> str:
    """The API server host of a kubeconfig's current context (Cilium OSS needs it)."""
    doc = yaml.safe_load(kubeconfig) or {}
    ctx: dict[str, Any] = next((c.get("context", {}) for c in doc.get("contexts") or [] if c.get("name") == doc.get("current-context")), {})
    cluster: dict[str, Any] = next((c.get("cluster", {}) for c in doc.get("clusters") or [] if c.get("name") == ctx.get("cluster")), {})
    return urlparse(cluster.get("server", "")).hostname or ""


def live_server_version(kubeconfig: str) -> str:
    """Ask a cluster for its version (``GET /version``) through the project's Kubernetes client.

    Args:
        kubeconfig: The kubeconfig's text.

    Returns:
        Its ``gitVersion``, e.g. ``v1.34.2``.
    """
    from kube.client import KubeClient

    with tempfile.TemporaryDirectory(prefix="akshift-kubeconfig-") as tmp:
        path = Path(tmp) / "kubeconfig"
        path.write_text(kubeconfig, encoding="utf-8")
        path.chmod(0o600)
        with KubeClient.from_kubeconfig(path, retries=2, timeout=10.0) as client:
            return str(client.get("/version")["gitVersion"])
