"""In-place or blue-green: decide how a cluster reaches the target stack, and print the ordered runbook.

Why it exists: AKS can update a cluster in place from kubenet (or Azure CNI
node subnet) to Azure CNI Overlay, then to the Cilium dataplane. That path is
cheap but one-way, re-images every node pool at once per update and needs the
network policy engine removed first. A new cluster next to the old one
(blue-green, ``akshift migrate``) costs more but can be rolled back. Pulumi
alone would plan a *replacement* of the ManagedCluster for either networking
change, so the in-place path goes through the Azure API and then refreshes the
stack; Pulumi never replaces the cluster.

Why pure: :func:`decide` and the runbook builders take the current cluster's
ARM description and the target :class:`stacks.StackConfig` and return data
(:class:`Strategy`), tested as tables without Azure. Each blocker of the
in-place path is a :class:`Reason` naming the stack key or ARM field behind
it, so a reviewer can see which setting forces a new cluster.
"""
from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path
from typing import Any

from doctor.arm import ArmCluster
from doctor.errors import UnsupportedTarget
from stacks.capabilities import kubernetes_minor
from stacks.model import NetworkingMode, StackConfig


class Route(str, enum.Enum):
    """How the cluster gets to the target."""

    IN_PLACE = "in-place"
    """AKS updates the running cluster (``az aks update``); irreversible."""
    BLUE_GREEN = "blue-green"
    """A new cluster from the stack; workloads move with ``akshift migrate``; reversible until the old one is deleted."""
    NOTHING = "nothing-to-do"
    """The cluster already runs the target's networking."""


class StepKind(str, enum.Enum):
    CHECK = "check"
    """Read-only: look before acting."""
    AZURE = "azure"
    """A networking update through the Azure API; ``akshift strategy --execute`` can run it."""
    PULUMI = "pulumi"
    AKSHIFT = "akshift"
    MANUAL = "manual"
    """A person does it (identity, pools, traffic); ``--execute`` refuses to start while one is planned."""


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a route was chosen.

    Attributes:
        keys: The stack keys and/or ARM fields involved (``networking.serviceCidr``, ``ARM networkProfile.serviceCidr``).
        message: One sentence.
    """

    keys: tuple[str, ...]
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"keys": list(self.keys), "message": self.message}


@dataclasses.dataclass(frozen=True)
class Step:
    """One runbook step.

    Attributes:
        title: What it does.
        kind: See :class:`StepKind`.
        command: What to run (shell), ``""`` for steps without one.
        why: Why it is here, in this position.
        irreversible: Nothing brings the cluster back from this step.
        network_profile: For AZURE steps: the ``networkProfile`` fields to set (ARM names), which
            ``--execute`` sends through the Azure SDK.
    """

    title: str
    kind: StepKind
    command: str = ""
    why: str = ""
    irreversible: bool = False
    network_profile: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "kind": self.kind.value, "command": self.command, "why": self.why,
                "irreversible": self.irreversible, "networkProfile": self.network_profile}


@dataclasses.dataclass(frozen=True)
class Strategy:
    """The decision and its runbook."""

    route: Route
    reasons: tuple[Reason, ...]
    caveats: tuple[str, ...]
    steps: tuple[Step, ...]
    current: str
    """The current networking, e.g. ``kubenet``."""
    target: str
    """The target networking mode, e.g. ``overlay-cilium``."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form used by ``akshift strategy --output json``."""
        return {"route": self.route.value, "current": self.current, "target": self.target,
                "reasons": [r.as_dict() for r in self.reasons], "caveats": list(self.caveats),
                "steps": [s.as_dict() for s in self.steps]}


def stack_name_of(path: str | Path) -> str:
    """The Pulumi stack a stack file belongs to.

    >>> stack_name_of("stacks/Pulumi.prod.yaml")
    'prod'
    >>> stack_name_of("other.yaml")
    '<stack>'
    """
    m = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", Path(path).name)
    return m.group(1) if m else "<stack>"


# --------------------------------------------------------------------------- the decision


def check_target(target: StackConfig) -> None:
    """Refuse a stack that does not declare the cluster it wants (nothing to compare with).

    Args:
        target: The target stack's configuration.

    Raises:
        UnsupportedTarget: ``cluster.mode`` is not ``new``, or the sections a new cluster needs are absent.
    """
    mode = getattr(target.cluster, "mode", "new")
    if mode != "new":
        raise UnsupportedTarget(f"cluster.mode: the stack uses cluster.mode {mode!r}, so it does not declare the "
                                "cluster's networking; pass the stack that creates the cluster (cluster.mode new)")
    if target.network is None or target.resource_group is None or not target.node_pools:
        raise UnsupportedTarget("network, resourceGroup, nodePools: a stack with cluster.mode new declares them; "
                                "run `akshift config validate` on it")


def blockers(current: ArmCluster, target: StackConfig, *, rollback_required: bool = False) -> list[Reason]:
    """Everything that rules out AKS's in-place update for this pair.

    Args:
        current: The running cluster's ARM description.
        target: The stack it should become.
        rollback_required: The team needs a way back (the in-place update has none).

    Returns:
        One reason per blocker, empty when the in-place path is possible.

    Raises:
        UnsupportedTarget: See :func:`check_target`.
    """
    check_target(target)
    out: list[Reason] = []
    mode = target.networking.mode
    plugin = current.network_plugin.lower()

    def add(keys: tuple[str, ...], message: str) -> None:
        out.append(Reason(keys, message))

    if rollback_required:
        add(("--require-rollback",), "a rollback path is required; AKS's update to Overlay and to Cilium is one-way")
    if target.cluster.name.lower() != current.name.lower() or target.resource_group.lower() != current.resource_group.lower():
        add(("cluster.name", "resourceGroup", "ARM name", "ARM id"),
            f"the stack describes cluster {target.resource_group}/{target.cluster.name}, not the running "
            f"{current.resource_group}/{current.name}; an in-place update keeps the running cluster")
    if mode is NetworkingMode.PODSUBNET_CILIUM:
        add(("networking.mode", "network.podSubnet"),
            "the target puts pods in a VNet subnet (podsubnet-cilium); AKS updates IPAM in place only to Overlay")
    if mode is NetworkingMode.BYO_CILIUM:
        add(("networking.mode",), "the target brings its own Cilium (networkPlugin none); AKS cannot update a cluster to that")
    if current.uses_pod_subnet:
        add(("ARM agentPoolProfiles[].podSubnetId",),
            "the running cluster uses a pod subnet; AKS moves only kubenet and node-subnet clusters to Overlay")
    if plugin not in ("kubenet", "azure"):
        add(("ARM networkProfile.networkPlugin",), f"networkPlugin {current.network_plugin} has no in-place path to Overlay")
    if current.runs_cilium and not mode.managed_cilium:
        add(("networking.mode", "ARM networkProfile.networkDataplane"),
            f"the cluster runs the Cilium dataplane and the target ({mode.value}) does not; AKS cannot go back")
    out.extend(_network_blockers(current, target))
    if current.windows_pools and any(p.os_type == "Windows" for p in target.node_pools):
        add(("nodePools[].osType", "ARM agentPoolProfiles[].osType"),
            "Windows pools are kept: they block the Cilium update and an in-place Overlay update re-images them "
            "with the Linux pools; a new cluster keeps them apart")
    try:
        older = kubernetes_minor(target.cluster.kubernetes_version) < kubernetes_minor(current.kubernetes_version)
    except ValueError:
        older = False
    if older:
        add(("cluster.kubernetesVersion", "ARM kubernetesVersion"),
            f"the target runs Kubernetes {target.cluster.kubernetes_version}, older than the running "
            f"{current.kubernetes_version}; AKS cannot downgrade")
    return out


def _network_blockers(current: ArmCluster, target: StackConfig) -> list[Reason]:
    out: list[Reason] = []
    net = target.network
    subnets = current.node_subnets
    if any(s is None for s in subnets):
        out.append(Reason(("network.vnetName", "ARM agentPoolProfiles[].vnetSubnetId"),
                          f"the running cluster's nodes are in an AKS-managed VNet and the target declares "
                          f"{net.vnet_name}; node pools cannot move between VNets"))
    else:
        moved = sorted({f"{s.resource_group}/{s.vnet}/{s.subnet}" for s in subnets if s is not None
                        and (s.vnet.lower() != net.vnet_name.lower() or s.subnet.lower() != net.node_subnet.name.lower()
                             or s.resource_group.lower() != target.resource_group.lower())})
        if moved:
            out.append(Reason(("network.vnetName", "network.nodeSubnet.name", "ARM agentPoolProfiles[].vnetSubnetId"),
                              f"the target puts nodes in {target.resource_group}/{net.vnet_name}/{net.node_subnet.name}, "
                              f"the running pools are in {', '.join(moved)}; node pools cannot change VNet or subnet"))
    svc = str(target.networking.service_cidr)
    if current.service_cidr and current.service_cidr != svc:
        out.append(Reason(("networking.serviceCidr", "ARM networkProfile.serviceCidr"),
                          f"the target's service CIDR {svc} differs from the running {current.service_cidr}; "
                          "it cannot change in place"))
    dns = str(target.networking.dns_service_ip)
    if current.dns_service_ip and current.dns_service_ip != dns:
        out.append(Reason(("networking.dnsServiceIP", "ARM networkProfile.dnsServiceIp"),
                          f"the target's DNS service IP {dns} differs from the running {current.dns_service_ip}; "
                          "it cannot change in place"))
    pod = str(target.networking.pod_cidr) if target.networking.pod_cidr else None
    if current.is_overlay and pod and current.pod_cidr and current.pod_cidr != pod:
        out.append(Reason(("networking.podCidr", "ARM networkProfile.podCidr"),
                          f"the cluster already runs Overlay with pod CIDR {current.pod_cidr}; the target's {pod} "
                          "cannot replace it in place"))
    return out


def decide(current: ArmCluster, target: StackConfig, *, rollback_required: bool = False,
           stack: str = "<stack>", kubeconfig: str = "<kubeconfig>") -> Strategy:
    """Choose in-place or blue-green, with reasons, caveats and the ordered runbook.

    Args:
        current: The running cluster's ARM description.
        target: The target stack's configuration.
        rollback_required: Force blue-green because a way back is required.
        stack: The Pulumi stack name (for commands).
        kubeconfig: The running cluster's kubeconfig path (for commands).

    Returns:
        The strategy. NOTHING when the cluster already runs the target networking;
        IN_PLACE when nothing blocks it; BLUE_GREEN with every blocker otherwise.

    Raises:
        UnsupportedTarget: The stack does not declare its cluster (``cluster.mode: existing``).
    """
    check_target(target)
    mode = target.networking.mode
    found = blockers(current, target, rollback_required=rollback_required)
    if found:
        return Strategy(Route.BLUE_GREEN, tuple(found), _blue_green_caveats(current, target),
                        tuple(blue_green_runbook(current, target, stack=stack, kubeconfig=kubeconfig)),
                        current.networking, mode.value)
    if _already_there(current, target):
        steps = [Step("confirm the stack matches the running cluster", StepKind.PULUMI,
                      f"pulumi stack select {stack} && pulumi refresh --yes && pulumi preview --diff --expect-no-changes",
                      "the networking is already the target's; only the stack's state needs to agree")]
        return Strategy(Route.NOTHING, (Reason(("networking.mode", "ARM networkProfile"),
                                               f"the cluster already runs {current.networking}"),),
                        (), tuple(steps), current.networking, mode.value)
    reasons = (Reason(("networking.mode", "ARM networkProfile.networkPlugin"),
                      f"{current.networking} → {mode.value} is an update AKS performs in place, and nothing in the "
                      "target needs a new cluster (same VNet and subnets, service CIDR, no pod subnet, no Windows "
                      "pools kept, no rollback required)"),)
    return Strategy(Route.IN_PLACE, reasons, _in_place_caveats(current, target),
                    tuple(in_place_runbook(current, target, stack=stack, kubeconfig=kubeconfig)),
                    current.networking, mode.value)


def _already_there(current: ArmCluster, target: StackConfig) -> bool:
    mode = target.networking.mode
    if not current.is_overlay:
        return False
    if mode is NetworkingMode.OVERLAY_CILIUM:
        return current.runs_cilium
    return mode is NetworkingMode.OVERLAY and not current.runs_cilium and current.policy == target.networking.effective_network_policy


# --------------------------------------------------------------------------- runbooks


def _az(current: ArmCluster) -> str:
    return f"az aks update -g {current.resource_group} -n {current.name}"


def _needs_policy_removal(current: ArmCluster, target: StackConfig) -> bool:
    """Cilium brings its own policy engine; AKS wants Calico or Azure NPM gone before the dataplane update."""
    return current.policy not in ("none", "cilium") and target.networking.mode.managed_cilium and not current.runs_cilium


def in_place_runbook(current: ArmCluster, target: StackConfig, *, stack: str = "<stack>",
                     kubeconfig: str = "<kubeconfig>") -> list[Step]:
    """The ordered steps of AKS's in-place path from ``current`` to ``target``.

    Order matters: identity before networking (the route table and subnet need a user-assigned
    control-plane identity with rights on them), policy removal before the dataplane update,
    IPAM (Overlay) before the dataplane (Cilium), and the Pulumi refresh last, after Azure agrees.

    Args:
        current: The running cluster.
        target: The target stack.
        stack: Pulumi stack name.
        kubeconfig: Kubeconfig of the running cluster.

    Returns:
        The steps.
    """
    mode = target.networking.mode
    steps = [
        Step("check the cluster for known pitfalls", StepKind.CHECK,
             f"akshift doctor --kubeconfig {kubeconfig} --arm current.json",
             "fix critical findings (an expiring secret, a retirement date) before changing networking"),
        Step("snapshot every object", StepKind.AKSHIFT,
             f"akshift inventory --source {kubeconfig} --out out/before-in-place",
             "a record of the cluster before an irreversible change (not a rollback: the networking cannot go back)"),
    ]
    try:
        newer = kubernetes_minor(target.cluster.kubernetes_version) > kubernetes_minor(current.kubernetes_version)
    except ValueError:
        newer = False
    if newer:
        steps.append(Step(f"upgrade Kubernetes to {target.cluster.kubernetes_version}", StepKind.MANUAL,
                          f"az aks upgrade -g {current.resource_group} -n {current.name} "
                          f"--kubernetes-version {target.cluster.kubernetes_version}",
                          "one change at a time: a version upgrade and a networking update both re-image every node"))
    if current.uses_service_principal or (current.is_kubenet and current.identity_type != "UserAssigned"):
        steps.append(Step(
            "give the control plane a user-assigned identity with Network Contributor on the node subnet and its route table",
            StepKind.MANUAL,
            f"az identity create -g {current.resource_group} -n {current.name}-control-plane && "
            "az role assignment create --role 'Network Contributor' --assignee <principalId> --scope <subnet-id> && "
            "az role assignment create --role 'Network Contributor' --assignee <principalId> --scope <route-table-id> && "
            f"{_az(current)} --enable-managed-identity --assign-identity <identity-resource-id>",
            "the networking update changes routes and the subnet under the cluster's identity; a service principal "
            "or system-assigned identity cannot be granted rights before it exists"
            + ("; this also ends the expiring service-principal secret" if current.uses_service_principal else "")))
    if current.windows_pools:
        names = ", ".join(p.name for p in current.windows_pools)
        steps.append(Step(f"remove the Windows pools ({names})", StepKind.MANUAL,
                          " && ".join(f"az aks nodepool delete -g {current.resource_group} --cluster-name {current.name} "
                                      f"-n {p.name}" for p in current.windows_pools),
                          "the target has no Windows pools and Cilium cannot run next to them; move their workloads first"))
    if _needs_policy_removal(current, target):
        steps.append(Step(f"remove the network policy engine ({current.policy})", StepKind.AZURE,
                          f"{_az(current)} --network-policy none",
                          "Cilium enforces policy itself and AKS refuses the dataplane update while another engine "
                          "runs; NetworkPolicies stay stored but are NOT enforced until the Cilium step finishes",
                          network_profile={"networkPolicy": "none"}))
    if not current.is_overlay:
        pod = str(target.networking.pod_cidr) if target.networking.pod_cidr else None
        profile = {"networkPlugin": "azure", "networkPluginMode": "overlay"}
        command = f"{_az(current)} --network-plugin azure --network-plugin-mode overlay"
        if pod:
            profile["podCidr"] = pod
            command += f" --pod-cidr {pod}"
        steps.append(Step(f"update {current.networking} to Azure CNI Overlay", StepKind.AZURE, command,
                          "re-images every node pool at once; pods get new IPs"
                          + (f" from {pod}" if pod else "") + "; one-way",
                          irreversible=True, network_profile=profile))
    if mode.managed_cilium and not current.runs_cilium:
        steps.append(Step("switch the dataplane to Cilium", StepKind.AZURE, f"{_az(current)} --network-dataplane cilium",
                          "re-images every node pool again; Cilium replaces kube-proxy and enforces NetworkPolicies; one-way",
                          irreversible=True, network_profile={"networkDataplane": "cilium", "networkPolicy": "cilium"}))
    elif not mode.managed_cilium and target.networking.effective_network_policy != current.policy:
        policy = target.networking.effective_network_policy
        steps.append(Step(f"set the network policy engine to {policy}", StepKind.AZURE,
                          f"{_az(current)} --network-policy {policy}", "the target's policy engine",
                          network_profile={"networkPolicy": policy}))
    steps += [
        Step("check the result", StepKind.CHECK,
             f"kubectl --kubeconfig {kubeconfig} get nodes -L kubernetes.azure.com/network-plugin,"
             f"kubernetes.azure.com/podnetwork-type,kubernetes.azure.com/ebpf-dataplane && "
             f"akshift doctor --kubeconfig {kubeconfig} --arm after.json",
             "every node Ready with the new labels; export `az aks show` to after.json first"),
        Step("bring the Pulumi stack's state up to date", StepKind.PULUMI,
             f"pulumi stack select {stack} && pulumi refresh --yes",
             "Pulumi reads the cluster as Azure now has it; if the stack does not hold the cluster yet, "
             f"`pulumi import azure-native:containerservice:ManagedCluster aks-cluster {current.id or '<cluster-id>'}` instead"),
        Step("prove Pulumi plans no change to the cluster", StepKind.PULUMI,
             "pulumi preview --diff --expect-no-changes",
             "a `replace` of the ManagedCluster here means the stack file disagrees with Azure: fix the file, "
             "never run `pulumi up` over it"),
    ]
    return steps


def blue_green_runbook(current: ArmCluster, target: StackConfig, *, stack: str = "<stack>",
                       kubeconfig: str = "<kubeconfig>") -> list[Step]:
    """The ordered steps of a new cluster next to the old one, workloads moved by ``akshift migrate``.

    Args:
        current: The running cluster.
        target: The target stack.
        stack: Pulumi stack name.
        kubeconfig: Kubeconfig of the running (old) cluster.

    Returns:
        The steps.
    """
    steps = [
        Step("check the running cluster for known pitfalls", StepKind.CHECK,
             f"akshift doctor --kubeconfig {kubeconfig} --arm current.json",
             "critical findings (an expiring secret) must be fixed on the old cluster: it keeps serving until cutover"),
        Step("validate the target stack", StepKind.AKSHIFT, f"akshift config validate stacks/Pulumi.{stack}.yaml",
             "every configuration problem at once, before anything is created"),
        Step(f"create the new cluster {target.cluster.name}", StepKind.PULUMI,
             f"pulumi stack select {stack} && pulumi up",
             f"{target.networking.mode.value} in {target.network.vnet_name}, next to the old cluster"),
        Step("fetch the new cluster's kubeconfig", StepKind.PULUMI,
             "pulumi stack output kubeconfig --show-secrets > new.kubeconfig", ""),
        Step("move the workloads", StepKind.AKSHIFT,
             f"akshift migrate --source {kubeconfig} --target new.kubeconfig --out out/migration",
             "inventory, transform (pod-CIDR and node-pool rewrites), plan, apply, verify; review the findings"),
    ]
    azure_moves = ["public IPs named by LoadBalancer annotations move to a shared resource group",
                   "the new kubelet identity gets AcrPull on the registries",
                   "firewalls and allow-lists add the new cluster's outbound IPs"]
    if current.oidc_issuer_enabled or current.workload_identity_enabled:
        azure_moves.insert(0, "workload identities get federated credentials for the new cluster's OIDC issuer")
    steps += [
        Step("move what lives in Azure, not in the cluster", StepKind.MANUAL, "",
             "; ".join(azure_moves) + " (see the migrate findings)"),
        Step("shift traffic to the new cluster", StepKind.MANUAL, "",
             "DNS / Traffic Manager / Front Door weights, gradually; the old cluster keeps serving"),
        Step("roll back if needed", StepKind.MANUAL, "",
             f"point traffic back to {current.name}: it is untouched until it is deleted"),
        Step(f"retire the old cluster {current.name}", StepKind.MANUAL,
             f"az aks delete -g {current.resource_group} -n {current.name}",
             "after the rollback window; its disks with reclaimPolicy Delete go with it (the migration set them to Retain)"),
    ]
    return steps


def _in_place_caveats(current: ArmCluster, target: StackConfig) -> tuple[str, ...]:
    out = [
        "irreversible: AKS cannot move a cluster back from Overlay or from the Cilium dataplane; the only way back is a new cluster",
        "each networking update re-images every node pool at the same time, not pool by pool: plan a maintenance "
        "window; PodDisruptionBudgets slow it but capacity still dips",
    ]
    if _needs_policy_removal(current, target):
        out.append(f"the {current.policy} network policy engine is removed first: NetworkPolicies are not enforced "
                   "between that step and the end of the Cilium update")
    if current.is_kubenet:
        out.append("the control plane needs a user-assigned identity with Network Contributor on the route table "
                   "and node subnet before the update")
        out.append("pods get new IPs; NetworkPolicy ipBlocks and configuration that name kubenet pod IPs must be "
                   "rewritten (`akshift transform` reports them)")
    out.append("Pulumi would plan a replacement of the cluster for these changes: they go through the Azure API, "
               "then `pulumi refresh`; never `pulumi up` them")
    return tuple(out)


def _blue_green_caveats(current: ArmCluster, target: StackConfig) -> tuple[str, ...]:
    return (
        "two clusters run (and are billed) until the old one is retired",
        "the new cluster has new outbound IPs, a new node resource group and a new OIDC issuer",
        "stateful workloads: Azure Disks are zonal and live in the old node resource group; plan data moves "
        "or static PVs (see the migrate findings)",
    )
