"""Judge captured resource inputs with Azure's own SDK models, as ARM would read them.

Why it exists: a component test that compares inputs with what *we* expect only
restates our intent. This module asks Azure's generated models instead
(azure-mgmt-containerservice 40.1.0 is ContainerService API 2025-09-01, the
version pulumi-azure-native 3.29 deploys; azure-mgmt-network 28.1.0 is Network
API 2024-05-01, the version of its network module). For one captured resource:

1. the Pulumi inputs are laid out as the ARM body the provider sends: each
   input is found in the model's attribute map by its ARM name (top-level or
   under ``properties``, recursively); URL parameters (``resourceName`` …) are
   set aside. An input the model does not know is a problem: Azure would never
   see it (or would reject the request);
2. the body is deserialised into the model (a type the model cannot read is a
   problem), validated (``required``, ``min``/``max``, patterns), and every
   value whose model type is an enum is checked against that enum (the
   deserialiser would keep an unknown string silently);
3. the model is serialised back and compared with the body: whatever the model
   dropped or altered (a read-only field, ``"3"`` for an int) is a problem.

The translations the provider does that the models do not describe are kept
here by name: ``userAssignedIdentities`` is a list of IDs in Pulumi and a map
``{id: {}}`` in ARM; ARM's kebab-case properties (the autoscaler profile's
``balance-similar-node-groups``) are camelCase in Pulumi.

Monitoring bodies are judged by azure-mgmt-monitor 6.0.2, which still carries the
API versions the provider deploys (diagnostic settings 2021-05-01-preview, data
collection rules 2022-06-01). The Log Analytics workspace is not judged: no
azure-mgmt-loganalytics release has msrest models for its API 2023-09-01 (14.x
is 2025-07-01 with another model base; 12.x is 2021-06-01 and needs ``six``).
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from azure.mgmt.containerservice import models as cs_models
from azure.mgmt.monitor.v2021_05_01_preview import models as diag_models
from azure.mgmt.monitor.v2022_06_01 import models as dcr_models
from azure.mgmt.network import models as net_models

CONTAINER_SERVICE_API = "2025-09-01"
NETWORK_API = "2024-05-01"

_FLATTEN = re.compile(r"(?<!\\)\.")
_KEBAB = re.compile(r"[A-Z]")
_VARTYPE = re.compile(r":vartype (\w+): (.+)")
_ENUM_REF = re.compile(r"~azure\.mgmt\.\w+\.models\.(\w+)")

#: Pulumi type token → (SDK model, models module, URL parameters that are not part of the body).
RESOURCES: dict[str, tuple[type, ModuleType, frozenset[str]]] = {
    "azure-native:containerservice:ManagedCluster": (
        cs_models.ManagedCluster, cs_models, frozenset({"resourceName", "resourceGroupName"})),
    "azure-native:containerservice:AgentPool": (
        cs_models.AgentPool, cs_models, frozenset({"agentPoolName", "resourceName", "resourceGroupName"})),
    "azure-native:containerservice:MaintenanceConfiguration": (
        cs_models.MaintenanceConfiguration, cs_models, frozenset({"configName", "resourceName", "resourceGroupName"})),
    "azure-native:network:NatGateway": (
        net_models.NatGateway, net_models, frozenset({"natGatewayName", "resourceGroupName"})),
    "azure-native:network:PublicIPAddress": (
        net_models.PublicIPAddress, net_models, frozenset({"publicIpAddressName", "resourceGroupName"})),
    "azure-native:network:RouteTable": (
        net_models.RouteTable, net_models, frozenset({"routeTableName", "resourceGroupName"})),
    "azure-native:network:Subnet": (
        net_models.Subnet, net_models, frozenset({"subnetName", "virtualNetworkName", "resourceGroupName"})),
    "azure-native:network:NetworkSecurityGroup": (
        net_models.NetworkSecurityGroup, net_models, frozenset({"networkSecurityGroupName", "resourceGroupName"})),
    "azure-native:network:VirtualNetwork": (
        net_models.VirtualNetwork, net_models, frozenset({"virtualNetworkName", "resourceGroupName"})),
    "azure-native:monitor:DiagnosticSetting": (
        diag_models.DiagnosticSettingsResource, diag_models, frozenset({"name", "resourceUri"})),
    "azure-native:monitor:DataCollectionRule": (
        dcr_models.DataCollectionRuleResource, dcr_models, frozenset({"dataCollectionRuleName", "resourceGroupName"})),
    "azure-native:monitor:DataCollectionRuleAssociation": (
        dcr_models.DataCollectionRuleAssociationProxyOnlyResource, dcr_models,
        frozenset({"associationName", "resourceUri"})),
}

#: ARM properties Pulumi spells as a list of IDs where ARM has a map of ID → {}.
_ID_LIST_MAPS = frozenset({"userAssignedIdentities"})


def _keys(spec_key: str) -> list[str]:
    return [k.replace("\\.", ".") for k in _FLATTEN.split(spec_key)]


def _enums_of(cls: type, module: ModuleType) -> dict[str, type[enum.Enum]]:
    """Attribute → enum class, read from the model's ``:vartype`` docstring lines."""
    out: dict[str, type[enum.Enum]] = {}
    for attr, text in _VARTYPE.findall(cls.__doc__ or ""):
        for name in _ENUM_REF.findall(text):
            candidate = getattr(module, name, None)
            if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
                out[attr] = candidate
    return out


def enum_of(cls: type, attribute: str) -> type[enum.Enum] | None:
    """The SDK enum class of one model attribute (``enum_of(ContainerServiceNetworkProfile, "outbound_type")``)."""
    module = next(m for m in (cs_models, net_models, diag_models, dcr_models)
                  if cls.__module__.startswith(m.__name__.rsplit(".", 1)[0]))
    return _enums_of(cls, module).get(attribute)


def _set(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _to_arm(type_name: str, value: Any, module: ModuleType, where: str, problems: list[str]) -> Any:
    """Lay one Pulumi value out as ARM JSON for the model type ``type_name``."""
    if type_name.startswith("[") and type_name.endswith("]"):
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list for {type_name}, got {value!r}")
            return value
        return [_to_arm(type_name[1:-1], v, module, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if type_name.startswith("{") and type_name.endswith("}"):
        inner = type_name[1:-1]
        if where.rsplit(".", 1)[-1] in _ID_LIST_MAPS and isinstance(value, list):
            return {v: {} for v in value}
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a map for {type_name}, got {value!r}")
            return value
        return {k: _to_arm(inner, v, module, f"{where}.{k}", problems) for k, v in value.items()}
    if type_name == "int" and isinstance(value, float) and value.is_integer():
        # Pulumi's wire format (protobuf Struct) has only doubles; the provider sends the schema's integer.
        return int(value)
    cls = getattr(module, type_name, None)
    if isinstance(cls, type) and hasattr(cls, "_attribute_map"):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object ({type_name}), got {value!r}")
            return value
        return _object_to_arm(cls, value, module, where, problems, url_params=frozenset())
    return value


def _object_to_arm(cls: type, value: Mapping[str, Any], module: ModuleType, where: str, problems: list[str],
                   url_params: frozenset[str]) -> dict[str, Any]:
    by_name: dict[str, dict[str, str]] = {}
    readonly = {a for a, rules in getattr(cls, "_validation", {}).items() if rules.get("readonly")}
    # Writable first: AgentPool has a read-only top-level `type` and a writable `properties.type`, and
    # Pulumi's flattened input `type` is the latter.
    for _attr, spec in sorted(cls._attribute_map.items(), key=lambda item: item[0] in readonly):
        by_name.setdefault(_keys(spec["key"])[-1], spec)
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key in url_params:
            continue
        # The provider's one renaming: ARM's kebab-case names (the autoscaler profile's
        # "balance-similar-node-groups") are camelCase in Pulumi.
        spec = by_name.get(key) or by_name.get(_KEBAB.sub(lambda m: "-" + m.group(0).lower(), key))
        if spec is None:
            problems.append(f"{where}.{key}: not a property of {cls.__name__}; Azure would never see it")
            continue
        if v is None:
            continue
        _set(out, _keys(spec["key"]), _to_arm(spec["type"], v, module, f"{where}.{key}", problems))
    return out


def _check_enums(obj: Any, module: ModuleType, where: str, problems: list[str]) -> None:
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            _check_enums(item, module, f"{where}[{i}]", problems)
        return
    if isinstance(obj, dict):
        for k, item in obj.items():
            _check_enums(item, module, f"{where}.{k}", problems)
        return
    if not hasattr(type(obj), "_attribute_map"):
        return
    enums = _enums_of(type(obj), module)
    for attr, spec in type(obj)._attribute_map.items():
        value = getattr(obj, attr, None)
        if value is None:
            continue
        name = f"{where}.{_keys(spec['key'])[-1]}"
        if attr in enums:
            allowed = [e.value for e in enums[attr]]
            for item in (value if isinstance(value, list) else [value]):
                raw = item.value if isinstance(item, enum.Enum) else item
                if raw not in allowed:
                    problems.append(f"{name}: {raw!r} is not a {enums[attr].__name__} (API allows {allowed})")
        else:
            _check_enums(value, module, name, problems)


_CONSTRAINTS = (("maximum", "above the maximum"), ("minimum", "below the minimum"), ("max_length", "longer than"),
                ("max_items", "more items than"), ("min_items", "fewer items than"), ("pattern", "does not match"))


def _breaks(rule: str, raw: Any, limit: Any) -> bool:
    number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if rule in ("maximum", "minimum"):
        return number and (raw > limit if rule == "maximum" else raw < limit)
    if rule == "max_length":
        return isinstance(raw, str) and len(raw) > limit
    if rule in ("max_items", "min_items"):
        return isinstance(raw, list) and (len(raw) > limit if rule == "max_items" else len(raw) < limit)
    return isinstance(raw, str) and not re.search(limit, raw)


def _validate(obj: Any, where: str, problems: list[str]) -> None:
    """The model's ``_validation`` table: required, bounds, lengths, patterns (what msrest's validate did)."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            _validate(item, f"{where}[{i}]", problems)
        return
    if isinstance(obj, dict):
        for k, item in obj.items():
            _validate(item, f"{where}.{k}", problems)
        return
    cls = type(obj)
    if not hasattr(cls, "_attribute_map"):
        return
    rules_of = getattr(cls, "_validation", {})
    for attr, spec in cls._attribute_map.items():
        value = getattr(obj, attr, None)
        name = f"{where}.{_keys(spec['key'])[-1]}"
        rules = rules_of.get(attr, {})
        if value is None:
            if rules.get("required"):
                problems.append(f"{name}: required by the API and missing")
            continue
        raw = value.value if isinstance(value, enum.Enum) else value
        for rule, words in _CONSTRAINTS:
            if rule in rules and _breaks(rule, raw, rules[rule]):
                problems.append(f"{name}: {raw!r} {words} {rules[rule]!r}")
        _validate(value, name, problems)


def _leaves(value: Any, where: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{where}.{k}")]
    return [where]


def _diff(sent: Any, back: Any, where: str, problems: list[str]) -> None:
    if isinstance(sent, dict) and isinstance(back, dict):
        for k, v in sent.items():
            if k not in back:
                for leaf in _leaves(v, f"{where}.{k}"):
                    problems.append(f"{leaf}: dropped by the model (read-only or unknown), Azure ignores it")
            else:
                _diff(v, back[k], f"{where}.{k}", problems)
    elif isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        for i, (a, b) in enumerate(zip(sent, back, strict=True)):
            _diff(a, b, f"{where}[{i}]", problems)
    elif sent != back or type(sent) is not type(back):
        problems.append(f"{where}: sent {sent!r}, the model reads {back!r}")


def arm_body(type_token: str, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ARM request body the provider builds from Pulumi ``inputs``, and the inputs the model does not know."""
    cls, module, url = RESOURCES[type_token]
    problems: list[str] = []
    body = _object_to_arm(cls, inputs, module, cls.__name__, problems, url_params=url)
    return body, problems


def judge(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every reason Azure's model of ``type_token`` gives to reject or alter ``inputs`` (plain values).

    Args:
        type_token: The Pulumi type, a key of :data:`RESOURCES`.
        inputs: The resource's inputs as the mocks received them, secrets unwrapped.

    Returns:
        Problems, each naming the property path; empty when the model takes the body as sent.
    """
    cls, module, _ = RESOURCES[type_token]
    body, problems = arm_body(type_token, inputs)
    try:
        obj = cls.deserialize(body)
    except Exception as e:  # noqa: BLE001 - msrest raises DeserializationError and friends
        return [*problems, f"{cls.__name__}: the model cannot read the body: {e}"]
    _validate(obj, cls.__name__, problems)
    _check_enums(obj, module, cls.__name__, problems)
    _diff(body, obj.serialize(keep_readonly=False), cls.__name__, problems)
    return problems


def judge_all(registered: Iterable[Any]) -> dict[str, list[str]]:
    """:func:`judge` every recorded resource whose type has a model; ``{name: problems}`` of those with problems."""
    out: dict[str, list[str]] = {}
    for r in registered:
        if r.type in RESOURCES:
            found = judge(r.type, r.plain)
            if found:
                out[r.name] = found
    return out
