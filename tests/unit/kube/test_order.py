"""Apply order: the table's promises, ties and grouping."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.order import APPLY_ORDER, CUSTOM_TIER, apply_tiers, sort_key, tier

from support import builders as b

ROLE = b.obj("rbac.authorization.k8s.io/v1", "Role", "reader", "shop")
BINDING = b.obj("rbac.authorization.k8s.io/v1", "RoleBinding", "reader", "shop")
CLUSTER_ROLE = b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader")
CLUSTER_BINDING = b.obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "reader")
HPA = b.obj("autoscaling/v2", "HorizontalPodAutoscaler", "web", "shop")
PDB = b.obj("policy/v1", "PodDisruptionBudget", "web", "shop")
QUOTA = b.obj("v1", "ResourceQuota", "q", "shop")
PRIORITY = b.obj("scheduling.k8s.io/v1", "PriorityClass", "high", value=1000)
STORAGE = b.obj("storage.k8s.io/v1", "StorageClass", "fast", provisioner="disk.csi.azure.com")
PV = b.azure_disk_pv()
INGRESS = b.obj("networking.k8s.io/v1", "Ingress", "web", "shop")
API_SERVICE = b.obj("apiregistration.k8s.io/v1", "APIService", "v1beta1.custom.metrics.k8s.io")
WIDGET = b.custom()
KNATIVE = b.custom("Service", "hello", api_version="serving.knative.dev/v1")
WEBHOOK = b.webhook_configuration()

# (earlier, later, why the earlier must come first)
BEFORE = [
    pytest.param(b.crd(), b.namespace(), id="crd-before-namespace"),
    pytest.param(b.crd(), WIDGET, id="crd-before-its-custom-resources"),
    pytest.param(b.namespace(), QUOTA, id="namespace-before-namespaced"),
    pytest.param(b.obj("v1", "LimitRange", "defaults", "shop"), b.pod(), id="limit-range-before-pods"),
    pytest.param(b.pod(), QUOTA, id="quota-after-the-pods-it-governs"),
    pytest.param(WIDGET, QUOTA, id="quota-after-the-custom-resources-it-counts"),
    pytest.param(QUOTA, WEBHOOK, id="quota-before-admission"),
    pytest.param(PRIORITY, b.deployment(), id="priority-class-before-workloads"),
    pytest.param(STORAGE, b.pvc(), id="storage-class-before-claims"),
    pytest.param(b.service_account(), b.deployment(), id="service-account-before-workloads"),
    pytest.param(CLUSTER_ROLE, CLUSTER_BINDING, id="cluster-role-before-its-binding"),
    pytest.param(CLUSTER_BINDING, ROLE, id="cluster-rbac-before-namespaced-rbac"),
    pytest.param(ROLE, BINDING, id="role-before-its-binding"),
    pytest.param(BINDING, b.config_map(), id="rbac-before-config"),
    pytest.param(b.secret(), b.deployment(), id="secrets-before-workloads"),
    pytest.param(PV, b.pvc(), id="volume-before-claim"),
    pytest.param(b.pvc(), b.deployment(), id="claim-before-workloads"),
    pytest.param(b.network_policy(), b.deployment(), id="network-policy-before-workloads"),
    pytest.param(b.service(), b.deployment(), id="service-before-workloads-for-env-vars"),
    pytest.param(b.deployment(), HPA, id="workload-before-hpa"),
    pytest.param(b.deployment(), PDB, id="workload-before-pdb"),
    pytest.param(b.service(), INGRESS, id="service-before-ingress"),
    pytest.param(INGRESS, WIDGET, id="built-ins-before-custom-resources"),
    pytest.param(KNATIVE, API_SERVICE, id="custom-resources-before-aggregated-apis"),
    pytest.param(API_SERVICE, WEBHOOK, id="aggregated-apis-before-webhooks"),
    pytest.param(WIDGET, WEBHOOK, id="custom-resources-before-webhooks"),
]


@pytest.mark.parametrize(("earlier", "later"), BEFORE)
def test_apply_order_puts_dependencies_first(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    assert tier(earlier) < tier(later)
    assert [o for g in apply_tiers([later, earlier]) for o in g] == [earlier, later]


def test_every_tier_says_why() -> None:
    assert all(t.reason and t.name for t in APPLY_ORDER)
    kinds = [k for t in APPLY_ORDER for k in t.kinds]
    assert len(kinds) == len(set(kinds)), "a kind is listed in two tiers"


@pytest.mark.parametrize("obj", [
    pytest.param(WIDGET, id="custom-resource"),
    pytest.param(KNATIVE, id="custom-kind-named-like-a-core-kind"),
    pytest.param(b.obj("snapshot.storage.k8s.io/v1", "VolumeSnapshot", "s", "shop"), id="unlisted-kind"),
])
def test_unknown_kinds_go_to_the_custom_resources_tier(obj: dict[str, Any]) -> None:
    assert tier(obj) == CUSTOM_TIER


def test_deprecated_group_aliases_share_the_tier_of_their_successor() -> None:
    assert tier(b.obj("extensions/v1beta1", "Ingress", "web", "shop")) == tier(INGRESS)


def test_ties_are_broken_by_namespace_then_kind_then_name() -> None:
    objs = [b.config_map("b", "zeta"), b.secret("a", "alpha"), b.config_map("c", "alpha"), b.config_map("a", "alpha")]
    ordered = sorted(objs, key=sort_key)
    assert [(o["metadata"]["namespace"], o["kind"], o["metadata"]["name"]) for o in ordered] == [
        ("alpha", "ConfigMap", "a"), ("alpha", "ConfigMap", "c"), ("alpha", "Secret", "a"), ("zeta", "ConfigMap", "b")]


def test_apply_tiers_groups_by_tier_and_skips_empty_tiers() -> None:
    groups = apply_tiers([b.deployment(), b.namespace(), b.deployment("api"), WEBHOOK])
    assert [[o["metadata"]["name"] for o in g] for g in groups] == [["shop"], ["api", "web"], ["policy"]]


_POOL = [b.crd(), b.namespace(), b.namespace("ml"), QUOTA, PRIORITY, b.service_account(), ROLE, BINDING,
         CLUSTER_ROLE, b.config_map(), b.secret(), PV, b.pvc(), b.network_policy(), b.service(), b.deployment(),
         b.deployment("api", "ml"), b.job(), HPA, INGRESS, WIDGET, KNATIVE, API_SERVICE, WEBHOOK]


@given(st.permutations(_POOL))
def test_order_does_not_depend_on_input_order(objs: list[dict[str, Any]]) -> None:
    flat = [o for g in apply_tiers(objs) for o in g]
    assert flat == [o for g in apply_tiers(_POOL) for o in g]
    assert len(flat) == len(_POOL)
