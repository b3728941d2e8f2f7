"""``akshift strategy``: in-place or blue-green from recorded ARM descriptions and stack files, the runbook's order,
and ``--execute`` with recording fakes in place of Azure and Pulumi (the test machines have neither).

The in-place candidate is ``kubenet-prod.json``: the prod stack's cluster
(``stacks/Pulumi.prod.yaml``) recorded while it still ran kubenet. Each
blue-green case changes one thing, in the ARM description or in the stack,
and names the key that forced the new cluster.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from akshift import cmd_doctor
from doctor import parse_arm
from doctor.errors import ExecutionRefused, StepFailed, UnsupportedTarget
from doctor.execute import execute_in_place
from doctor.strategy import Route, StepKind, decide, stack_name_of
from stacks import StackConfig, load, read_stack_file

ROOT = Path(__file__).resolve().parents[1]
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


def target(edit: Edit | None = None) -> StackConfig:
    config = copy.deepcopy(read_stack_file(PROD))
    if edit:
        edit(config)
    return load(config)


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
    s = decide(current(), target(), stack="prod")
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
    pytest.param(lambda d: d.update(currentKubernetesVersion="1.35.1"), None, False,
                 ("cluster.kubernetesVersion", "ARM kubernetesVersion"), id="an_older_target_version_means_blue_green"),
])
def test_blue_green_names_the_key_that_rules_out_in_place(arm_edit: Edit | None, stack_edit: Edit | None, rollback: bool,
                                                          keys: tuple[str, ...]) -> None:
    s = decide(current(edit=arm_edit), target(stack_edit), rollback_required=rollback)
    assert s.route is Route.BLUE_GREEN
    assert keys in [r.keys for r in s.reasons], [r.keys for r in s.reasons]


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
    s = decide(current("cilium"), target(networking(mode="overlay", networkPolicy="none")))
    assert s.route is Route.BLUE_GREEN
    assert ("networking.mode", "ARM networkProfile.networkDataplane") in [r.keys for r in s.reasons]


def test_a_stack_for_an_existing_cluster_declares_nothing_to_compare_with() -> None:
    existing = target().model_copy(update={"cluster": SimpleNamespace(mode="existing", name="aks-akshift-prod")})
    with pytest.raises(UnsupportedTarget, match="cluster.mode: the stack uses cluster.mode 'existing'"):
        decide(current(), existing)


# --------------------------------------------------------------------------- the in-place runbook


def test_in_place_runbook_removes_policy_then_moves_to_overlay_then_cilium_then_refreshes_pulumi() -> None:
    s = decide(current(), target(), stack="prod", kubeconfig="old.kubeconfig")
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
    pytest.param(lambda d: d.update(currentKubernetesVersion="1.33.5"), None, "upgrade Kubernetes to 1.34",
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


# --------------------------------------------------------------------------- the blue-green runbook


def test_blue_green_runbook_creates_migrates_cuts_over_and_keeps_a_rollback() -> None:
    s = decide(current("kubenet"), target(), stack="prod", kubeconfig="blue.kubeconfig")
    commands = [st.command for st in s.steps]
    assert "akshift config validate stacks/Pulumi.prod.yaml" in commands
    assert "pulumi stack select prod && pulumi up" in commands
    assert "akshift migrate --source blue.kubeconfig --target new.kubeconfig --out out/migration" in commands
    titles = [st.title for st in s.steps]
    assert titles.index("shift traffic to the new cluster") < titles.index("roll back if needed") < titles.index(
        "retire the old cluster aks-shop-prod")
    assert not any(st.irreversible for st in s.steps)
    assert "federated credentials for the new cluster's OIDC issuer" in s.steps[5].why  # blue has workload identity


def test_stack_name_comes_from_the_stack_file_name() -> None:
    assert stack_name_of(PROD) == "prod"


def test_strategy_json_lists_route_reasons_caveats_and_steps() -> None:
    doc = decide(current(), target()).as_dict()
    assert set(doc) == {"route", "current", "target", "reasons", "caveats", "steps"}
    assert set(doc["steps"][0]) == {"title", "kind", "command", "why", "irreversible", "networkProfile"}


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


def test_strategy_cli_prints_the_in_place_runbook_with_irreversible_steps_marked() -> None:
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet-prod.json"), "--stack", str(PROD)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("route: in-place (kubenet → overlay-cilium)")
    assert "4. [azure] update kubenet to Azure CNI Overlay (IRREVERSIBLE)" in r.stdout


def test_strategy_cli_json_for_a_blue_green_plan() -> None:
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet.json"), "--stack", str(PROD), "-o", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["route"] == "blue-green"


def test_strategy_cli_with_an_invalid_stack_exits_2_with_its_problems(tmp_path: Path) -> None:
    doc = yaml.safe_load(PROD.read_text())
    doc["config"]["akshift:networking"]["serviceCidr"] = "10.40.0.0/16"  # inside the VNet
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet-prod.json"), "--stack", str(bad)])
    assert r.exit_code == 2
    assert "networking.serviceCidr" in r.output


@pytest.mark.parametrize(("arm_name", "extra", "message"), [
    pytest.param("kubenet-prod", [], "add --yes to confirm", id="execute_without_yes_is_refused"),
    pytest.param("kubenet", ["--yes"], "this plan is blue-green", id="execute_of_a_blue_green_plan_is_refused"),
])
def test_strategy_cli_execute_refusals_exit_2(arm_name: str, extra: list[str], message: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    monkeypatch.setattr("doctor.azure.update_network_profile", rec.update)
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / f"{arm_name}.json"), "--stack", str(PROD),
                              "--execute", *extra])
    assert r.exit_code == 2, r.output
    assert message in r.output.replace("\n", "")
    assert rec.calls == []


def test_strategy_cli_execute_runs_the_updates_and_the_refresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rec = Recorder()
    monkeypatch.setattr("doctor.azure.update_network_profile", rec.update)
    monkeypatch.setattr("doctor.execute.refresh_stack", lambda stack, work_dir, log: (rec.calls.append(("refresh", stack, work_dir)),
                                                                                      {"same": 14})[1])
    r = runner.invoke(app(), ["strategy", "--arm", str(FIXTURES / "kubenet-prod.json"), "--stack", str(PROD),
                              "--execute", "--yes", "--work-dir", str(tmp_path), "-o", "json"])
    assert r.exit_code == 0, r.output
    assert [c[0] for c in rec.calls] == ["update", "update", "update", "refresh"]
    assert rec.calls[-1] == ("refresh", "prod", str(tmp_path))
