"""The engine gateway's own parts, without an engine: events, the confinement guard, config edits, failures.

What they pin: an engine event means the same whether it arrives as an
Automation API object or as a line of the JSON event log (step, progress,
failure, diagnostic); a plan confined to the traffic switch lets the switch and
its children change and refuses everything else by name; config is read and
written by path and put back exactly (a key that was absent is removed again);
the Automation API's failures reach callers only as ``EngineError`` and its
two subclasses, with the kind that decides the exit code; the update is held
to the plan the preview saved.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from deploy import engine, events, guards
from deploy.backend import Backend
from deploy.errors import EngineError, PlanNotConfined, StackBusy, StackNotFound
from errors import ErrorKind

from support.fake_stack import FakeAutomationStack, command_error

SWITCH = "akshift:index:TrafficSwitch"
URN = "urn:pulumi:prod::akshift::"


def meta(op: str, name: str, type_: str, parent: str = "") -> dict[str, Any]:
    urn = f"{URN}{parent + '$' if parent else ''}{type_}::{name}"
    return {"op": op, "urn": urn, "type": type_, "provider": "", "keys": ["dnsConfig"] if op == "replace" else None}


RECORDED = [
    {"sequence": 1, "timestamp": 0, "preludeEvent": {"config": {}}},
    {"sequence": 2, "timestamp": 0,
     "resourcePreEvent": {"metadata": meta("replace", "traffic-profile", "azure-native:trafficmanager:Profile", SWITCH)}},
    {"sequence": 3, "timestamp": 0,
     "diagnosticEvent": {"message": "  error: Conflict: weight 0 is outside 1..1000\n", "color": "never",
                         "severity": "error", "urn": f"{URN}{SWITCH}::traffic"}},
    {"sequence": 4, "timestamp": 0,
     "resOpFailedEvent": {"metadata": meta("replace", "traffic-profile", "azure-native:trafficmanager:Profile", SWITCH),
                          "status": 1, "steps": 1}},
    {"sequence": 5, "timestamp": 0,
     "resOutputsEvent": {"metadata": meta("same", "aks-rg", "azure-native:resources:ResourceGroup")}},
]


# --------------------------------------------------------------------------- events


def test_an_event_means_the_same_as_an_automation_api_object_and_as_a_json_log_line() -> None:
    objects = [auto.events.EngineEvent.from_json(copy.deepcopy(e)) for e in RECORDED]
    assert [events.parse(e) for e in objects] == [events.parse(e) for e in RECORDED]


def test_events_say_which_step_is_planned_which_finished_which_failed_and_what_went_wrong() -> None:
    parsed = [events.parse(e) for e in RECORDED]
    assert parsed[0] == events.Event()  # a prelude is of no interest
    assert parsed[1].step == events.Step("replace", RECORDED[1]["resourcePreEvent"]["metadata"]["urn"],
                                         "azure-native:trafficmanager:Profile", ("dnsConfig",))
    assert not parsed[1].done
    assert parsed[2].diagnostic == events.Diagnostic("error", "error: Conflict: weight 0 is outside 1..1000",
                                                     f"{URN}{SWITCH}::traffic")
    assert parsed[3].done and parsed[3].failed is not None and parsed[3].failed.name == "traffic-profile"
    assert parsed[4].done and parsed[4].failed is None
    assert [s.name for s in events.failures(RECORDED)] == ["traffic-profile"]
    assert [s.op for s in events.steps_from_events(RECORDED)] == ["replace"]


def test_a_step_names_what_changes_by_the_providers_detailed_diff_else_by_property() -> None:
    detailed = {**meta("update", "redis", "kubernetes:apps/v1:StatefulSet"), "diffs": ["spec"],
                "detailedDiff": {"spec.replicas": {"diffKind": "update", "inputDiff": True}}}
    plain = {**meta("update", "aks-rg", "azure-native:resources:ResourceGroup"), "diffs": ["tags"]}
    for m, want in ((detailed, ("spec.replicas",)), (plain, ("tags",))):
        event = {"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": m}}
        obj = auto.events.EngineEvent.from_json(copy.deepcopy(event))
        assert events.parse(event).step.diffs == events.parse(obj).step.diffs == want  # type: ignore[union-attr]


def test_a_step_knows_its_parents_from_its_urn() -> None:
    step = events.steps_from_events(RECORDED)[0]
    assert step.parents == (SWITCH,) and step.name == "traffic-profile"
    assert events.Step("same", f"{URN}pulumi:pulumi:Stack::akshift-prod", "pulumi:pulumi:Stack").parents == ()


# --------------------------------------------------------------------------- only the switch may change


def step(op: str, name: str, type_: str, parent: str = "") -> events.Step:
    m = meta(op, name, type_, parent)
    return events.Step(m["op"], m["urn"], m["type"])


def test_only_changes_inside_the_traffic_switch_may_ride_along_a_weight_step() -> None:
    changes = [step("update", "traffic-profile", "azure-native:trafficmanager:Profile", SWITCH),
               step("same", "aks-cluster", "azure-native:containerservice:ManagedCluster", "akshift:index:AksCluster"),
               step("update", "aks-vnet", "azure-native:network:VirtualNetwork", "akshift:index:ClusterNetwork")]
    assert [f"{s.op} {s.type} {s.name}" for s in guards.steps_outside(changes, SWITCH)] == \
        ["update azure-native:network:VirtualNetwork aks-vnet"]


@pytest.mark.parametrize("steps", [
    [step("update", "traffic-origin-green", "azure-native:cdn:AFDOrigin", SWITCH)],
    [step("update", "traffic", SWITCH)],
    [step("update", "akshift-prod", "pulumi:pulumi:Stack")],
    [step("same", "aks-cluster", "azure-native:containerservice:ManagedCluster"),
     step("read", "platform", "pulumi:pulumi:StackReference"), step("refresh", "aks-rg", "azure-native:resources:ResourceGroup")],
], ids=["a child of the switch", "the switch itself", "the stack's outputs", "nothing changes outside"])
def test_plans_confined_to_the_switch_pass(steps: list[events.Step]) -> None:
    guards.check_confined("prod", steps, SWITCH)


def test_a_plan_that_changes_anything_outside_the_switch_is_refused_naming_each_change_once() -> None:
    cluster = "azure-native:containerservice:ManagedCluster"
    plan = [step("update", "traffic-profile", "azure-native:trafficmanager:Profile", SWITCH),
            step("replace", "aks-cluster", cluster, "akshift:index:AksCluster"),
            step("replace", "aks-cluster", cluster, "akshift:index:AksCluster"),
            step("create", "aks-pool-new", "azure-native:containerservice:AgentPool", "akshift:index:AksCluster")]
    with pytest.raises(PlanNotConfined) as e:
        guards.check_confined("prod", plan, SWITCH)
    assert [(s.op, s.name) for s in e.value.steps] == [("replace", "aks-cluster"), ("create", "aks-pool-new")]
    assert e.value.reasons[0] == (f"prod: the plan would also replace {cluster} aks-cluster, which is outside {SWITCH}."
                                  " Nothing was changed")


# --------------------------------------------------------------------------- the stack handle


def test_config_is_read_by_path_and_put_back_exactly_removing_what_was_absent() -> None:
    raw = FakeAutomationStack(config={"akshift:traffic": {"weights": {"blue": 100, "green": 0}, "dnsTtl": 30},
                                      "akshift:cluster": {"name": "green"}})
    stack = engine.Stack(raw)
    assert stack.config("akshift:traffic.weights.blue") == "100"
    assert stack.config("akshift:traffic.weights") == '{"blue": 100, "green": 0}'
    assert stack.config("akshift:cluster.name") == "green"
    assert stack.config("akshift:traffic.weights.red") is None and stack.config("akshift:nothing") is None
    before = stack.set_configs({"akshift:traffic.weights.blue": "90", "akshift:traffic.weights.red": "10"})
    assert before == {"akshift:traffic.weights.blue": "100", "akshift:traffic.weights.red": None}
    assert raw.config_at("akshift:traffic.weights") == {"blue": 90, "green": 0, "red": 10}
    stack.restore_config(before)
    assert raw.config_at("akshift:traffic.weights") == {"blue": 100, "green": 0}


def test_setting_several_config_values_is_all_or_nothing() -> None:
    raw = FakeAutomationStack(config={"akshift:traffic": {"weights": {"blue": 100, "green": 0}}})
    calls = 0
    real_set = raw.set_config

    def flaky_set(key: str, value: Any, *, path: bool = False) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise command_error("error: the passphrase is wrong")
        real_set(key, value, path=path)

    raw.set_config = flaky_set  # type: ignore[method-assign]
    with pytest.raises(EngineError):
        engine.Stack(raw).set_configs({"akshift:traffic.weights.blue": "90", "akshift:traffic.weights.green": "10"})
    assert raw.config_at("akshift:traffic.weights") == {"blue": 100, "green": 0}


@pytest.mark.parametrize("raised, error, kind", [
    (command_error("error: no stack named 'prod' found", auto.StackNotFoundError), StackNotFound, ErrorKind.BAD_INPUT),
    (command_error("error: [409] Conflict: Another update is currently in progress.", auto.ConcurrentUpdateError),
     StackBusy, ErrorKind.ENVIRONMENT),
    (command_error("warning: x\nerror: update failed\n  the plan did not allow it"), EngineError, ErrorKind.FAILED),
], ids=["no such stack", "busy", "failed"])
def test_engine_failures_reach_callers_as_engine_errors_of_the_right_kind(
    raised: auto.CommandError, error: type[EngineError], kind: ErrorKind
) -> None:
    stack = engine.Stack(FakeAutomationStack(fail_on={"up": raised}))
    with pytest.raises(error) as e:
        stack.up()
    assert type(e.value) is error and e.value.kind is kind
    headline, first, *_ = str(e.value).splitlines()
    assert headline == "the Pulumi engine failed (up prod):" and "error: " in first  # from the first error line on
    assert isinstance(e.value.__cause__, auto.CommandError)


def test_the_update_is_held_to_the_plan_the_guarded_preview_saved(tmp_path: Path) -> None:
    raw = FakeAutomationStack(steps=[("update", f"{URN}{SWITCH}::traffic", SWITCH)])
    stack = engine.Stack(raw)
    preview = engine.guarded_preview(stack, tmp_path, confine_to=SWITCH)
    assert preview.plan is not None and preview.plan.parent == tmp_path and preview.plan.exists()
    engine.up_to_plan(stack, preview)
    assert raw.calls[-1][1]["plan"] == str(preview.plan)
    with pytest.raises(ValueError, match="saved no plan"):
        engine.up_to_plan(stack, engine.Preview("prod", preview.steps, {}, None))


WL = "akshift:index:MigratedWorkloads"
SIG = "4dabf18193072939515e22adb298388d"  # the engine's secret signature key, as in real events


def written(op: str, type_: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any], *,
            custom: bool = True, planning: bool = False) -> dict[str, Any]:
    """A ``ResOutputsEvent`` as the real engine records it for a resource an update wrote (shapes from a
    `pulumi up` of MigratedWorkloads against a sandbox cluster, 2026-12-02)."""
    urn = f"{URN}{WL}${type_}::{name}"
    new = {"type": type_, "urn": urn, "custom": custom, "inputs": inputs, "outputs": outputs}
    return {"sequence": 1, "timestamp": 0, "resOutputsEvent": {
        "metadata": {"op": op, "urn": urn, "type": type_, "provider": "", "new": new}, "planning": planning}}


def sts(annotations: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "redis", "namespace": "data"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
            "spec": {"replicas": 1, "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}


FORCE = {"pulumi.com/patchForce": "true"}
SECRET_IN = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "data"},
             "data": {SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"}}
CRD_IN = {"spec": {"versions": [{"schema": {"openAPIV3Schema": {"properties": {"spec": {
    "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}
CRD_OUT = {"metadata": {"generation": 1}, "spec": {"versions": [{"schema": {"openAPIV3Schema": {"properties": {"spec": {
    "type": "object", "x_kubernetes_preserve_unknown_fields": True}}}}}]}}
UP_EVENTS = [
    # The race: the await recorded the adopted StatefulSet as it was before the provider's apply.
    written("create", "kubernetes:apps/v1:StatefulSet", "aks-apps/StatefulSet/data/redis", sts(FORCE), sts(None)),
    written("replace", "kubernetes:apps/v1:StatefulSet", "aks-apps/StatefulSet/data/redis", sts(FORCE), sts(None)),
    written("update", "kubernetes:apps/v1:Deployment", "aks-apps/Deployment/data/api",
            {"metadata": {"labels": {"tier": "api"}}}, {"metadata": {"labels": {"tier": "api", "x": "y"}}}),
    written("create", "kubernetes:core/v1:Secret", "core/Secret/data/creds", SECRET_IN,
            {**SECRET_IN, "metadata": {**SECRET_IN["metadata"], "uid": "u"}}),
    written("create", "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "crd", CRD_IN, CRD_OUT),
    written("create", "kubernetes:helm.sh/v3:Release", "cilium", {"values": {"a": 1}}, {"values": {"a": 2}}),
    written("create", WL, "workloads", {"x": 1}, {}, custom=False),
    written("same", "kubernetes:core/v1:ConfigMap", "same-cm", {"data": {"a": "1"}}, {"data": {"a": "0"}}),
    written("create", "kubernetes:core/v1:ConfigMap", "planned-cm", {"data": {"a": "1"}}, {}, planning=True),
]


def test_an_update_that_recorded_an_object_older_than_its_write_reads_back_exactly_that_one() -> None:
    raw = FakeAutomationStack(up_events=UP_EVENTS)
    seen: list[Any] = []
    result = engine.Stack(raw).up(on_event=seen.append)
    stale = UP_EVENTS[0]["resOutputsEvent"]["metadata"]["urn"]
    assert len(seen) == len(UP_EVENTS)  # the caller still sees every event
    assert [args["target"] for op, args in raw.calls if op == "refresh"] == [[stale]]
    assert result.reread == (stale,) and result.succeeded


def test_an_update_whose_records_hold_what_it_wrote_refreshes_nothing() -> None:
    raw = FakeAutomationStack(up_events=UP_EVENTS[2:])
    assert engine.Stack(raw).up().reread == ()
    assert [op for op, _ in raw.calls] == ["up"]


def test_many_stale_records_are_read_back_in_batches_that_fit_a_command_line() -> None:
    many = [written("create", "kubernetes:apps/v1:StatefulSet", f"s{i}", sts(FORCE), sts(None))
            for i in range(engine.REREAD_BATCH + 1)]
    raw = FakeAutomationStack(up_events=many)
    result = engine.Stack(raw).up()
    assert [len(args["target"]) for op, args in raw.calls if op == "refresh"] == [engine.REREAD_BATCH, 1]
    assert len(result.reread) == engine.REREAD_BATCH + 1


def test_the_project_program_is_handed_the_outputs_of_the_last_deployment_read_before_the_engine_runs() -> None:
    # The program's guard (mode new → existing) needs the stack's last clusterId; a read while the update writes
    # the state fails it ("failed to load checkpoint: EOF", the fake raises that as a file backend would).
    raw = FakeAutomationStack(outputs_of=lambda config: {"clusterId": "/subscriptions/s/aks-blue"})
    handed: list[Any] = []
    stack = engine.Stack(raw, program=lambda last: handed.append(dict(last) if last is not None else None))
    stack.preview()
    stack.up()
    assert handed == [{"clusterId": "/subscriptions/s/aks-blue"}] * 2


def test_the_backend_decides_where_state_lives_even_when_the_environment_says_otherwise() -> None:
    backend = Backend("file:///runs/1/pulumi", "file", None, {"PULUMI_BACKEND_URL": "file:///runs/1/pulumi"})
    e = engine.Engine(Path("/opt/pulumi"), {"PULUMI_BACKEND_URL": "file://~", "PULUMI_HOME": "/h"}, backend)
    assert e.variables["PULUMI_BACKEND_URL"] == "file:///runs/1/pulumi" and e.variables["PULUMI_HOME"] == "/h"


def test_a_failed_read_back_is_an_engine_error_that_says_the_update_itself_succeeded() -> None:
    raw = FakeAutomationStack(up_events=UP_EVENTS[:1], fail_on={"refresh": command_error("error: unreachable")})
    with pytest.raises(EngineError, match="the update succeeded; reading back 1 object") as e:
        engine.Stack(raw).up()
    assert e.value.kind is ErrorKind.FAILED and [op for op, _ in raw.calls] == ["up", "refresh"]
