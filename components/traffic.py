"""``TrafficSwitch``: the weighted switch in front of blue and green — Azure Traffic Manager or Front Door.

Why it is shaped so: a blue-green cutover moves users by changing weights,
and the weights must be reviewable, repeatable and reversible — so they are
stack config (``akshift:traffic.weights``), and every step of ``akshift
cutover`` is an ``up`` of this component with new weights
(:class:`cutover.routers.PulumiTrafficRouter`). The component takes plain
values; which resources exist depends only on ``kind``:

* ``trafficManager`` (default): one ``trafficmanager.Profile`` with the
  ``Weighted`` routing method and its endpoints *inline*, so a step is one
  update of one resource and the profile never holds an endpoint Pulumi does
  not know. Endpoints are ``AzureEndpoints`` (a public IP's resource ID) or
  ``ExternalEndpoints`` (the ingress FQDN or IP). Traffic Manager answers DNS,
  so ``dnsTtl`` bounds how fast a step takes effect; keep it low (30 s) and
  hold each step at least twice as long (the cutover's preflight checks).
* ``frontDoor``: a Standard Front Door profile, one endpoint, one origin group
  with an origin per cluster (its weight), and one catch-all route. Front Door
  weighs each request at the edge: no DNS TTL to wait for.

Both services accept weights 1..1000 only, so a weight of 0 is sent as an
endpoint/origin that is *Disabled* (with weight 1): it gets no traffic, and it
stays declared so that rolling back is again only a weight change.
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import cdn, trafficmanager

from stacks.errors import ConfigError, Problem
from stacks.rules import traffic_switch_problems

TOKEN = "akshift:index:TrafficSwitch"
TM_TYPES = {"azure": "Microsoft.Network/trafficManagerProfiles/azureEndpoints",
            "external": "Microsoft.Network/trafficManagerProfiles/externalEndpoints"}
ORIGIN_GROUP = "clusters"


class SwitchKind(str, enum.Enum):
    TRAFFIC_MANAGER = "trafficManager"
    FRONT_DOOR = "frontDoor"


@dataclasses.dataclass(frozen=True)
class TrafficEndpoint:
    """One cluster behind the switch.

    Attributes:
        name: the endpoint/origin name, also its key in ``weights`` (``blue``, ``green``).
        target: FQDN or IP of the cluster's ingress (Traffic Manager ``ExternalEndpoints``;
            Front Door origin host name).
        target_resource_id: resource ID of the ingress's public IP (Traffic Manager
            ``AzureEndpoints``; the IP needs a DNS label). Exactly one of the two for Traffic Manager.
        host_header: Host header Front Door sends to the origin (default: ``target``).
    """

    name: str
    target: str | None = None
    target_resource_id: pulumi.Input[str] | None = None
    host_header: str | None = None


@dataclasses.dataclass(frozen=True)
class HealthProbe:
    """How the switch itself probes each endpoint (it stops routing to one that fails)."""

    protocol: str = "HTTPS"
    port: int = 443
    path: str = "/healthz"
    interval_seconds: int = 30
    timeout_seconds: int = 10
    tolerated_failures: int = 3


@dataclasses.dataclass(frozen=True)
class TrafficSwitchArgs:
    """Inputs of :class:`TrafficSwitch`.

    Attributes:
        resource_group_name: resource group of the profile.
        profile_name: Azure name of the profile (also the Traffic Manager DNS label
            unless ``relative_dns_name`` is set, and the Front Door endpoint name).
        endpoints: the clusters, in order (blue first by convention).
        weights: percent of traffic by endpoint name (``{"blue": 90, "green": 10}``).
        kind: Traffic Manager (default) or Front Door.
        dns_ttl: Traffic Manager DNS TTL in seconds.
        relative_dns_name: Traffic Manager DNS label (``<label>.trafficmanager.net``).
        probe: the switch's own health probe.
        tags: tags for the profile.
    """

    resource_group_name: pulumi.Input[str]
    profile_name: str
    endpoints: tuple[TrafficEndpoint, ...]
    weights: Mapping[str, int]
    kind: SwitchKind = SwitchKind.TRAFFIC_MANAGER
    dns_ttl: int = 30
    relative_dns_name: str | None = None
    probe: HealthProbe = HealthProbe()
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------- pure builders


def validate(args: TrafficSwitchArgs) -> None:
    """Check the arguments, reporting every problem with the stack-config key it comes from.

    The rules are the stack's own (:func:`stacks.rules.traffic_switch_problems`), so `akshift config
    validate` and the component refuse the same things.

    Raises:
        ConfigError: naming ``traffic.endpoints[i]…``, ``traffic.weights.<name>`` or ``traffic.dnsTtl``.
    """
    resource_ids = [e.target_resource_id if e.target_resource_id is None or isinstance(e.target_resource_id, str)
                    else "/providers/Microsoft.Network/publicIPAddresses/(an output)" for e in args.endpoints]
    problems = traffic_switch_problems(args.kind.value, [(e.name, e.target, rid) for e, rid
                                                         in zip(args.endpoints, resource_ids, strict=True)],
                                       args.weights)
    if args.kind is SwitchKind.TRAFFIC_MANAGER and not 0 <= args.dns_ttl <= 2_147_483_647:
        problems.append(Problem(("traffic.dnsTtl",), f"{args.dns_ttl} is not a DNS TTL in seconds"))
    if problems:
        raise ConfigError(problems)


def live_weights(enabled_weights: Mapping[str, tuple[int, bool]]) -> dict[str, int]:
    """Percent by endpoint as Azure reports it: a disabled endpoint gets no traffic, so it counts 0.

    >>> live_weights({"blue": (1, False), "green": (100, True)})
    {'blue': 0, 'green': 100}
    """
    return {name: (weight if enabled else 0) for name, (weight, enabled) in enabled_weights.items()}


def arm_weight(percent: int) -> tuple[int, bool]:
    """(weight, enabled) for Azure, which accepts weights 1..1000: 0% is a disabled endpoint of weight 1.

    >>> arm_weight(0), arm_weight(10), arm_weight(100)
    ((1, False), (10, True), (100, True))
    """
    return (percent, True) if percent > 0 else (1, False)


def traffic_manager_endpoints(args: TrafficSwitchArgs) -> list[trafficmanager.EndpointArgsDict]:
    """Inline Traffic Manager endpoints (``EndpointArgsDict``) with their weights and status."""
    out: list[trafficmanager.EndpointArgsDict] = []
    for e in args.endpoints:
        weight, enabled = arm_weight(args.weights[e.name])
        ep: trafficmanager.EndpointArgsDict = {
            "name": e.name, "weight": weight, "endpoint_status": "Enabled" if enabled else "Disabled"}
        if e.target_resource_id is not None:
            ep["type"] = TM_TYPES["azure"]
            ep["target_resource_id"] = e.target_resource_id
        else:
            ep["type"] = TM_TYPES["external"]
            ep["target"] = e.target
        out.append(ep)
    return out


def front_door_origins(args: TrafficSwitchArgs) -> list[dict[str, Any]]:
    """Keyword arguments of one ``cdn.AFDOrigin`` per endpoint (all priority 1: weights decide)."""
    out = []
    for e in args.endpoints:
        weight, enabled = arm_weight(args.weights[e.name])
        out.append({"origin_name": e.name, "host_name": e.target, "origin_host_header": e.host_header or e.target,
                    "http_port": 80, "https_port": 443, "priority": 1, "weight": weight,
                    "enabled_state": "Enabled" if enabled else "Disabled", "enforce_certificate_name_check": True})
    return out


# --------------------------------------------------------------------------- component


class TrafficSwitch(pulumi.ComponentResource):
    """The weighted switch between the clusters.

    Outputs:
        fqdn: the name users (or a CNAME) point at: ``<label>.trafficmanager.net`` or the Front Door endpoint host.
        profile_id: resource ID of the Traffic Manager or Front Door profile.
        weights: percent by endpoint, read back from what Azure returned for the endpoints or origins (a
            disabled one counts 0) — what `akshift cutover --router pulumi` reports as live, not the config.
    """

    fqdn: pulumi.Output[str]
    profile_id: pulumi.Output[str]
    weights: pulumi.Output[dict[str, int]]

    def __init__(self, name: str, args: TrafficSwitchArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate(args)
        super().__init__(TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.kind is SwitchKind.TRAFFIC_MANAGER:
            p = args.probe
            profile = trafficmanager.Profile(
                f"{name}-profile",
                profile_name=args.profile_name,
                resource_group_name=args.resource_group_name,
                location="global",
                profile_status="Enabled",
                traffic_routing_method="Weighted",
                dns_config={"relative_name": args.relative_dns_name or args.profile_name, "ttl": args.dns_ttl},
                monitor_config={"protocol": p.protocol, "port": p.port, "path": p.path,
                                "interval_in_seconds": p.interval_seconds, "timeout_in_seconds": p.timeout_seconds,
                                "tolerated_number_of_failures": p.tolerated_failures},
                endpoints=traffic_manager_endpoints(args),
                tags=dict(args.tags),
                opts=child,
            )
            self.profile: pulumi.CustomResource = profile
            self.fqdn = profile.dns_config.apply(lambda d: d.fqdn if d else "")
            self.weights = profile.endpoints.apply(lambda eps: live_weights(
                {e.name: (int(e.weight or 0), e.endpoint_status == "Enabled") for e in eps or [] if e.name is not None}))
        else:
            self.profile = self._front_door(name, args, child)
        self.profile_id = self.profile.id
        self.register_outputs({"fqdn": self.fqdn, "profile_id": self.profile_id, "weights": self.weights})

    def _front_door(self, name: str, args: TrafficSwitchArgs, child: pulumi.ResourceOptions) -> cdn.Profile:
        rg, p = args.resource_group_name, args.probe
        profile = cdn.Profile(f"{name}-profile", profile_name=args.profile_name, resource_group_name=rg,
                              location="Global", sku={"name": "Standard_AzureFrontDoor"}, tags=dict(args.tags),
                              opts=child)
        endpoint = cdn.AFDEndpoint(f"{name}-endpoint", endpoint_name=args.profile_name, profile_name=profile.name,
                                   resource_group_name=rg, location="Global", enabled_state="Enabled", opts=child)
        group = cdn.AFDOriginGroup(
            f"{name}-origins", origin_group_name=ORIGIN_GROUP, profile_name=profile.name, resource_group_name=rg,
            # Session affinity off: with it, a user stays on the cluster they first hit and weights only move newcomers.
            session_affinity_state="Disabled",
            load_balancing_settings={"sample_size": 4, "successful_samples_required": 3,
                                     "additional_latency_in_milliseconds": 0},
            # The enum members, not their strings: this SDK's HealthProbeParametersArgsDict types these two keys
            # as the enums only (the values sent are the same "Https"/"Http" and "GET").
            health_probe_settings={"probe_path": p.path,
                                   "probe_protocol": cdn.ProbeProtocol.HTTPS if p.protocol == "HTTPS" else cdn.ProbeProtocol.HTTP,
                                   "probe_request_type": cdn.HealthProbeRequestType.GET,
                                   "probe_interval_in_seconds": p.interval_seconds},
            opts=child)
        origins = [cdn.AFDOrigin(f"{name}-origin-{o['origin_name']}", profile_name=profile.name,
                                 origin_group_name=group.name, resource_group_name=rg, **o, opts=child)
                   for o in front_door_origins(args)]
        names = [e.name for e in args.endpoints]
        self.weights = pulumi.Output.all(*[pulumi.Output.all(o.weight, o.enabled_state) for o in origins]).apply(
            lambda pairs: live_weights({n: (int(w or 0), s == "Enabled") for n, (w, s) in zip(names, pairs, strict=True)}))
        # Azure refuses a route to an origin group without origins: create them first.
        cdn.Route(f"{name}-route", route_name="default", endpoint_name=endpoint.name, profile_name=profile.name,
                  resource_group_name=rg, origin_group={"id": group.id}, supported_protocols=["Http", "Https"],
                  patterns_to_match=["/*"], forwarding_protocol="MatchRequest", link_to_default_domain="Enabled",
                  https_redirect="Enabled", opts=pulumi.ResourceOptions(parent=self, depends_on=origins))
        self.fqdn = endpoint.host_name
        return profile
