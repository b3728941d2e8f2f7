"""Calico → Cilium policy translation: golden pairs per construct, blockers naming the rule, selector parsing.

Golden cases live in ``tests/fixtures/calico/<construct>/<case>.raw.yaml``
(one Calico object) with ``<case>.translated.yaml`` (the list of objects
:func:`translate` returns), ``<case>.findings.yaml`` (the exact finding codes,
with the JSON pointer of each blocker) and an optional ``<case>.facts.yaml``
(:class:`TargetFacts` arguments). Each case must use the construct its
directory names (:data:`CONSTRUCTS`) and must make the translator act — carry
objects or report a blocker — so a golden pair never passes because nothing
happened. Regenerate after a deliberate change with ``AKSHIFT_UPDATE_GOLDEN=1``
and review the diff.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from migration.findings import Severity
from migration.policies import selectors as sel
from migration.policies.calico import (
    CODE_UNTRANSLATABLE,
    NODE_LOCAL_DNS,
    TargetFacts,
    Translation,
    applies_to,
    translate,
)
from migration.policies.selectors import SelectorError, Term

import support

FIXTURES = support.FIXTURES / "calico"


def _rules(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = obj.get("spec") or {}
    return [*(spec.get("ingress") or ()), *(spec.get("egress") or ())]


def _entities(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [e for r in _rules(obj) for e in (r.get("source") or {}, r.get("destination") or {})]


def _text(obj: Mapping[str, Any]) -> str:
    return yaml.safe_dump(obj)


# Each construct directory → "this raw object really uses the construct".
CONSTRUCTS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "selectors": lambda o: any(op in _text(o) for op in ("==", "has(", " in {", "||", "starts with")),
    "namespace-selector": lambda o: "namespaceSelector" in _text(o),
    "ports": lambda o: any(e.get("ports") for e in _entities(o)),
    "protocols": lambda o: any("protocol" in r for r in _rules(o)),
    "icmp": lambda o: any(r.get("protocol") in ("ICMP", "ICMPv6") for r in _rules(o)),
    "nets": lambda o: any(e.get("nets") or e.get("notNets") for e in _entities(o)),
    "global-network-sets": lambda o: o["kind"] == "GlobalNetworkSet" or "GlobalNetworkSet" in _text(o)
    or any(e.get("selector") for e in _entities(o)),
    "order-deny": lambda o: any(r.get("action") in ("Deny", "Pass") for r in _rules(o)) or "tier" in o["spec"],
    "service-accounts": lambda o: "serviceAccount" in _text(o),
    "dns": lambda o: o["kind"] in ("NetworkPolicy", "GlobalNetworkPolicy") and "Egress" in o["spec"].get("types", []),
    "log": lambda o: any(r.get("action") == "Log" for r in _rules(o)),
    "dataplane": lambda o: True,
    "host-endpoints": lambda o: any(o["spec"].get(k) for k in ("preDNAT", "doNotTrack", "applyOnForward")),
}


def _facts(folder: Path, case: str) -> TargetFacts:
    path = folder / f"{case}.facts.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    if "pod_cidrs" in data:
        data["pod_cidrs"] = tuple(data["pod_cidrs"])
    return TargetFacts(**data)


def _cases() -> list[Any]:
    return [pytest.param(raw.parent, raw.name.removesuffix(".raw.yaml"), id=f"{raw.parent.name}/"
                         f"{raw.name.removesuffix('.raw.yaml')}") for raw in sorted(FIXTURES.glob("*/*.raw.yaml"))]


def _finding_lines(result: Translation) -> list[str]:
    return sorted(f"{f.code} {f.path}".rstrip() for f in result.findings)


@pytest.mark.parametrize(("folder", "case"), _cases())
def test_golden_calico_object_translates_to_the_expected_objects_and_findings(folder: Path, case: str) -> None:
    raw = yaml.safe_load((folder / f"{case}.raw.yaml").read_text())
    result = translate(raw, _facts(folder, case))
    translated, findings = folder / f"{case}.translated.yaml", folder / f"{case}.findings.yaml"
    if os.environ.get("AKSHIFT_UPDATE_GOLDEN"):
        translated.write_text(yaml.safe_dump(list(result.objects), sort_keys=True, default_flow_style=False))
        findings.write_text(yaml.safe_dump(_finding_lines(result), default_flow_style=False))
    assert list(result.objects) == yaml.safe_load(translated.read_text())
    assert _finding_lines(result) == yaml.safe_load(findings.read_text())
    # The case uses its directory's construct, and the translator acted on it.
    assert CONSTRUCTS[folder.name](raw), f"{folder.name}/{case} does not use the construct {folder.name}"
    assert result.objects or result.blocked, f"{folder.name}/{case}: nothing translated and nothing reported"
    assert not (result.objects and result.blocked), "a blocked policy must not be half translated"


def test_every_construct_has_golden_cases_and_every_case_a_construct() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == set(CONSTRUCTS)


def test_each_construct_has_a_translated_and_a_blocked_case_where_both_exist() -> None:
    outcomes: dict[str, set[bool]] = {}
    for param in _cases():
        folder, case = param.values
        raw = yaml.safe_load((folder / f"{case}.raw.yaml").read_text())
        outcomes.setdefault(folder.name, set()).add(translate(raw, _facts(folder, case)).blocked)
    both = {"selectors", "ports", "protocols", "icmp", "nets", "global-network-sets", "order-deny",
            "service-accounts"}
    assert {c for c in both if outcomes[c] != {True, False}} == set()


def test_a_blocker_names_the_rule_and_says_why() -> None:
    policy = {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "mixed", "namespace": "shop"},
              "spec": {"selector": "all()", "ingress": [
                  {"action": "Allow", "source": {"selector": "app == 'a'"}},
                  {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 3, "code": 1}}]}}
    result = translate(policy, TargetFacts())
    [blocker] = [f for f in result.findings if f.severity is Severity.BLOCKER]
    assert blocker.code == CODE_UNTRANSLATABLE and blocker.path == "/spec/ingress/1/icmp/code"
    assert "ICMP codes" in blocker.message and str(blocker.ref) == "NetworkPolicy.crd.projectcalico.org shop/mixed"
    assert result.objects == ()


@pytest.mark.parametrize("spec", [
    {"ingress": "not a list"}, {"ingress": [{"action": "Allow", "source": {"nets": ["not-a-cidr"]}}]},
    {"ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [None]}}]},
    {"selector": 42}, {"ingress": [{"action": "Shrug"}]},
], ids=["rules-not-a-list", "bad-cidr", "null-port", "selector-not-a-string", "unknown-action"])
def test_a_malformed_policy_is_a_blocker_never_a_crash(spec: dict[str, Any]) -> None:
    policy = {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "odd", "namespace": "shop"}, "spec": spec}
    result = translate(policy, TargetFacts(calico_objects=()))
    assert result.blocked and result.objects == ()


def test_only_calico_objects_are_translated() -> None:
    assert applies_to({"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy"})
    assert not applies_to({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"})
    assert not applies_to({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool"})


def test_node_local_dns_addresses_are_the_documented_ones() -> None:
    assert NODE_LOCAL_DNS == {"localdns": ("169.254.10.10", "169.254.10.11"), "nodelocaldns": ("169.254.20.10",)}
    with pytest.raises(ValueError, match="node_local_dns"):
        TargetFacts(node_local_dns="coredns")


# -- selector expressions ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "dnf"), [
    ("", sel.ALL),
    ("all()", sel.ALL),
    ("app == 'web'", ((Term("app", "In", ("web",)),),)),
    ('app == "web"', ((Term("app", "In", ("web",)),),)),
    ("app != 'web'", ((Term("app", "NotIn", ("web",)),),)),
    ("has(tier)", ((Term("tier", "Exists"),),)),
    ("!has(tier)", ((Term("tier", "DoesNotExist"),),)),
    ("env in {'b', 'a'}", ((Term("env", "In", ("a", "b")),),)),
    ("env not in {'a'}", ((Term("env", "NotIn", ("a",)),),)),
    ("a == 'x' && (b == 'y' || has(c))", ((Term("a", "In", ("x",)), Term("b", "In", ("y",))),
                                          (Term("a", "In", ("x",)), Term("c", "Exists")))),
    ("!(a == 'x' && has(b))", ((Term("a", "NotIn", ("x",)),), (Term("b", "DoesNotExist"),))),
    ("!all()", ()),
], ids=lambda v: repr(v) if isinstance(v, str) else "")
def test_calico_selector_becomes_label_selector_alternatives(text: str, dnf: sel.DNF) -> None:
    assert sel.parse(text) == dnf


EXPLODING = " && ".join(f"(a{i} == 'x' || b{i} == 'y')" for i in range(5))  # 32 alternatives in normal form


@pytest.mark.parametrize("text", ["app contains 'x'", "app ends with 'x'", "global()", "app ==", "(app == 'x'",
                                  "app ~ 'x'", EXPLODING])
def test_selectors_without_a_label_selector_form_are_refused(text: str) -> None:
    with pytest.raises(SelectorError):
        sel.parse(text)


@pytest.mark.parametrize(("labels", "expected"), [
    ({"app": "web", "tier": "1"}, True), ({"app": "web"}, False), ({"app": "api", "tier": "1"}, False)])
def test_selector_matching_follows_kubernetes_semantics(labels: dict[str, str], expected: bool) -> None:
    assert sel.matches(sel.parse("app == 'web' && has(tier) && env != 'dev'"), labels) is expected
