"""Construction tests of ``components.traffic.TrafficSwitch`` under ``pulumi.runtime.set_mocks``.

What they pin: the ARM payload of each switch kind (Traffic Manager weighted
profile with inline endpoints; Front Door profile, endpoint, origin group,
origins and route), that 0% becomes a disabled endpoint (Azure's weights are
1..1000), parenting of every child, the outputs, and that invalid arguments
name their stack-config keys and register nothing.

The harness records each RegisterResource request with the inputs the mocks
received, like tests/mocks/test_components.py (kept local: that module's harness is
not importable from another test module).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.traffic import (
    SwitchKind,
    TrafficEndpoint,
    TrafficSwitch,
    TrafficSwitchArgs,
    arm_weight,
    validate,
)
from stacks.errors import ConfigError

from support import pulumi_harness as harness
from support.pulumi_harness import Registered

PIP = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/pip-blue"


def _azure_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """How the fake Azure answers: outputs as ARM returns them."""
    state = dict(inputs)
    if typ == "azure-native:trafficmanager:Profile":
        state["dnsConfig"] = {**state["dnsConfig"], "fqdn": f"{state['dnsConfig']['relativeName']}.trafficmanager.net"}
    if typ == "azure-native:cdn:AFDEndpoint":
        state["hostName"] = f"{inputs['endpointName']}-abc.z01.azurefd.net"
    arm_name_key = {"Profile": "profileName", "AFDEndpoint": "endpointName", "AFDOriginGroup": "originGroupName",
                    "AFDOrigin": "originName", "Route": "routeName"}.get(typ.rsplit(":", 1)[-1], "")
    state["name"] = inputs.get(arm_name_key, name)  # like ARM: outputs carry the Azure name
    return f"/subscriptions/s/resourceGroups/rg/providers/mock/{name}", state


def run(program: Callable[[], Any]) -> list[Registered]:
    return harness.run(program, _azure_state, stack="traffic")


def args(kind: SwitchKind = SwitchKind.TRAFFIC_MANAGER, weights: dict[str, int] | None = None,
         **kw: Any) -> TrafficSwitchArgs:
    if kind is SwitchKind.TRAFFIC_MANAGER:
        endpoints = (TrafficEndpoint("blue", target_resource_id=PIP), TrafficEndpoint("green", target="20.1.2.3"))
    else:
        endpoints = (TrafficEndpoint("blue", target="blue.shop.example.com"),
                     TrafficEndpoint("green", target="green.shop.example.com", host_header="shop.example.com"))
    return TrafficSwitchArgs("rg-traffic", "tm-shop", endpoints, weights or {"blue": 90, "green": 10}, kind=kind, **kw)


def one(items: list[Registered], suffix: str) -> Registered:
    found = [r for r in items if r.type.endswith(suffix)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_traffic_manager_switch_is_one_weighted_profile_with_inline_endpoints() -> None:
    items = run(lambda: TrafficSwitch("traffic", args(dns_ttl=30)))
    profile = one(items, "trafficmanager:Profile")
    assert profile.name == "traffic-profile" and profile.parent == "akshift:index:TrafficSwitch"
    i = profile.inputs
    assert (i["profileName"], i["resourceGroupName"], i["location"]) == ("tm-shop", "rg-traffic", "global")
    assert i["trafficRoutingMethod"] == "Weighted" and i["profileStatus"] == "Enabled"
    assert i["dnsConfig"] == {"relativeName": "tm-shop", "ttl": 30}
    assert i["monitorConfig"] == {"protocol": "HTTPS", "port": 443, "path": "/healthz", "intervalInSeconds": 30,
                                  "timeoutInSeconds": 10, "toleratedNumberOfFailures": 3}
    assert i["endpoints"] == [
        {"name": "blue", "type": "Microsoft.Network/trafficManagerProfiles/azureEndpoints",
         "targetResourceId": PIP, "weight": 90, "endpointStatus": "Enabled"},
        {"name": "green", "type": "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
         "target": "20.1.2.3", "weight": 10, "endpointStatus": "Enabled"},
    ]
    assert {r.type for r in items} == {"akshift:index:TrafficSwitch", "azure-native:trafficmanager:Profile"}


def test_a_zero_weight_is_a_disabled_endpoint_because_azure_accepts_only_1_to_1000() -> None:
    items = run(lambda: TrafficSwitch("traffic", args(weights={"blue": 100, "green": 0})))
    endpoints = {e["name"]: e for e in one(items, "trafficmanager:Profile").inputs["endpoints"]}
    assert (endpoints["green"]["weight"], endpoints["green"]["endpointStatus"]) == (1, "Disabled")
    assert (endpoints["blue"]["weight"], endpoints["blue"]["endpointStatus"]) == (100, "Enabled")


@pytest.mark.parametrize("percent,expected", [(0, (1, False)), (1, (1, True)), (50, (50, True)), (100, (100, True))],
                         ids=["zero-disabled", "one", "half", "all"])
def test_arm_weight_maps_percent_to_azure_weight_and_status(percent: int, expected: tuple[int, bool]) -> None:
    assert arm_weight(percent) == expected


def test_front_door_switch_has_an_origin_per_cluster_weighted_and_a_route_created_after_them() -> None:
    items = run(lambda: TrafficSwitch("traffic", args(SwitchKind.FRONT_DOOR, {"blue": 50, "green": 50})))
    assert {r.name for r in items if r.type.startswith("azure-native:")} == {
        "traffic-profile", "traffic-endpoint", "traffic-origins", "traffic-origin-blue", "traffic-origin-green",
        "traffic-route"}
    assert all(r.parent == "akshift:index:TrafficSwitch" for r in items if r.type.startswith("azure-native:"))
    assert one(items, "cdn:Profile").inputs["sku"] == {"name": "Standard_AzureFrontDoor"}
    group = one(items, "cdn:AFDOriginGroup").inputs
    assert group["sessionAffinityState"] == "Disabled"
    assert group["healthProbeSettings"] == {"probePath": "/healthz", "probeProtocol": "Https", "probeRequestType": "GET",
                                            "probeIntervalInSeconds": 30}
    origins = {r.inputs["originName"]: r.inputs for r in items if r.type.endswith("cdn:AFDOrigin")}
    assert origins["green"]["weight"] == 50 and origins["green"]["enabledState"] == "Enabled"
    assert origins["green"]["hostName"] == "green.shop.example.com"
    assert origins["green"]["originHostHeader"] == "shop.example.com"
    assert origins["blue"]["originHostHeader"] == "blue.shop.example.com"
    assert {o["originGroupName"] for o in origins.values()} == {"clusters"}
    route = one(items, "cdn:Route")
    assert route.inputs["patternsToMatch"] == ["/*"] and route.inputs["originGroup"]["id"].endswith("traffic-origins")
    assert {d.rsplit("::", 1)[-1] for d in route.dependencies} >= {"traffic-origin-blue", "traffic-origin-green"}


def test_front_door_origin_at_zero_is_disabled() -> None:
    items = run(lambda: TrafficSwitch("traffic", args(SwitchKind.FRONT_DOOR, {"blue": 0, "green": 100})))
    origins = {r.inputs["originName"]: r.inputs for r in items if r.type.endswith("cdn:AFDOrigin")}
    assert (origins["blue"]["weight"], origins["blue"]["enabledState"]) == (1, "Disabled")


def test_outputs_are_the_public_name_and_the_profile_id() -> None:
    seen: dict[str, Any] = {}

    def program() -> Any:
        tm = TrafficSwitch("tm", args())
        fd = TrafficSwitch("fd", args(SwitchKind.FRONT_DOOR))
        return pulumi.Output.all(tm.fqdn, tm.profile_id, fd.fqdn).apply(lambda v: seen.update(zip("abc", v, strict=True)))

    run(program)
    assert seen["a"] == "tm-shop.trafficmanager.net"
    assert seen["b"].endswith("/tm-profile")
    assert seen["c"] == "tm-shop-abc.z01.azurefd.net"


@pytest.mark.parametrize("changes,keys", [
    ({"weights": {"blue": 100}}, ["traffic.weights.green"]),
    ({"weights": {"blue": 0, "green": 0}}, ["traffic.weights"]),
    ({"weights": {"blue": 50, "green": 150}}, ["traffic.weights.green"]),
    ({"weights": {"blue": 50, "green": 50, "red": 0}}, ["traffic.weights.red"]),
    ({"endpoints": (TrafficEndpoint("blue", target="a", target_resource_id=PIP), TrafficEndpoint("green", target="b"))},
     ["traffic.endpoints[0].target"]),
    ({"endpoints": (TrafficEndpoint("blue", target="a"),)}, ["traffic.endpoints", "traffic.weights.green"]),
    ({"dns_ttl": -1}, ["traffic.dnsTtl"]),
], ids=["missing-weight", "all-zero", "not-a-percentage", "unknown-endpoint", "both-targets", "one-endpoint",
        "negative-ttl"])
def test_invalid_switch_arguments_name_their_stack_config_keys(changes: dict[str, Any], keys: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        validate(dataclasses.replace(args(), **changes))
    assert sorted(p.key for p in e.value.problems) == sorted(keys)


def test_front_door_origin_without_a_host_name_is_refused() -> None:
    bad = dataclasses.replace(args(SwitchKind.FRONT_DOOR),
                              endpoints=(TrafficEndpoint("blue", target="b.example"), TrafficEndpoint("green")))
    with pytest.raises(ConfigError, match="Front Door origins need target"):
        validate(bad)


def test_an_invalid_switch_registers_nothing() -> None:
    def program() -> None:
        with pytest.raises(ConfigError):
            TrafficSwitch("traffic", args(weights={"blue": 0, "green": 0}))

    assert run(program) == []


# --------------------------------------------------------------------------- composed by the program (issue 16)


def _prod_with_traffic(kind: str) -> dict[str, Any]:
    from support.stack_files import mutate, stack_config

    pip = PIP.replace("/subscriptions/s/", "/subscriptions/00000000-0000-0000-0000-000000000000/")
    endpoints = ([{"name": "blue", "targetResourceId": pip}, {"name": "green", "target": "20.1.2.3"}]
                 if kind == "trafficManager" else
                 [{"name": "blue", "target": "blue.shop.example.com"}, {"name": "green", "target": "green.shop.example.com"}])
    return mutate(stack_config("prod"), {"traffic": {"kind": kind, "profileName": "shop-switch", "endpoints": endpoints,
                                                     "weights": {"blue": 90, "green": 10}}})


@pytest.mark.parametrize("kind", ["trafficManager", "frontDoor"])
def test_a_prod_stack_with_a_traffic_section_declares_the_switch_and_exports_the_weights_azure_reports(kind: str) -> None:
    from test_components import run_main

    rec = run_main(_prod_with_traffic(kind), stack="prod")
    switch = [r for r in rec.items if r.type == "akshift:index:TrafficSwitch"]
    assert [r.name for r in switch] == ["aks-traffic"]
    assert rec.exports["traffic"]["weights"] == {"blue": 90, "green": 10}
    if kind == "trafficManager":
        [profile] = [r for r in rec.items if r.type == "azure-native:trafficmanager:Profile"]
        assert profile.inputs["resourceGroupName"] == "rg-akshift-prod"
        assert {e["name"]: (e["weight"], e["endpointStatus"]) for e in profile.inputs["endpoints"]} == \
            {"blue": (90, "Enabled"), "green": (10, "Enabled")}
    else:
        origins = {r.inputs["originName"]: r.inputs["weight"] for r in rec.items if r.type == "azure-native:cdn:AFDOrigin"}
        assert origins == {"blue": 90, "green": 10}


def test_a_zero_weight_is_read_back_as_zero_although_azure_holds_weight_1_disabled() -> None:
    from test_components import run_main

    config = _prod_with_traffic("trafficManager")
    config["akshift:traffic"]["weights"] = {"blue": 100, "green": 0}
    rec = run_main(config, stack="prod")
    [profile] = [r for r in rec.items if r.type == "azure-native:trafficmanager:Profile"]
    assert {e["name"]: (e["weight"], e["endpointStatus"]) for e in profile.inputs["endpoints"]}["green"] == (1, "Disabled")
    assert rec.exports["traffic"]["weights"] == {"blue": 100, "green": 0}
