"""``akshift strategy``: in-place or blue-green from recorded ARM descriptions and stack files, the runbook's order,
and ``--execute`` with recording fakes in place of Azure and Pulumi (the test machines have neither).

The in-place candidate is ``kubenet-prod.json``: the prod stack's cluster
(``stacks/Pulumi.prod.yaml``) recorded while it still ran kubenet. Each
blue-green case changes one thing, in the ARM description or in the stack,
and names the key that forced the new cluster; a blue-green target must name
another cluster than the running one, so those cases rename the stack's
cluster, and a stack that keeps the running cluster's name is refused.

Every ``akshift …`` command a runbook prints is parsed by the real CLI
(``akshift.cli.app``, click's ``make_context``): a subcommand or flag the CLI
does not have fails the test.
"""
from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from doctor import parse_arm
from doctor.errors import ExecutionRefused, StepFailed, TargetNamesRunningCluster, UnsupportedTarget
from doctor.execute import execute_in_place
from doctor.strategy import Route, RunbookNames, StepKind, Storage, Strategy, decide, stack_name_of, storage_of
from stacks import StackConfig, load, read_stack_file

from support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "arm"
PROD = ROOT / "stacks" / "Pulumi.prod.yaml"
runner = CliRunner()

Edit = Callable[[dict[str, Any]], None]


def arm_doc(name: str = "kubenet-prod") -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def current(name: str = "kubenet-prod", edit: Edit | None = None) -> Any:
    doc = arm_doc(name)
    if edit:
        edit(doc)
    return parse_arm(doc, source=f"{name}.json")


#: The name a blue-green target gives its new cluster next to the running aks-akshift-prod.
NEW_NAME = "aks-akshift-prod-green"


def target(edit: Edit | None = None, *, name: str | None = None) -> StackConfig:
    config = copy.deepcopy(read_stack_file(PROD))
    if edit:
        edit(config)
    if name:
        config["akshift:cluster"]["name"] = name
    return load(config)


PROD_NAMES = RunbookNames(stack="prod")


# ARM edits (az aks show spelling)
def net(**fields: Any) -> Edit:
    return lambda d: d["networkProfile"].update(fields)


def all_pools(**fields: Any) -> Edit:
    return lambda d: [p.update(fields) for p in d["agentPoolProfiles"]]


def add_windows_pool(d: dict[str, Any]) -> None:
    win = copy.deepcopy(d["agentPoolProfiles"][1])
    win.update(name="win22", osType="Windows", osSku="Windows2022", mode="User")
    d["agentPoolProfiles"].append(win)


def service_principal(d: dict[str, Any]) -> None:
    d["identity"] = None
    d["servicePrincipalProfile"] = {"clientId": "3f2e1d0c-5b4a-4c3d-9e8f-7a6b5c4d3e2f"}


# stack edits
def networking(**fields: Any) -> Edit:
    return lambda c: c["akshift:networking"].update(fields)


def cluster_field(**fields: Any) -> Edit:
    return lambda c: c["akshift:cluster"].update(fields)


def keep_windows(c: dict[str, Any]) -> None:
    c["akshift:networking"]["mode"] = "overlay"
    c["akshift:networking"]["networkPolicy"] = "none"
    c["akshift:dns"] = {"nodeCache": "none"}
    # Windows Server 2022 ends with Kubernetes 1.34 (stacks/capabilities.py): a target keeping it stays on 1.34 LTS.
    c["akshift:cluster"].update(kubernetesVersion="1.34", skuTier="Premium", supportPlan="AKSLongTermSupport")
    c["akshift:nodePools"].append({"name": "win22", "mode": "User", "vmSize": "Standard_D8ds_v5", "osType": "Windows",
                                   "osSku": "Windows2022", "count": 2})


def byo_cilium(c: dict[str, Any]) -> None:
    c["akshift:networking"].update(mode="byo-cilium", networkPolicy="cilium")
    c["akshift:dns"] = {"nodeCache": "auto"}


def pod_subnet(c: dict[str, Any]) -> None:
    c["akshift:networking"]["mode"] = "podsubnet-cilium"
    c["akshift:networking"].pop("podCidr")
    c["akshift:network"]["podSubnet"] = {"name": "snet-aks-pods", "cidr": "10.40.64.0/18"}


# --------------------------------------------------------------------------- the decision


def test_the_prod_cluster_on_kubenet_reaches_overlay_cilium_in_place() -> None:
    s = decide(current(), target(), names=PROD_NAMES)
    assert s.route is Route.IN_PLACE
    assert (s.current, s.target) == ("kubenet", "overlay-cilium")
    assert any("irreversible" in c for c in s.caveats)
    assert any("re-images every node pool at the same time" in c for c in s.caveats)
    assert any("calico network policy engine is removed first" in c for c in s.caveats)
    assert any("user-assigned identity with Network Contributor on the route table" in c for c in s.caveats)


@pytest.mark.parametrize(("arm_edit", "stack_edit", "rollback", "keys"), [
    pytest.param(None, None, True, ("--require-rollback",), id="a_required_rollback_means_blue_green"),
    pytest.param(all_pools(vnetSubnetId="/subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-net/"
                           "providers/Microsoft.Network/virtualNetworks/vnet-hub-spoke/subnets/aks"), None, False,
                 ("network.vnetName", "network.nodeSubnet.name", "ARM agentPoolProfiles[].vnetSubnetId"),
                 id="nodes_in_another_vnet_than_the_target_means_blue_green"),
    pytest.param(all_pools(vnetSubnetId=None), None, False, ("network.vnetName", "ARM agentPoolProfiles[].vnetSubnetId"),
                 id="an_aks_managed_vnet_means_blue_green"),
    pytest.param(None, lambda c: c["akshift:network"]["nodeSubnet"].update(name="snet-aks-nodes-v2"), False,
                 ("network.vnetName", "network.nodeSubnet.name", "ARM agentPoolProfiles[].vnetSubnetId"),
                 id="a_renamed_node_subnet_in_the_target_means_blue_green"),
    pytest.param(None, pod_subnet, False, ("networking.mode", "network.podSubnet"),
                 id="a_target_with_a_pod_subnet_means_blue_green"),
    pytest.param(all_pools(podSubnetId="/subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-akshift-prod/"
                           "providers/Microsoft.Network/virtualNetworks/vnet-akshift-prod/subnets/snet-pods"),
                 None, False, ("ARM agentPoolProfiles[].podSubnetId",), id="a_current_pod_subnet_means_blue_green"),
    pytest.param(add_windows_pool, keep_windows, False, ("nodePools[].osType", "ARM agentPoolProfiles[].osType"),
                 id="windows_pools_kept_in_the_target_mean_blue_green"),
    pytest.param(net(serviceCidr="10.0.0.0/16", dnsServiceIp="10.0.0.10"), None, False,
                 ("networking.serviceCidr", "ARM networkProfile.serviceCidr"), id="a_changed_service_cidr_means_blue_green"),
    pytest.param(None, cluster_field(name="aks-akshift-prod-v2"), False, ("cluster.name", "resourceGroup", "ARM name", "ARM id"),
                 id="a_stack_for_another_cluster_means_blue_green"),
    pytest.param(None, byo_cilium, False, ("networking.mode",),
                 id="bring_your_own_cilium_means_blue_green"),
    pytest.param(lambda d: d.update(currentKubernetesVersion="1.37.1"), None, False,
                 ("cluster.kubernetesVersion", "ARM kubernetesVersion"), id="an_older_target_version_means_blue_green"),
])
def test_blue_green_names_the_key_that_rules_out_in_place(arm_edit: Edit | None, stack_edit: Edit | None, rollback: bool,
                                                          keys: tuple[str, ...]) -> None:
    s = decide(current(edit=arm_edit), target(stack_edit, name=NEW_NAME), rollback_required=rollback)
    assert s.route is Route.BLUE_GREEN
    assert keys in [r.keys for r in s.reasons], [r.keys for r in s.reasons]


@pytest.mark.parametrize(("arm_edit", "stack_edit", "rollback", "keys"), [
    pytest.param(None, None, True, ("--require-rollback",), id="a_required_rollback"),
    pytest.param(net(serviceCidr="10.0.0.0/16", dnsServiceIp="10.0.0.10"), None, False,
                 ("networking.serviceCidr", "ARM networkProfile.serviceCidr"), id="a_changed_service_cidr"),
    pytest.param(None, pod_subnet, False, ("networking.mode", "network.podSubnet"), id="a_target_with_a_pod_subnet"),
    pytest.param(all_pools(vnetSubnetId=None), None, False, ("network.vnetName", "ARM agentPoolProfiles[].vnetSubnetId"),
                 id="an_aks_managed_vnet"),
])
def test_a_blue_green_target_that_names_the_running_cluster_is_refused_naming_the_keys_to_change(
        arm_edit: Edit | None, stack_edit: Edit | None, rollback: bool, keys: tuple[str, ...]) -> None:
    with pytest.raises(TargetNamesRunningCluster) as e:
        decide(current(edit=arm_edit), target(stack_edit), rollback_required=rollback, names=PROD_NAMES)
    message = str(e.value)
    assert message.startswith("stacks/Pulumi.prod.yaml: the route is blue-green, but the stack names the running "
                              "cluster rg-akshift-prod/aks-akshift-prod (akshift:cluster.name, akshift:resourceGroup)")
    assert "would replace the running cluster" in message
    assert "change akshift:cluster.name (e.g. aks-akshift-prod-green) or akshift:resourceGroup" in message
    assert keys in [r.keys for r in e.value.reasons]
    assert e.value.exit_code == 2


def test_a_target_without_a_kubernetes_version_is_compared_without_one() -> None:
    s = decide(current(), target(lambda c: c["akshift:cluster"].pop("kubernetesVersion", None)), names=PROD_NAMES)
    assert s.route is Route.IN_PLACE
    assert not any("kubernetesVersion" in " ".join(r.keys) for r in s.reasons)
    assert not any(step.title.startswith("upgrade Kubernetes") for step in s.steps)


def test_only_a_required_rollback_suggests_the_in_place_route_instead() -> None:
    with pytest.raises(TargetNamesRunningCluster, match="or drop --require-rollback"):
        decide(current(), target(), rollback_required=True)
    with pytest.raises(TargetNamesRunningCluster) as e:
        decide(current(edit=net(serviceCidr="10.0.0.0/16", dnsServiceIp="10.0.0.10")), target(), rollback_required=True)
    assert "--require-rollback" not in e.value.fix


@pytest.mark.parametrize(("fixture", "route", "current_name"), [
    pytest.param("kubenet", Route.BLUE_GREEN, "kubenet", id="blue_twin_in_another_resource_group_goes_blue_green"),
    pytest.param("service-principal", Route.BLUE_GREEN, "kubenet", id="service_principal_cluster_elsewhere_goes_blue_green"),
    pytest.param("azure-cni", Route.BLUE_GREEN, "azure (node subnet)", id="azure_cni_cluster_elsewhere_goes_blue_green"),
    pytest.param("overlay", Route.IN_PLACE, "azure overlay", id="overlay_prod_cluster_needs_only_the_cilium_update"),
    pytest.param("cilium", Route.NOTHING, "azure overlay + cilium", id="cilium_prod_cluster_has_nothing_to_do"),
])
def test_each_recorded_cluster_against_the_prod_stack(fixture: str, route: Route, current_name: str) -> None:
    s = decide(current(fixture), target())
    assert (s.route, s.current) == (route, current_name)


def test_an_overlay_cluster_without_cilium_wanted_is_already_there() -> None:
    s = decide(current("overlay"), target(networking(mode="overlay", networkPolicy="none")))
    assert s.route is Route.NOTHING
    assert [st.kind for st in s.steps] == [StepKind.PULUMI]


def test_a_cilium_cluster_cannot_go_back_to_the_azure_dataplane() -> None:
    s = decide(current("cilium"), target(networking(mode="overlay", networkPolicy="none"), name=NEW_NAME))
    assert s.route is Route.BLUE_GREEN
    assert ("networking.mode", "ARM networkProfile.networkDataplane") in [r.keys for r in s.reasons]


def test_a_stack_for_an_existing_cluster_declares_nothing_to_compare_with() -> None:
    existing = target().model_copy(update={"cluster": SimpleNamespace(mode="existing", name="aks-akshift-prod")})
    with pytest.raises(UnsupportedTarget, match="cluster.mode: the stack uses cluster.mode 'existing'"):
        decide(current(), existing)


# --------------------------------------------------------------------------- the in-place runbook


def test_in_place_runbook_removes_policy_then_moves_to_overlay_then_cilium_then_refreshes_pulumi() -> None:
    s = decide(current(), target(), names=RunbookNames(stack="prod", source_kubeconfig="old.kubeconfig"))
    titles = [st.title for st in s.steps]
    assert titles == [
        "check the cluster for known pitfalls",
        "snapshot every object",
        "remove the network policy engine (calico)",
        "update kubenet to Azure CNI Overlay",
        "switch the dataplane to Cilium",
        "check the result",
        "bring the Pulumi stack's state up to date",
        "prove Pulumi plans no change to the cluster",
    ]
    by_title = {st.title: st for st in s.steps}
    overlay = by_title["update kubenet to Azure CNI Overlay"]
    assert overlay.irreversible and overlay.network_profile == {
        "networkPlugin": "azure", "networkPluginMode": "overlay", "podCidr": "10.244.0.0/16"}
    assert overlay.command == ("az aks update -g rg-akshift-prod -n aks-akshift-prod --network-plugin azure "
                               "--network-plugin-mode overlay --pod-cidr 10.244.0.0/16")
    assert by_title["remove the network policy engine (calico)"].network_profile == {"networkPolicy": "none"}
    assert by_title["switch the dataplane to Cilium"].network_profile == {"networkDataplane": "cilium", "networkPolicy": "cilium"}
    assert by_title["bring the Pulumi stack's state up to date"].command == "pulumi stack select prod && pulumi refresh --yes"
    assert "--expect-no-changes" in s.steps[-1].command
    assert "old.kubeconfig" in s.steps[0].command


@pytest.mark.parametrize(("arm_edit", "stack_edit", "step"), [
    pytest.param(service_principal, None, "give the control plane a user-assigned identity",
                 id="a_service_principal_gets_a_user_assigned_identity_first"),
    pytest.param(lambda d: d.update(identity={"type": "SystemAssigned"}), None, "give the control plane a user-assigned identity",
                 id="a_system_assigned_kubenet_cluster_gets_a_user_assigned_identity_for_the_route_table"),
    pytest.param(add_windows_pool, None, "remove the Windows pools (win22)",
                 id="windows_pools_the_target_drops_are_removed_before_the_update"),
    pytest.param(lambda d: d.update(currentKubernetesVersion="1.35.5"), None, "upgrade Kubernetes to 1.36",
                 id="an_older_cluster_is_upgraded_before_the_networking_changes"),
])
def test_in_place_runbook_puts_manual_preparation_before_the_first_networking_update(
        arm_edit: Edit, stack_edit: Edit | None, step: str) -> None:
    s = decide(current(edit=arm_edit), target(stack_edit))
    assert s.route is Route.IN_PLACE
    titles = [st.title for st in s.steps]
    prep = next(i for i, t in enumerate(titles) if t.startswith(step))
    first_azure = next(i for i, st in enumerate(s.steps) if st.kind is StepKind.AZURE)
    assert s.steps[prep].kind is StepKind.MANUAL and prep < first_azure


def test_an_overlay_cluster_without_policy_gets_only_the_dataplane_update() -> None:
    s = decide(current("overlay"), target())
    assert [st.title for st in s.steps if st.kind is StepKind.AZURE] == ["switch the dataplane to Cilium"]
    assert not any("network policy engine is removed" in c for c in s.caveats)


def test_an_overlay_target_with_calico_enables_calico_after_the_overlay_update() -> None:
    s = decide(current(edit=net(networkPolicy="none")), target(networking(mode="overlay", networkPolicy="calico")))
    assert [st.title for st in s.steps if st.kind is StepKind.AZURE] == [
        "update kubenet to Azure CNI Overlay", "set the network policy engine to calico"]


# --------------------------------------------------------------------------- runbooks against the real CLI


def akshift_command_lines(command: str) -> list[list[str]]:
    """Each ``akshift …`` invocation in a step's shell command, as argv after ``akshift``."""
    lines = []
    for part in re.split(r"&&|\|\||;|\|", command):
        words = shlex.split(part)
        if ">" in words:
            words = words[:words.index(">")]
        if words[:1] == ["akshift"]:
            lines.append(words[1:])
    return lines


def parse_with_cli(argv: list[str]) -> typer.Context:
    """Parse ``akshift ARGV`` with the real app, as the shell would run it; raises on a command or flag it lacks."""
    cmd = typer.main.get_command(app())
    ctx = typer.Context(cmd, info_name="akshift")
    rest = list(argv)
    while hasattr(cmd, "resolve_command"):  # a group: resolve the subcommand (raises "No such command")
        if rest[:1] and rest[0].startswith("-") and getattr(cmd, "invoke_without_command", False):
            # A group that runs by itself (`akshift cutover --from …`): its own options are the command's.
            return cmd.make_context(ctx.info_name, rest, parent=ctx.parent)
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert name is not None and sub is not None, argv
        cmd = sub
        ctx = typer.Context(cmd, info_name=name, parent=ctx) if hasattr(cmd, "resolve_command") \
            else cmd.make_context(name, rest, parent=ctx)
    return ctx


def subcommands(s: Strategy) -> list[str]:
    """The akshift subcommands a runbook runs, in order (``volumes plan`` for groups)."""
    out = []
    for step in s.steps:
        for argv in akshift_command_lines(step.command):
            out.append(" ".join(argv[:2]) if argv[0] in ("volumes", "config", "sandbox") else argv[0])
    return out


STATEFUL = [{"check": "volumes", "severity": "info", "summary": "6 PersistentVolume(s) hold data"}]
STATELESS = [{"check": "volumes", "severity": "ok", "summary": "no PersistentVolumes"}]
CONTEXT_NAMES = RunbookNames(stack="prod", source_kubeconfig="~/.kube/config", source_context="aks-shop-prod-admin")

#: (ARM fixture, ARM edit, stack edit, target cluster name, require rollback, names, doctor findings)
RUNBOOK_CASES = [
    pytest.param("kubenet", None, None, None, False, PROD_NAMES, None, id="kubenet_cluster_elsewhere_blue_green"),
    pytest.param("kubenet-prod", None, None, None, False, PROD_NAMES, None, id="kubenet_with_calico_in_place"),
    pytest.param("kubenet-prod", add_windows_pool, None, None, False, PROD_NAMES, None,
                 id="windows_pools_removed_in_place"),
    pytest.param("kubenet-prod", add_windows_pool, keep_windows, NEW_NAME, False, PROD_NAMES, STATEFUL,
                 id="windows_pools_kept_blue_green"),
    pytest.param("azure-cni", None, None, None, False, CONTEXT_NAMES, STATEFUL, id="stateful_azure_cni_with_a_context"),
    pytest.param("kubenet", None, None, None, False, RunbookNames(stack="prod", test_stack="test"), STATELESS,
                 id="stateless_rehearsed_on_test_then_promoted"),
    pytest.param("kubenet", None, None, None, False, RunbookNames(stack="prod", test_stack="test"), STATEFUL,
                 id="stateful_rehearsed_on_test"),
    pytest.param("kubenet-prod", None, None, NEW_NAME, True, PROD_NAMES, None, id="require_rollback_new_name"),
    pytest.param("overlay", None, None, None, False, PROD_NAMES, None, id="overlay_in_place_to_cilium"),
    pytest.param("cilium", None, None, None, False, PROD_NAMES, None, id="nothing_to_do"),
]


def runbook(fixture: str, arm_edit: Edit | None, stack_edit: Edit | None, name: str | None, rollback: bool,
            names: RunbookNames, findings: list[dict[str, Any]] | None) -> Strategy:
    cur = current(fixture, arm_edit)
    return decide(cur, target(stack_edit, name=name), rollback_required=rollback, names=names,
                  storage=storage_of(cur, findings))


@pytest.mark.parametrize(("fixture", "arm_edit", "stack_edit", "name", "rollback", "names", "findings"), RUNBOOK_CASES)
def test_every_akshift_command_of_a_runbook_is_one_the_cli_accepts(
        fixture: str, arm_edit: Edit | None, stack_edit: Edit | None, name: str | None, rollback: bool,
        names: RunbookNames, findings: list[dict[str, Any]] | None) -> None:
    s = runbook(fixture, arm_edit, stack_edit, name, rollback, names, findings)
    lines = [argv for step in s.steps for argv in akshift_command_lines(step.command)]
    if s.route is not Route.NOTHING:  # nothing-to-do is one Pulumi step
        assert len(lines) >= 3
    for argv in lines:
        parse_with_cli(argv)
    for step in s.steps:
        assert bool(akshift_command_lines(step.command)) is (step.kind is StepKind.AKSHIFT
                                                             or step.title.startswith("check ")
                                                             or (step.kind is StepKind.MANUAL and "volumes verify" in step.command)), \
            f"{step.kind.value} step {step.title!r}: {step.command}"


@pytest.mark.parametrize("argv", [
    pytest.param(["migrate", "--no-such-flag", "prod"], id="a_flag_the_command_lacks"),
    pytest.param(["volumes", "copy", "--out", "out/prod"], id="a_subcommand_the_group_lacks"),
    pytest.param(["status"], id="a_command_the_cli_lacks"),
    pytest.param(["decommission", "--soak", "24h"], id="a_missing_argument"),
])
def test_the_cli_check_fails_on_what_the_cli_does_not_accept(argv: list[str]) -> None:
    with pytest.raises(Exception) as e:  # click's UsageError family, from typer's vendored click
        parse_with_cli(argv)
    assert type(e.value).__name__ in ("NoSuchOption", "UsageError", "MissingParameter")


def test_stateless_blue_green_rehearses_on_test_promotes_then_migrates_cuts_over_and_decommissions() -> None:
    s = runbook("kubenet", None, None, None, False, RunbookNames(stack="prod", test_stack="test"), STATELESS)
    assert subcommands(s) == ["doctor", "config validate", "config validate", "keygen", "up", "migrate", "up",
                              "verify", "up", "promote", "migrate", "verify", "cutover", "rollback", "decommission"]
    commands = [st.command for st in s.steps]
    assert "akshift up --stack test" in commands and "akshift promote test prod" in commands
    assert ("akshift migrate --source aks-shop-prod.kubeconfig --target prod.kubeconfig --out out/prod "
            "--age-identity age.key") in commands
    assert commands[-1] == "az aks delete --resource-group rg-shop-prod --name aks-shop-prod"
    assert s.storage is Storage.NONE and not any("volumes" in c for c in commands)


def test_stateful_blue_green_moves_and_verifies_the_data_before_the_old_cluster_may_go() -> None:
    s = runbook("kubenet", None, None, None, False, RunbookNames(stack="prod", test_stack="test"), STATEFUL)
    assert subcommands(s) == ["doctor", "config validate", "config validate", "keygen", "up", "migrate",
                              "up", "inventory", "volumes plan", "transform", "volumes move", "apply",
                              "verify", "volumes verify", "cutover", "rollback", "volumes rollback", "decommission",
                              "volumes verify"]
    by_title = {st.title: st for st in s.steps}
    # The rehearsal never carries a PV naming the old cluster's disks to test: its claims start empty there.
    assert by_title["rehearse the migration on the test cluster"].command == (
        "akshift migrate --source aks-shop-prod.kubeconfig --target test.kubeconfig --out out/test "
        "--age-identity age.key --empty-volumes")
    # The disk copies go where the prod stack declares them (its diskCopyResourceGroup), named, never guessed.
    assert by_title["plan the volume moves"].command == (
        "akshift volumes plan --out out/prod --target prod.kubeconfig --target-resource-group rg-akshift-prod-disk-copies")
    move = by_title["move the data"]
    assert move.command == ("akshift volumes move --source aks-shop-prod.kubeconfig --target prod.kubeconfig "
                            "--out out/prod --quiesce-source")
    titles = [st.title for st in s.steps]
    assert titles[-2:] == ["keep the snapshots of the old cluster's disks", "retire the old cluster aks-shop-prod"]
    assert "akshift-source-disk" in s.steps[-2].command and "keep them" in s.steps[-2].why
    assert "MC_rg-shop-prod_aks-shop-prod_westeurope" in s.steps[-2].why  # Azure Files shares there go with it
    assert s.steps[-1].command == ("akshift volumes verify --target prod.kubeconfig --out out/prod && "
                                   "az aks delete --resource-group rg-shop-prod --name aks-shop-prod")
    assert not any("promote" in c for c in (st.command for st in s.steps))
    assert any("no `akshift promote test prod`" in c for c in s.caveats)


@pytest.mark.parametrize(("fixture", "arm_edit", "stack_edit", "name", "rollback", "names", "findings"), RUNBOOK_CASES)
def test_no_runbook_deletes_a_cluster_whose_disks_may_hold_the_only_copy_of_its_data(
        fixture: str, arm_edit: Edit | None, stack_edit: Edit | None, name: str | None, rollback: bool,
        names: RunbookNames, findings: list[dict[str, Any]] | None) -> None:
    s = runbook(fixture, arm_edit, stack_edit, name, rollback, names, findings)
    deletes = [i for i, st in enumerate(s.steps) if "az aks delete " in st.command]
    if s.route is not Route.BLUE_GREEN:
        assert deletes == []
        return
    assert deletes == [len(s.steps) - 1], "retiring the old cluster is the last step, and the only delete"
    retire = s.steps[-1]
    titles = [st.title for st in s.steps]
    assert titles.index("take blue out of the switch") < len(titles) - 1
    if s.storage is Storage.NONE:
        assert retire.command.startswith("az aks delete ")
    else:  # present or unknown: only when the copies verify, and with the snapshots kept
        assert re.fullmatch(r"akshift volumes verify --target \S+ --out \S+ && az aks delete .*", retire.command)
        assert titles[-2] == "keep the snapshots of the old cluster's disks"


@pytest.mark.parametrize(("fixture", "arm_edit", "stack_edit", "name", "rollback", "names", "findings"), RUNBOOK_CASES)
def test_no_runbook_creates_a_stack_that_names_the_running_cluster(
        fixture: str, arm_edit: Edit | None, stack_edit: Edit | None, name: str | None, rollback: bool,
        names: RunbookNames, findings: list[dict[str, Any]] | None) -> None:
    s = runbook(fixture, arm_edit, stack_edit, name, rollback, names, findings)
    created = [argv for st in s.steps for argv in akshift_command_lines(st.command) if argv[0] in ("up", "promote")]
    created += [["up", st.command] for st in s.steps if re.search(r"\bpulumi up\b", st.command)]
    if s.route is not Route.BLUE_GREEN:
        assert created == []
        return
    cluster = target(stack_edit, name=name).cluster.name
    assert cluster != current(fixture, arm_edit).name
    stacks = {argv[-1] if argv[0] == "promote" else argv[argv.index("--stack") + 1] for argv in created}
    assert stacks <= {names.stack, names.test_stack}


def test_blue_green_manual_steps_are_only_what_akshift_has_no_command_for() -> None:
    s = runbook("kubenet", None, None, None, False, PROD_NAMES, None)
    assert [st.title for st in s.steps if st.kind is StepKind.MANUAL] == [
        "move what lives in Azure, not in the cluster", "keep the snapshots of the old cluster's disks",
        "retire the old cluster aks-shop-prod"]
    assert "federated credentials for the new cluster's OIDC issuer" in s.steps[6].why  # blue has workload identity


def test_the_source_kubeconfig_and_context_are_printed_as_given_and_never_fetched() -> None:
    s = runbook("azure-cni", None, None, None, False, CONTEXT_NAMES, STATEFUL)
    commands = [st.command for st in s.steps]
    assert not any("get-credentials" in c for c in commands)
    assert commands[0] == "akshift doctor --kubeconfig ~/.kube/config --context aks-shop-prod-admin --arm azure-cni.json"
    assert any(c.startswith("akshift inventory --source ~/.kube/config --source-context aks-shop-prod-admin ") for c in commands)
    assert any("--blue-kubeconfig ~/.kube/config --blue-context aks-shop-prod-admin " in c for c in commands)


def test_without_a_source_kubeconfig_the_runbook_fetches_one_first() -> None:
    s = runbook("kubenet", None, None, None, False, PROD_NAMES, None)
    assert s.steps[0].command == ("az aks get-credentials --resource-group rg-shop-prod --name aks-shop-prod "
                                  "--file aks-shop-prod.kubeconfig")
    assert s.steps[0].kind is StepKind.CHECK


@pytest.mark.parametrize(("findings", "arm_edit", "storage"), [
    pytest.param(STATEFUL, None, Storage.PRESENT, id="doctor_reported_volumes"),
    pytest.param(STATELESS, None, Storage.NONE, id="doctor_found_no_volumes"),
    pytest.param([{"check": "volumes", "severity": "skipped"}], None, Storage.UNKNOWN, id="doctor_without_the_cluster"),
    pytest.param(None, None, Storage.UNKNOWN, id="no_report_and_the_csi_drivers_on"),
    pytest.param(None, lambda d: d.update(storageProfile={"diskCSIDriver": {"enabled": False},
                                                          "fileCSIDriver": {"enabled": False}}),
                 Storage.NONE, id="both_azure_storage_drivers_off_in_arm"),
])
def test_storage_comes_from_doctors_volumes_finding_or_the_arm_storage_profile(
        findings: list[dict[str, Any]] | None, arm_edit: Edit | None, storage: Storage) -> None:
    assert storage_of(current("kubenet", arm_edit), findings) is storage


def test_an_unknown_storage_is_planned_as_stateful_and_says_how_to_know() -> None:
    s = runbook("kubenet", None, None, None, False, PROD_NAMES, None)
    assert s.storage is Storage.UNKNOWN
    assert "volumes move" in " ".join(subcommands(s))
    assert any("--doctor-report doctor.json" in c for c in s.caveats)


def test_stack_name_comes_from_the_stack_file_name() -> None:
    assert stack_name_of(PROD) == "prod"


def test_strategy_json_lists_route_reasons_caveats_and_steps() -> None:
    doc = decide(current(), target(), names=PROD_NAMES).as_dict()
    assert set(doc) == {"schemaVersion", "route", "current", "target", "stack", "storage", "reasons", "caveats", "steps"}
    assert (doc["schemaVersion"], doc["stack"], doc["storage"]) == (1, "prod", "unknown")
    assert set(doc["steps"][0]) == {"title", "kind", "command", "why", "irreversible", "networkProfile", "decision",
                                    "wayBack"}


# --------------------------------------------------------------------------- --execute (fakes for Azure and Pulumi)


class Recorder:
    def __init__(self, summary: dict[str, int] | None = None):
        self.calls: list[tuple[str, ...]] = []
        self.summary = summary if summary is not None else {"same": 14}

    def update(self, sub: str, rg: str, name: str, changes: dict[str, str]) -> dict[str, Any]:
        self.calls.append(("update", sub, rg, name, json.dumps(changes, sort_keys=True)))
        return {}

    def refresh(self) -> dict[str, int]:
        self.calls.append(("refresh",))
        return self.summary


def test_execute_sends_the_network_updates_in_order_then_refreshes() -> None:
    cur = current()
    rec = Recorder()
    done = execute_in_place(decide(cur, target()), cur, update=rec.update, refresh=rec.refresh)
    sub, rg, name = "33333333-3333-3333-3333-333333333333", "rg-akshift-prod", "aks-akshift-prod"
    assert rec.calls == [
        ("update", sub, rg, name, '{"networkPolicy": "none"}'),
        ("update", sub, rg, name, '{"networkPlugin": "azure", "networkPluginMode": "overlay", "podCidr": "10.244.0.0/16"}'),
        ("update", sub, rg, name, '{"networkDataplane": "cilium", "networkPolicy": "cilium"}'),
        ("refresh",),
    ]
    assert done[-1] == "pulumi refresh"


@pytest.mark.parametrize(("arm_name", "arm_edit", "message"), [
    pytest.param("kubenet", None, "this plan is blue-green", id="a_blue_green_plan_is_never_executed"),
    pytest.param("kubenet-prod", service_principal, "do these steps first", id="manual_steps_must_be_done_before_executing"),
])
def test_execute_refuses_and_touches_nothing(arm_name: str, arm_edit: Edit | None, message: str) -> None:
    cur = current(arm_name, arm_edit)
    rec = Recorder()
    with pytest.raises(ExecutionRefused, match=message):
        execute_in_place(decide(cur, target()), cur, update=rec.update, refresh=rec.refresh)
    assert rec.calls == []


def test_execute_fails_when_pulumi_still_plans_a_replacement_after_refresh() -> None:
    cur = current()
    rec = Recorder({"same": 10, "replace": 1})
    with pytest.raises(StepFailed, match="still plans {'replace': 1}"):
        execute_in_place(decide(cur, target()), cur, update=rec.update, refresh=rec.refresh)


# --------------------------------------------------------------------------- CLI


def app() -> typer.Typer:
    from akshift.cli import app as a
    return a


def unwrapped(text: str) -> str:
    """Text without whitespace: rich wraps error lines at the terminal width, inside words too."""
    return re.sub(r"\s+", "", text)


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a subdirectory of the project, as `akshift up` users do: --stack NAME finds stacks/ above."""
    monkeypatch.chdir(ROOT / "docs")
    return ROOT


def test_strategy_cli_prints_the_in_place_runbook_with_irreversible_steps_marked(in_project: Path) -> None:
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet-prod.json"), "--stack", "prod"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("route: in-place (kubenet → overlay-cilium)")
    assert "5. [azure] update kubenet to Azure CNI Overlay (IRREVERSIBLE)" in r.stdout
    assert "$ pulumi stack select prod && pulumi refresh --yes" in r.stdout


def test_strategy_cli_json_for_a_blue_green_plan(in_project: Path) -> None:
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet.json"), "--stack", "prod", "-o", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["route"], doc["stack"], doc["schemaVersion"]) == ("blue-green", "prod", 1)
    assert "akshift config validate ../stacks/Pulumi.prod.yaml" in [st["command"] for st in doc["steps"]]


def test_strategy_cli_stack_file_and_the_source_options_are_printed_as_given(tmp_path: Path) -> None:
    report = tmp_path / "doctor.json"
    report.write_text(json.dumps({"schemaVersion": 1, "findings": STATEFUL}))
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet.json"), "--stack-file", str(PROD),
                              "--source-kubeconfig", "clusters/shop prod.yaml", "--source-context", "shop-admin",
                              "--doctor-report", str(report), "--test-stack", "test", "-o", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["storage"] == "present"
    commands = [st["command"] for st in doc["steps"]]
    assert commands[0].startswith("akshift doctor --kubeconfig 'clusters/shop prod.yaml' --context shop-admin --arm ")
    assert f"akshift config validate {PROD.parent / 'Pulumi.test.yaml'} && akshift config validate {PROD}" in commands


@pytest.mark.parametrize(("args", "cwd", "message"), [
    pytest.param(["--stack", "staging"], "project", "stacks/Pulumi.staging.yaml: no stack staging in the project — fix: "
                 "the project's stacks: prod, sandbox, sandbox-prod, test", id="a_stack_the_project_lacks"),
    pytest.param(["--stack", "prod"], "elsewhere", "no Pulumi.yaml here or above, so stack prod cannot be found",
                 id="a_stack_name_outside_a_project"),
    pytest.param([], "project", "no target stack: pass --stack NAME", id="no_stack_at_all"),
    pytest.param(["--stack-file", "FILE"], "elsewhere", "the file name does not say which stack it is",
                 id="a_stack_file_whose_name_says_no_stack"),
    pytest.param(["--stack", "prod", "--doctor-report", "missing.json"], "project",
                 "missing.json: no such file; write it with `akshift doctor", id="a_missing_doctor_report"),
    pytest.param(["--stack", "prod", "--doctor-report", "JSON"], "project", "findings: missing or not a list",
                 id="a_doctor_report_that_is_not_doctor_output"),
    pytest.param(["--stack", "sandbox"], "project", "stacks/Pulumi.sandbox.yaml: cluster.mode: the stack uses "
                 "cluster.mode 'existing'", id="a_stack_for_an_existing_cluster"),
    pytest.param(["--stack", "prod", "--require-rollback"], "project", "stacks/Pulumi.prod.yaml: the route is "
                 "blue-green, but the stack names the running cluster rg-akshift-prod/aks-akshift-prod",
                 id="a_required_rollback_with_the_running_clusters_name"),
])
def test_strategy_cli_bad_input_exits_2_naming_the_file_or_option(args: list[str], cwd: str, message: str,
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"FILE": tmp_path / "other.yaml", "JSON": tmp_path / "strategy.json"}
    files["FILE"].write_text(PROD.read_text())
    files["JSON"].write_text(json.dumps({"route": "in-place"}))
    monkeypatch.chdir(ROOT if cwd == "project" else tmp_path)
    args = [str(files[a]) if a in files else a for a in args]
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet-prod.json"), *args])
    assert r.exit_code == 2, r.output
    assert unwrapped(message) in unwrapped(r.output)


def test_strategy_cli_with_an_invalid_stack_exits_2_with_its_problems(tmp_path: Path) -> None:
    doc = yaml.safe_load(PROD.read_text())
    doc["config"]["akshift:networking"]["serviceCidr"] = "10.40.0.0/16"  # inside the VNet
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet-prod.json"), "--stack-file", str(bad)])
    assert r.exit_code == 2
    assert "networking.serviceCidr" in r.output


def test_strategy_help_shows_an_example() -> None:
    r = runner.invoke(app(), ["strategy", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "Example: akshift strategy --stack prod --arm current.json" in r.stdout
    example = next(line for line in r.stdout.splitlines() if "Example:" in line).split("Example: akshift ", 1)[1]
    parse_with_cli(shlex.split(example.strip(" │")))


@pytest.mark.parametrize(("arm_name", "extra", "message"), [
    pytest.param("kubenet-prod", [], "add --yes to confirm", id="execute_without_yes_is_refused"),
    pytest.param("kubenet", ["--yes"], "this plan is blue-green", id="execute_of_a_blue_green_plan_is_refused"),
])
def test_strategy_cli_execute_refusals_exit_2(arm_name: str, extra: list[str], message: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    monkeypatch.setattr("doctor.azure.update_network_profile", rec.update)
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / f"{arm_name}.json"), "--stack-file", str(PROD),
                              "--project-dir", str(ROOT), "--execute", *extra])
    assert r.exit_code == 2, r.output
    assert message in r.output.replace("\n", "")
    assert rec.calls == []


def test_strategy_cli_execute_runs_the_updates_and_the_refresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rec = Recorder()
    monkeypatch.setattr("doctor.azure.update_network_profile", rec.update)
    monkeypatch.setattr("doctor.execute.refresh_stack", lambda stack, work_dir, log: (rec.calls.append(("refresh", stack, work_dir)),
                                                                                      {"same": 14})[1])
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet-prod.json"), "--stack-file", str(PROD),
                              "--execute", "--yes", "--project-dir", str(tmp_path), "-o", "json"])
    assert r.exit_code == 0, r.output
    assert [c[0] for c in rec.calls] == ["update", "update", "update", "refresh"]
    assert rec.calls[-1] == ("refresh", "prod", str(tmp_path))


# --------------------------------------------------------------------------- the walkthrough


def walkthrough_commands() -> list[str]:
    """Every ``$ …`` command of docs/walkthrough.md, continuation lines joined, comments dropped."""
    text = (ROOT / "docs" / "walkthrough.md").read_text().replace("\\\n", " ")
    return [line.split("$ ", 1)[1].split("  #", 1)[0].strip() for line in text.splitlines()
            if line.startswith("$ ")]


def test_every_akshift_command_of_the_walkthrough_is_one_the_cli_accepts() -> None:
    commands = walkthrough_commands()
    lines = [argv for c in commands for argv in akshift_command_lines(c) if argv != ["--version"]]
    names = {argv[0] if argv[0] not in ("volumes", "config", "sandbox") else " ".join(argv[:2]) for argv in lines}
    assert {"doctor", "strategy", "up", "migrate", "verify", "promote", "volumes plan", "volumes move",
            "volumes verify", "cutover", "rollback", "decommission", "sandbox up"} <= names
    for argv in lines:
        parse_with_cli(argv)


def test_the_promotion_pages_sandbox_walkthrough_is_the_walkthroughs_up_to_an_interactive_promotion() -> None:
    """docs/promotion.md's sandbox walkthrough runs through tests/engine/test_walkthrough_e2e.py as a subset of
    docs/walkthrough.md's: the same commands, in the same order, then `promote` without `--yes`."""
    from support.walkthrough import blocks, plain

    promotion = [plain(c) for b in blocks(ROOT / "docs" / "promotion.md", "## Sandbox walkthrough") for c in b.commands]
    full = [plain(c) for b in blocks(ROOT / "docs" / "walkthrough.md", "## The same walkthrough in the sandbox")
            for c in b.commands]
    *shared, promote = promotion
    assert promote == "akshift promote sandbox sandbox-prod" and f"{promote} --yes" in full
    before = full[:full.index(f"{promote} --yes")]
    assert [c for c in before if c in shared] == shared, "promotion.md's commands differ from walkthrough.md's"


def test_a_walkthrough_directive_may_only_name_a_command_the_page_tells_the_reader_to_run(tmp_path: Path) -> None:
    from support.walkthrough import blocks

    page = tmp_path / "page.md"
    body = ("## Try it\n\nIn a second terminal, `serve --port 1`.\n\n"
            "<!-- walkthrough-test: background `{cmd}` ready when `ready.txt` exists -->\n\n"
            "```console\n$ curl localhost:1 \\\n    --fail   # a comment\nhello\n$ echo done\n```\n\n## Next\n")
    page.write_text(body.format(cmd="serve --port 1"))
    (block,) = blocks(page, "## Try it")
    assert block.commands == ("curl localhost:1 --fail   # a comment", "echo done")
    assert [(b.command, b.ready) for b in block.background] == [("serve --port 1", "ready.txt")]
    page.write_text(body.format(cmd="rm -rf /"))
    with pytest.raises(ValueError, match="never tells the reader to run"):
        blocks(page, "## Try it")
