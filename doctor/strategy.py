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
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from doctor.arm import ArmCluster
from doctor.errors import TargetNamesRunningCluster, UnsupportedTarget
from stacks.capabilities import kubernetes_minor
from stacks.model import NetworkConfig, NetworkingMode, NewCluster, StackConfig

#: Version of :meth:`Strategy.as_dict`'s shape; raised when a key changes meaning or goes away.
SCHEMA_VERSION = 1


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
    """A Pulumi CLI command (state, config, outputs)."""
    AKSHIFT = "akshift"
    """One of akshift's own commands; a step akshift has a command for is always this kind."""
    MANUAL = "manual"
    """A person does it with Azure's tools (identity, pools, Azure-side moves, deleting a cluster): akshift has no
    command for it; ``--execute`` refuses to start while one is planned."""


class Storage(str, enum.Enum):
    """Whether the running cluster keeps data in PersistentVolumes, which a new cluster must carry over."""

    NONE = "none"
    """Known: no PersistentVolume (doctor's ``volumes`` check ok, or both Azure storage CSI drivers off)."""
    PRESENT = "present"
    """Known: PersistentVolumes hold data (doctor's ``volumes`` check reported them)."""
    UNKNOWN = "unknown"
    """Nobody said; the runbook treats it as PRESENT (moving nothing costs little, deleting data is final)."""


def storage_of(current: ArmCluster, doctor_findings: Sequence[Mapping[str, Any]] | None = None) -> Storage:
    """What the ARM description and ``akshift doctor``'s findings tell about the cluster's data.

    Args:
        current: The running cluster's ARM description (``storageProfile`` CSI drivers).
        doctor_findings: The ``findings`` of ``akshift doctor -o json`` for the same cluster, if any; the
            ``volumes`` finding's severity is INFO when PersistentVolumes exist and OK when none do.

    Returns:
        PRESENT or NONE when one of them knows, UNKNOWN otherwise.
    """
    for f in doctor_findings or ():
        if f.get("check") == "volumes":
            if f.get("severity") in ("info", "warning", "critical"):
                return Storage.PRESENT
            if f.get("severity") == "ok":
                return Storage.NONE
    return Storage.NONE if current.azure_storage_disabled else Storage.UNKNOWN


@dataclasses.dataclass(frozen=True)
class RunbookNames:
    """What a runbook's commands name, printed as given (the CLI fills it from its options).

    Attributes:
        stack: The target Pulumi stack.
        stack_file: Its stack file as the user reaches it; ``stacks/Pulumi.<stack>.yaml`` when empty.
        test_stack: A stack to rehearse on first and promote from (``test``); None for no rehearsal.
        source_kubeconfig: The running cluster's kubeconfig path; None: the runbook fetches one with ``az``.
        source_context: A context in that kubeconfig; None: its current context.
    """

    stack: str = "<stack>"
    stack_file: str = ""
    test_stack: str | None = None
    source_kubeconfig: str | None = None
    source_context: str | None = None

    @property
    def file(self) -> str:
        return self.stack_file or f"stacks/Pulumi.{self.stack}.yaml"

    @property
    def test_file(self) -> str:
        """The test stack's file, beside the target's."""
        return str(Path(self.file).parent / f"Pulumi.{self.test_stack}.yaml")


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
        decision: A question answered before this step: yes goes on to it, no takes the way back
            (the runbook's ``way_back`` step); ``""`` for a step that simply follows the previous one.
        way_back: Not a step in sequence: what to run when a later step's ``decision`` is answered no.
    """

    title: str
    kind: StepKind
    command: str = ""
    why: str = ""
    irreversible: bool = False
    network_profile: dict[str, str] | None = None
    decision: str = ""
    way_back: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "kind": self.kind.value, "command": self.command, "why": self.why,
                "irreversible": self.irreversible, "networkProfile": self.network_profile,
                "decision": self.decision, "wayBack": self.way_back}


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
    stack: str = "<stack>"
    """The target stack's name."""
    storage: Storage = Storage.UNKNOWN
    """Whether the running cluster keeps data in PersistentVolumes, as far as known."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form used by ``akshift strategy --output json`` (``schemaVersion`` versions its shape)."""
        return {"schemaVersion": SCHEMA_VERSION, "route": self.route.value, "current": self.current,
                "target": self.target, "stack": self.stack, "storage": self.storage.value,
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


class NewTarget(NamedTuple):
    """The parts of a ``cluster.mode: new`` stack that :func:`check_target` found present."""

    cluster: NewCluster
    network: NetworkConfig
    resource_group: str


def check_target(target: StackConfig) -> NewTarget:
    """Refuse a stack that does not declare the cluster it wants (nothing to compare with).

    Args:
        target: The target stack's configuration.

    Returns:
        Its cluster, network and resource group, known to be present.

    Raises:
        UnsupportedTarget: ``cluster.mode`` is not ``new``, or the sections a new cluster needs are absent.
    """
    cluster = target.cluster
    if not isinstance(cluster, NewCluster):
        raise UnsupportedTarget(f"cluster.mode: the stack uses cluster.mode {cluster.mode!r}, so it does not declare the "
                                "cluster's networking; pass the stack that creates the cluster (cluster.mode new)")
    if target.network is None or target.resource_group is None or not target.node_pools:
        raise UnsupportedTarget("network, resourceGroup, nodePools: a stack with cluster.mode new declares them; "
                                "run `akshift config validate` on it")
    return NewTarget(cluster, target.network, target.resource_group)


def _minor_change(target: str | None, current: str) -> int:
    """-1, 0 or 1 as the target's Kubernetes minor is older, the same or newer; 0 when either is unknown.

    An unset target version is AKS's default, which this module cannot compare.
    """
    if target is None:
        return 0
    try:
        a, b = kubernetes_minor(target), kubernetes_minor(current)
    except ValueError:
        return 0
    return (a > b) - (a < b)


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
    new = check_target(target)
    out: list[Reason] = []
    mode = target.networking.mode
    plugin = current.network_plugin.lower()

    def add(keys: tuple[str, ...], message: str) -> None:
        out.append(Reason(keys, message))

    if rollback_required:
        add(("--require-rollback",), "a rollback path is required; AKS's update to Overlay and to Cilium is one-way")
    if new.cluster.name.lower() != current.name.lower() or new.resource_group.lower() != current.resource_group.lower():
        add(("cluster.name", "resourceGroup", "ARM name", "ARM id"),
            f"the stack describes cluster {new.resource_group}/{new.cluster.name}, not the running "
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
    out.extend(_network_blockers(current, target, new))
    if current.windows_pools and any(p.os_type == "Windows" for p in target.node_pools):
        add(("nodePools[].osType", "ARM agentPoolProfiles[].osType"),
            "Windows pools are kept: they block the Cilium update and an in-place Overlay update re-images them "
            "with the Linux pools; a new cluster keeps them apart")
    if _minor_change(new.cluster.kubernetes_version, current.kubernetes_version) < 0:
        add(("cluster.kubernetesVersion", "ARM kubernetesVersion"),
            f"the target runs Kubernetes {new.cluster.kubernetes_version}, older than the running "
            f"{current.kubernetes_version}; AKS cannot downgrade")
    return out


def _network_blockers(current: ArmCluster, target: StackConfig, new: NewTarget) -> list[Reason]:
    out: list[Reason] = []
    net = new.network
    subnets = current.node_subnets
    if any(s is None for s in subnets):
        out.append(Reason(("network.vnetName", "ARM agentPoolProfiles[].vnetSubnetId"),
                          f"the running cluster's nodes are in an AKS-managed VNet and the target declares "
                          f"{net.vnet_name}; node pools cannot move between VNets"))
    else:
        moved = sorted({f"{s.resource_group}/{s.vnet}/{s.subnet}" for s in subnets if s is not None
                        and (s.vnet.lower() != net.vnet_name.lower() or s.subnet.lower() != net.node_subnet.name.lower()
                             or s.resource_group.lower() != new.resource_group.lower())})
        if moved:
            out.append(Reason(("network.vnetName", "network.nodeSubnet.name", "ARM agentPoolProfiles[].vnetSubnetId"),
                              f"the target puts nodes in {new.resource_group}/{net.vnet_name}/{net.node_subnet.name}, "
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
           names: RunbookNames | None = None, storage: Storage = Storage.UNKNOWN) -> Strategy:
    """Choose in-place or blue-green, with reasons, caveats and the ordered runbook.

    Args:
        current: The running cluster's ARM description.
        target: The target stack's configuration.
        rollback_required: Force blue-green because a way back is required.
        names: What the runbook's commands name (stack, kubeconfig, context …); placeholders when None.
        storage: Whether the running cluster keeps data in PersistentVolumes (:func:`storage_of`).

    Returns:
        The strategy. NOTHING when the cluster already runs the target networking;
        IN_PLACE when nothing blocks it; BLUE_GREEN with every blocker otherwise.

    Raises:
        UnsupportedTarget: The stack does not declare its cluster (``cluster.mode: existing``).
        TargetNamesRunningCluster: The route is blue-green but the stack names the running cluster (same
            name and resource group): creating that stack would replace the running cluster, not add one.
    """
    check_target(target)
    names = names or RunbookNames()
    mode = target.networking.mode
    found = blockers(current, target, rollback_required=rollback_required)
    if found:
        if names_running_cluster(current, target):
            raise _refuse_same_cluster(current, target, found, names)
        return Strategy(Route.BLUE_GREEN, tuple(found), _blue_green_caveats(current, target, names, storage),
                        tuple(blue_green_runbook(current, target, names=names, storage=storage)),
                        current.networking, mode.value, names.stack, storage)
    if _already_there(current, target):
        steps = [Step("confirm the stack matches the running cluster", StepKind.PULUMI,
                      f"pulumi stack select {names.stack} && pulumi refresh --yes && pulumi preview --diff --expect-no-changes",
                      "the networking is already the target's; only the stack's state needs to agree")]
        return Strategy(Route.NOTHING, (Reason(("networking.mode", "ARM networkProfile"),
                                               f"the cluster already runs {current.networking}"),),
                        (), tuple(steps), current.networking, mode.value, names.stack, storage)
    reasons = (Reason(("networking.mode", "ARM networkProfile.networkPlugin"),
                      f"{current.networking} → {mode.value} is an update AKS performs in place, and nothing in the "
                      "target needs a new cluster (same VNet and subnets, service CIDR, no pod subnet, no Windows "
                      "pools kept, no rollback required)"),)
    return Strategy(Route.IN_PLACE, reasons, _in_place_caveats(current, target, names),
                    tuple(in_place_runbook(current, target, names=names)), current.networking, mode.value,
                    names.stack, storage)


def names_running_cluster(current: ArmCluster, target: StackConfig) -> bool:
    """Whether the stack declares the running cluster itself (same name and resource group, as Azure compares them)."""
    return (str(target.cluster.name).lower() == current.name.lower()
            and str(target.resource_group or "").lower() == current.resource_group.lower())


def _refuse_same_cluster(current: ArmCluster, target: StackConfig, found: list[Reason],
                         names: RunbookNames) -> TargetNamesRunningCluster:
    only_rollback = [r.keys for r in found] == [("--require-rollback",)]
    fix = (f"give the new cluster its own name: change akshift:cluster.name (e.g. {current.name}-green) or "
           f"akshift:resourceGroup in {names.file}, then plan again")
    if only_rollback:
        fix += "; or drop --require-rollback: nothing else rules out AKS's in-place update of this cluster"
    return TargetNamesRunningCluster(
        f"the route is blue-green, but the stack names the running cluster {current.resource_group}/{current.name} "
        "(akshift:cluster.name, akshift:resourceGroup): `pulumi up` of it would replace the running cluster, not "
        "create a new one next to it", ref=names.file, fix=fix, reasons=found)


def _already_there(current: ArmCluster, target: StackConfig) -> bool:
    mode = target.networking.mode
    if not current.is_overlay:
        return False
    if mode is NetworkingMode.OVERLAY_CILIUM:
        return current.runs_cilium
    return mode is NetworkingMode.OVERLAY and not current.runs_cilium and current.policy == target.networking.effective_network_policy


# --------------------------------------------------------------------------- runbooks

#: The age identity the runbooks create and pass; Secrets in run directories are encrypted to it.
AGE_KEY = "age.key"
#: The TrafficSwitch endpoint names the cutover commands use (``akshift:traffic.endpoints[].name``).
BLUE, GREEN = "blue", "green"
#: Default soak before ``akshift decommission`` may retire blue.
SOAK = "24h"


def _q(value: str) -> str:
    """Quote for a POSIX shell, keeping a leading ``~/`` unquoted so the shell still expands it."""
    if value.startswith("~/"):
        return "~/" + shlex.quote(value[2:])
    return shlex.quote(value)


def _az(current: ArmCluster) -> str:
    return f"az aks update -g {current.resource_group} -n {current.name}"


def _arm_option(current: ArmCluster) -> str:
    """How ``akshift doctor`` reads the same ARM description ``strategy`` was given."""
    if current.source.startswith("/subscriptions/"):
        return f"--azure-id {_q(current.source)}"
    return f"--arm {_q(current.source)}"


def _source(names: RunbookNames, current: ArmCluster) -> tuple[str, str | None]:
    """The running cluster's kubeconfig as the commands print it, and the step that fetches it when none was given."""
    if names.source_kubeconfig:
        return _q(names.source_kubeconfig), None
    path = f"{current.name}.kubeconfig"
    if current.name == names.stack:
        path = f"old-{path}"
    return path, f"az aks get-credentials --resource-group {current.resource_group} --name {current.name} --file {path}"


def _ctx(names: RunbookNames, flag: str) -> str:
    return f" {flag} {_q(names.source_context)}" if names.source_context else ""


def _needs_policy_removal(current: ArmCluster, target: StackConfig) -> bool:
    """Cilium brings its own policy engine; AKS wants Calico or Azure NPM gone before the dataplane update."""
    return current.policy not in ("none", "cilium") and target.networking.mode.managed_cilium and not current.runs_cilium


def _fetch_step(current: ArmCluster, fetch: str | None) -> list[Step]:
    if fetch is None:
        return []
    return [Step(f"get {current.name}'s kubeconfig", StepKind.CHECK, fetch,
                 "read-only; `akshift strategy --source-kubeconfig PATH [--source-context NAME]` prints yours instead")]


def in_place_runbook(current: ArmCluster, target: StackConfig, *, names: RunbookNames | None = None) -> list[Step]:
    """The ordered steps of AKS's in-place path from ``current`` to ``target``.

    Order matters: identity before networking (the route table and subnet need a user-assigned
    control-plane identity with rights on them), policy removal before the dataplane update,
    IPAM (Overlay) before the dataplane (Cilium), and the Pulumi refresh last, after Azure agrees.
    The networking updates are Azure's API (``az aks update``); akshift's own commands do the rest.

    Args:
        current: The running cluster.
        target: The target stack.
        names: What the commands name (stack, kubeconfig, context).

    Returns:
        The steps.
    """
    names = names or RunbookNames()
    mode = target.networking.mode
    kubeconfig, fetch = _source(names, current)
    doctor = f"akshift doctor --kubeconfig {kubeconfig}{_ctx(names, '--context')}"
    steps = [
        *_fetch_step(current, fetch),
        Step("check the cluster for known pitfalls", StepKind.CHECK, f"{doctor} {_arm_option(current)}",
             "fix critical findings (an expiring secret, a retirement date) before changing networking"),
        Step("snapshot every object", StepKind.AKSHIFT,
             f"akshift keygen {AGE_KEY} && akshift inventory --source {kubeconfig}{_ctx(names, '--source-context')} "
             f"--out out/before-in-place --age-identity {AGE_KEY}",
             "a record of the cluster before an irreversible change, Secrets encrypted to the age key (not a "
             f"rollback: the networking cannot go back); skip `keygen` if {AGE_KEY} exists"),
    ]
    if _minor_change(target.cluster.kubernetes_version, current.kubernetes_version) > 0:
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
        pools = ", ".join(p.name for p in current.windows_pools)
        steps.append(Step(f"remove the Windows pools ({pools})", StepKind.MANUAL,
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
             f"az aks show -g {current.resource_group} -n {current.name} -o json > after.json && "
             f"kubectl --kubeconfig {kubeconfig}{_ctx(names, '--context')} get nodes -L kubernetes.azure.com/network-plugin,"
             f"kubernetes.azure.com/podnetwork-type,kubernetes.azure.com/ebpf-dataplane && {doctor} --arm after.json",
             "every node Ready with the new labels, and doctor's kubenet finding gone"),
        Step("bring the Pulumi stack's state up to date", StepKind.PULUMI,
             f"pulumi stack select {names.stack} && pulumi refresh --yes",
             "Pulumi reads the cluster as Azure now has it; if the stack does not hold the cluster yet, "
             f"`pulumi import azure-native:containerservice:ManagedCluster aks-cluster {current.id or '<cluster-id>'}` instead"),
        Step("prove Pulumi plans no change to the cluster", StepKind.PULUMI,
             f"pulumi preview --stack {names.stack} --diff --expect-no-changes",
             "a `replace` of the ManagedCluster here means the stack file disagrees with Azure: fix the file, "
             "never run `pulumi up` over it"),
    ]
    return steps


def blue_green_runbook(current: ArmCluster, target: StackConfig, *, names: RunbookNames | None = None,
                       storage: Storage = Storage.UNKNOWN) -> list[Step]:
    """The ordered steps of a new cluster next to the old one, every step akshift has a command for by that command.

    Order: look (doctor, config validate) → optionally rehearse on a test stack and promote what was
    verified there → create the new cluster → move what lives in Azure → move the workloads (and, when
    the old cluster keeps data in PersistentVolumes, the data: ``akshift volumes plan|move|verify``) →
    verify → cut traffic over → the way back (``akshift rollback``) → soak → ``akshift decommission`` →
    only then retire the old cluster. When the cluster may hold data (``storage`` not NONE) the retire
    step runs only if ``akshift volumes verify`` passes, and the snapshots the move took are kept.

    Args:
        current: The running cluster.
        target: The target stack (a cluster other than the running one).
        names: What the commands name (stacks, kubeconfig, context).
        storage: Whether the running cluster keeps data in PersistentVolumes; UNKNOWN is treated as yes.

    Returns:
        The steps.
    """
    names = names or RunbookNames()
    vnet = target.network.vnet_name if target.network is not None else "its VNet"
    stateful = storage is not Storage.NONE
    stack, test = names.stack, names.test_stack
    old, fetch = _source(names, current)
    new = f"{stack}.kubeconfig"
    run, key = f"out/{stack}", f"--age-identity {AGE_KEY}"
    src = f"--source {old}{_ctx(names, '--source-context')}"
    # Where `volumes plan` puts the disk copies: the stack's diskCopyResourceGroup output, computed as the
    # program computes it (the plan refuses to guess, and never uses the node resource group).
    copies = target.disk_copies.group_for(target.resource_group or "")
    promote = test is not None and not stateful
    steps = [
        *_fetch_step(current, fetch),
        Step("check the running cluster for known pitfalls", StepKind.CHECK,
             f"akshift doctor --kubeconfig {old}{_ctx(names, '--context')} {_arm_option(current)}",
             "critical findings (an expiring secret) must be fixed on the old cluster: it keeps serving until cutover; "
             "the `volumes` finding says whether it keeps data in PersistentVolumes"),
        Step("validate the stacks", StepKind.AKSHIFT,
             " && ".join(f"akshift config validate {_q(f)}" for f in ([names.test_file] if test else []) + [names.file]),
             "every configuration problem at once, before anything is created"),
        Step("create the age key that encrypts Secrets in the run directories", StepKind.AKSHIFT,
             f"akshift keygen {AGE_KEY}",
             "keep it out of the shared run directories (a Key Vault secret for the team); skip if it exists"),
    ]
    if test is not None:
        tkube, trun = f"{test}.kubeconfig", f"out/{test}"
        steps += [
            Step(f"create the test cluster (stack {test})", StepKind.AKSHIFT, f"akshift up --stack {test}",
                 "a rehearsal next to the old cluster; `akshift up` refuses a plan that replaces a cluster "
                 f"(plain `pulumi up --stack {test}` runs the same program)"),
            Step("get the test cluster's kubeconfig", StepKind.PULUMI,
                 f"pulumi stack output kubeconfig --stack {test} --show-secrets > {tkube}", ""),
            Step("rehearse the migration on the test cluster", StepKind.AKSHIFT,
                 f"akshift migrate {src} --target {tkube} --out {trun} {key}"
                 + (" --empty-volumes" if stateful else ""),
                 "inventory, transform, plan, apply, verify; the old cluster is only read; review "
                 f"{trun}/report.md and the findings"
                 + ("; --empty-volumes leaves out the PVs naming the old cluster's disks and shares, so test's "
                    "claims start on new, empty disks of its own (volume-data-not-copied findings; the data "
                    "moves to the new cluster only, with `akshift volumes`)" if stateful else "")),
        ]
        if not stateful:
            steps += [
                Step(f"let Pulumi own the verified workloads on {test} and {stack}", StepKind.PULUMI,
                     " && ".join(f"pulumi config set --path --stack {s} akshift:workloads.{k} {v}"
                                 for s in (test, stack) for k, v in (("snapshot", f"{trun}/transformed"),
                                                                     ("ageIdentityFile", AGE_KEY))),
                     f"both stacks declare the snapshot verified on {test}; `akshift promote` pins its digest"),
                Step(f"adopt the workloads into {test}'s stack", StepKind.AKSHIFT, f"akshift up --stack {test} --yes",
                     "server-side apply of identical fields: nothing running changes"),
                Step("verify the test cluster", StepKind.AKSHIFT, f"akshift verify --target {tkube} --out {trun} {key}",
                     "every source object accounted for, workloads ready"),
                Step("record the verification in the stack", StepKind.AKSHIFT, f"akshift up --stack {test} --yes",
                     "`akshift promote` reads it from the stack's outputs"),
            ]
    if promote:
        steps.append(Step(f"create the new cluster {target.cluster.name} with what was verified on {test}", StepKind.AKSHIFT,
                          f"akshift promote {test} {stack}",
                          f"pins the Kubernetes and add-on versions and the snapshot digest verified on {test}, "
                          f"previews {stack} behind the guards and asks before applying; {target.networking.mode.value} "
                          f"in {vnet}, next to the old cluster"))
    else:
        steps.append(Step(f"create the new cluster {target.cluster.name}", StepKind.AKSHIFT, f"akshift up --stack {stack}",
                          f"{target.networking.mode.value} in {vnet}, next to the old cluster; "
                          f"`akshift up` refuses a plan that replaces a cluster (plain `pulumi up --stack {stack}` "
                          "runs the same program)"))
    steps.append(Step("get the new cluster's kubeconfig", StepKind.PULUMI,
                      f"pulumi stack output kubeconfig --stack {stack} --show-secrets > {new}", ""))
    azure_moves = ["public IPs named by LoadBalancer annotations move to a shared resource group",
                   "the new kubelet identity gets AcrPull on the registries (stack key identity.acrPullScopes)",
                   "firewalls and allow-lists add the new cluster's outbound IPs"]
    if current.oidc_issuer_enabled or current.workload_identity_enabled:
        azure_moves.insert(0, "workload identities get federated credentials for the new cluster's OIDC issuer")
    steps.append(Step("move what lives in Azure, not in the cluster", StepKind.MANUAL, "",
                      "; ".join(azure_moves) + " (see the migrate findings); akshift has no command for these"))
    if stateful:
        steps += [
            Step("take the inventory of the old cluster", StepKind.AKSHIFT,
                 f"akshift inventory {src} --out {run} {key}", "read-only"),
            Step("plan the volume moves", StepKind.AKSHIFT,
                 f"akshift volumes plan --out {run} --target {new} --target-resource-group {_q(copies)}",
                 f"one strategy per claim in {run}/volumes-plan.json; fix its findings (zones: --zone-map) first; "
                 f"the copies land in {copies}, the group the stack declares and protects (its "
                 f"diskCopyResourceGroup output), never in the node resource group AKS deletes with the cluster"),
            Step("transform it for the new cluster", StepKind.AKSHIFT,
                 f"akshift transform --out {run} --target {new} {key}",
                 f"pod-CIDR and node-pool rewrites, and the carried PVs pointed at their copies (it reads "
                 f"{run}/volumes-plan.json); review {run}/report.md"),
            Step("move the data", StepKind.AKSHIFT,
                 f"akshift volumes move {src} --target {new} --out {run} --quiesce-source",
                 "stops the disks' writers on the old cluster (recorded; `akshift volumes rollback` restarts them): "
                 "their downtime starts here; incremental snapshots and new disks in the new cluster's resource "
                 "group, static PVs for the claims; the old disks are only read"),
            Step("apply the workloads", StepKind.AKSHIFT, f"akshift apply --target {new} --out {run} {key}",
                 "server-side apply in dependency order; resumable"),
        ]
    else:
        steps.append(Step("move the workloads", StepKind.AKSHIFT, f"akshift migrate {src} --target {new} --out {run} {key}",
                          "inventory, transform (pod-CIDR and node-pool rewrites), plan, apply, verify; review the "
                          "findings" + ("; objects changed on the old cluster since the rehearsal conflict with "
                                        "Pulumi's fields: review them, then re-run with --force-conflicts"
                                        if promote else "")))
    steps.append(Step("verify the new cluster right before the cutover", StepKind.AKSHIFT,
                      f"akshift verify --target {new} --out {run} {key}",
                      f"every source object accounted for, workloads ready; the cutover's preflight reads {run}/verify.json"))
    if stateful:
        steps.append(Step("verify the data", StepKind.AKSHIFT, f"akshift volumes verify --target {new} --out {run}",
                          "every claim Bound to a copy of its source disk (by recorded lineage)"))
    state = f"{run}/cutover"
    steps += [
        Step("shift traffic to the new cluster", StepKind.AKSHIFT,
             f"akshift cutover --from {BLUE} --to {GREEN} --steps 0,10,50,100 --hold 5m "
             "--gate http:https://GREEN_HOST/healthz,p95=300ms "
             f"--router pulumi --stack {stack} --verify-report {run}/verify.json "
             f"--blue-kubeconfig {old}{_ctx(names, '--blue-context')} --green-kubeconfig {new} --state-dir {state}",
             f"{BLUE} and {GREEN} are the TrafficSwitch's endpoint names; replace GREEN_HOST with green's ingress "
             "host and add gates that speak for your users; blue is frozen, and a failed gate sends traffic back"),
        Step("the way back, until decommission", StepKind.AKSHIFT,
             f"akshift rollback --state-dir {state}"
             + (f" && akshift volumes rollback {src} --out {run}" if stateful else ""),
             "blue back to 100% and unfrozen; it was never changed"
             + ("; the writers `volumes move` stopped restart with their previous counts, and what green wrote "
                "since stays on green's disks" if stateful else ""), way_back=True),
        Step(f"soak: green serves 100% for {SOAK}", StepKind.CHECK, "",
             "watch green; blue stays frozen and ready; `akshift decommission` refuses until the soak is over",
             decision="did the cutover reach green 100% with every gate passing?"),
        Step("take blue out of the switch", StepKind.AKSHIFT,
             f"akshift decommission {BLUE} --soak {SOAK} --state-dir {state} --green-kubeconfig {new}",
             "refused while blue has weight, a gate fails or the soak is not over",
             decision=f"green healthy through the {SOAK} soak?"),
    ]
    node_rg = current.node_resource_group or "its node resource group"
    if stateful:
        steps.append(Step("keep the snapshots of the old cluster's disks", StepKind.MANUAL,
                          "az snapshot list --query \"[?tags.\\\"akshift-source-disk\\\"].{name:name, resourceGroup:"
                          "resourceGroup, sourceDisk:tags.\\\"akshift-source-disk\\\"}\" --output table",
                          f"`akshift volumes move` took them and kept them on delete; once {current.name} is deleted "
                          "they are the only copy of the data as it was on the old cluster: keep them. Azure Files "
                          f"shares stay where they are (green mounts the same share): a storage account in {node_rg} "
                          "goes with the old cluster, so move it to another resource group first"))
    delete = f"az aks delete --resource-group {current.resource_group} --name {current.name}"
    steps.append(Step(f"retire the old cluster {current.name}", StepKind.MANUAL,
                      f"akshift volumes verify --target {new} --out {run} && {delete}" if stateful else delete,
                      ("runs only when every claim on green is bound to a verified copy; " if stateful else "")
                      + f"after decommission; Azure deletes {node_rg} with it (its disks, and file shares AKS created "
                      "there); if a Pulumi stack created it, `pulumi destroy` that stack instead"))
    return steps


def _in_place_caveats(current: ArmCluster, target: StackConfig, names: RunbookNames) -> tuple[str, ...]:
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
    out.append(f"`akshift strategy --stack {names.stack} {_arm_option(current)} --execute --yes` performs the azure "
               "steps in this order and the refresh, once the manual steps are done")
    return tuple(out)


def _blue_green_caveats(current: ArmCluster, target: StackConfig, names: RunbookNames,
                        storage: Storage) -> tuple[str, ...]:
    out = [
        "two clusters run (and are billed) until the old one is retired",
        "the new cluster has new outbound IPs, a new node resource group and a new OIDC issuer",
    ]
    if storage is Storage.PRESENT:
        out.append(f"{current.name} keeps data in PersistentVolumes: the disks' writers stop at `akshift volumes move` "
                   "until green serves them (plan the window); Azure Disks are zonal: the new pools must cover "
                   "their zones (or --zone-map)")
    elif storage is Storage.UNKNOWN:
        out.append(f"not known whether {current.name} keeps data in PersistentVolumes, so the runbook assumes it "
                   "does; `akshift doctor --kubeconfig … -o json > doctor.json` and `--doctor-report doctor.json` tell")
    if names.test_stack is not None and storage is not Storage.NONE:
        out.append(f"no `akshift promote {names.test_stack} {names.stack}`: a promotion deploys the rehearsal's "
                   f"workloads to {names.stack} through Pulumi, whose claims would bind new, empty disks before "
                   "`akshift volumes move` puts the copies there")
    elif names.test_stack is not None:
        out.append(f"Pulumi owns the workloads of the snapshot verified on {names.test_stack}; a later `akshift up "
                   f"--stack {names.stack}` puts that snapshot's version back over anything the final migration "
                   f"changed: rehearse again and promote before it")
    return tuple(out)
