"""The plan guard of `akshift up|preview|promote`: a ManagedCluster is never replaced or deleted by accident.

What they pin: the pure guard over planned steps (recorded engine events, as
the Automation API delivers them, stand in for Azure); that the gateway stops
before ``up`` when it refuses and holds ``up`` to the previewed plan otherwise;
and that the CLI reports the refusal with exit code 1 and what to do.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi import automation as auto
from typer.testing import CliRunner

from deploy import engine, events, guards, promotion
from deploy.errors import PlanRefused

from support.fake_stack import FakeAutomationStack

CLUSTER = "azure-native:containerservice:ManagedCluster"
PREFIX = "urn:pulumi:prod::akshift::akshift:index:AksCluster$"


def event(op: str, name: str, type_: str = CLUSTER, keys: list[str] | None = None, seq: int = 1) -> dict[str, Any]:
    """An engine event as recorded in the JSON event log (`pulumi preview --event-log`)."""
    meta = {"op": op, "urn": f"{PREFIX}{type_}::{name}", "type": type_,
            "provider": "urn:pulumi:prod::akshift::pulumi:providers:azure-native::default_3_29_0::id",
            "keys": keys, "diffs": keys, "logical": True}
    return {"sequence": seq, "timestamp": 1795628895, "resourcePreEvent": {"metadata": meta, "planning": True}}


#: What pulumi-azure-native plans when the network profile changes: the cluster is replaced (delete first,
#: since its name is fixed), a node pool updates, the rest stays.
NETWORK_PROFILE_CHANGE = [
    event("same", "aks-rg", "azure-native:resources:ResourceGroup", seq=1),
    event("delete-replaced", "aks-cluster", keys=["networkProfile.networkPlugin"], seq=2),
    event("replace", "aks-cluster", keys=["networkProfile.networkPlugin"], seq=3),
    event("create-replacement", "aks-cluster", keys=["networkProfile.networkPlugin"], seq=4),
    event("update", "aks-pool-apps", "azure-native:containerservice:AgentPool", seq=5),
]


def engine_events(recorded: list[dict[str, Any]]) -> list[auto.events.EngineEvent]:
    return [auto.events.EngineEvent.from_json(copy.deepcopy(e)) for e in recorded]


# --------------------------------------------------------------------------- the pure guard


def test_steps_are_read_from_engine_events_and_from_their_json_alike() -> None:
    from_objects = events.steps_from_events(engine_events(NETWORK_PROFILE_CHANGE))
    from_json = events.steps_from_events(NETWORK_PROFILE_CHANGE)
    assert from_objects == from_json
    assert [(s.op, s.name) for s in from_json][:3] == [("same", "aks-rg"), ("delete-replaced", "aks-cluster"),
                                                      ("replace", "aks-cluster")]
    assert from_json[1].keys == ("networkProfile.networkPlugin",)


def test_a_plan_that_replaces_the_managed_cluster_is_refused_once_with_its_cause() -> None:
    with pytest.raises(PlanRefused) as e:
        guards.check_plan("prod", events.steps_from_events(NETWORK_PROFILE_CHANGE))
    (reason,) = e.value.reasons
    assert "prod: the plan would replace (delete and recreate) the AKS cluster aks-cluster because of " \
           "networkProfile.networkPlugin. Nothing was changed." in reason
    assert "--allow-cluster-replacement" in reason


def test_a_plan_that_deletes_the_managed_cluster_is_refused() -> None:
    with pytest.raises(PlanRefused, match="would delete the AKS cluster aks-cluster"):
        guards.check_plan("test", events.steps_from_events([event("delete", "aks-cluster")]))


@pytest.mark.parametrize("recorded", [
    [event("update", "aks-cluster", keys=None)],
    [event("create", "aks-cluster")],
    [event("replace", "aks-core/ConfigMap/shop/settings", "kubernetes:core/v1:ConfigMap", keys=["data"])],
    [event("delete", "aks-pool-old", "azure-native:containerservice:AgentPool")],
], ids=["cluster update", "cluster create", "other type replaced", "node pool deleted"])
def test_plans_that_keep_the_running_cluster_pass(recorded: list[dict[str, Any]]) -> None:
    guards.check_plan("prod", events.steps_from_events(recorded))


def test_an_explicit_allowance_lets_a_replacement_through() -> None:
    guards.check_plan("prod", events.steps_from_events(NETWORK_PROFILE_CHANGE), allow_cluster_replacement=True)


# --------------------------------------------------------------------------- the gateway (engine replaced)


def recorded_stack(recorded: list[dict[str, Any]], name: str = "prod") -> FakeAutomationStack:
    """A stack whose preview emits recorded events, as the Automation API would; records updates."""
    return FakeAutomationStack(name, events=recorded, changes={"same": 1})


def test_guarded_up_refuses_before_the_update_and_asks_nothing() -> None:
    stack = recorded_stack(NETWORK_PROFILE_CHANGE)
    asked: list[Any] = []
    with pytest.raises(PlanRefused):
        engine.guarded_up(engine.Stack(stack), confirm=lambda p: asked.append(p) or True)
    assert stack.ups == [] and asked == []


def test_guarded_up_applies_exactly_the_previewed_plan_after_confirmation() -> None:
    stack = recorded_stack([event("update", "aks-cluster"), event("same", "aks-rg", "azure-native:resources:ResourceGroup")])
    preview, result = engine.guarded_up(engine.Stack(stack), confirm=lambda p: True)
    assert [s.op for s in preview.changed] == ["update"]
    assert result is not None and stack.ups[0]["plan"] == stack.saved_plan


def test_a_declined_confirmation_runs_no_update() -> None:
    stack = recorded_stack([event("update", "aks-cluster")])
    _, result = engine.guarded_up(engine.Stack(stack), confirm=lambda p: False)
    assert result is None and stack.ups == []


def test_akshift_up_reports_a_refused_cluster_replacement_with_exit_code_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from akshift import cmd_stack

    stack = recorded_stack(NETWORK_PROFILE_CHANGE)
    monkeypatch.setattr(cmd_stack, "_project", lambda *a: object())
    monkeypatch.setattr(promotion, "open_stack", lambda project, name, create=False: engine.Stack(stack))
    from akshift.cli import app as app
    res = CliRunner().invoke(app, ["up", "--stack", "prod", "--yes"])
    assert res.exit_code == 1, res.output
    assert "refused: prod: the plan would replace (delete and recreate) the AKS cluster aks-cluster" in \
        " ".join(res.output.split())
    assert stack.ups == []

    allowed = CliRunner().invoke(app, ["up", "--stack", "prod", "--yes", "--allow-cluster-replacement"])
    assert allowed.exit_code == 0, allowed.output
    assert len(stack.ups) == 1
