"""Structural checks of the blue-cluster seed fixtures and the scale generator.

Why this exists: the seeds are applied to a real kube-apiserver by the
cluster tests, where a typo surfaces as one opaque apply error among 150
objects.  These tests need no cluster: they catch malformed documents,
dangling namespace or claim references, bad base64, quota sums that would
stop pods from being created, and generator regressions, in well under a
second.  Whether the apiserver accepts the objects is the cluster tests' job.
"""
from __future__ import annotations

import base64
import binascii
import collections
import json
from pathlib import Path

import pytest
import yaml

from sandbox.generate import SEEDS_DIR, generate, load_seed_objects, main, write_yaml

SEED_FILES = sorted(SEEDS_DIR.glob("*.yaml"))
SEEDS = load_seed_objects()

#: Namespaces every apiserver creates itself; seeds may put objects there.
BUILTIN_NAMESPACES = {"default", "kube-system"}

CLUSTER_SCOPED = {
    "Namespace", "CustomResourceDefinition", "PriorityClass", "StorageClass", "IngressClass",
    "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "ValidatingWebhookConfiguration",
}

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def _ident(obj: dict) -> tuple[str, str | None, str]:
    return obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


def _of_kind(kind: str) -> list[dict]:
    return [o for o in SEEDS if o["kind"] == kind]


def _pod_spec(obj: dict) -> dict:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def _pod_objects() -> list[dict]:
    return [o for o in SEEDS if o["kind"] in POD_TEMPLATE_KINDS | {"Pod"}]


def _quantity(value: str | int) -> float:
    """Parse the Kubernetes quantities the seeds use (m, Ki/Mi/Gi) into floats."""
    text = str(value)
    for suffix, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("m", 1e-3)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# --- seed documents ---------------------------------------------------------


@pytest.mark.parametrize("path", SEED_FILES, ids=[p.name for p in SEED_FILES])
def test_every_seed_document_parses_and_names_its_kind(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert docs, f"{path.name} holds no documents"
    for doc in docs:
        assert isinstance(doc, dict)
        assert doc.get("apiVersion"), doc
        assert doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc


def test_seed_files_are_named_so_sorted_order_is_apply_order() -> None:
    assert SEED_FILES, "no seed files found"
    for path in SEED_FILES:
        prefix = path.name.split("-", 1)[0]
        assert prefix.isdigit() and len(prefix) == 2, path.name


def test_seed_set_holds_between_100_and_200_objects() -> None:
    assert 100 <= len(SEEDS) <= 200


def test_seed_objects_are_unique_by_kind_namespace_and_name() -> None:
    counts = collections.Counter(_ident(o) for o in SEEDS)
    assert [i for i, n in counts.items() if n > 1] == []


def test_crd_and_namespaces_come_before_everything_that_needs_them() -> None:
    kinds = [o["kind"] for o in SEEDS]
    last_namespace = max(i for i, k in enumerate(kinds) if k == "Namespace")
    first_namespaced = min(i for i, o in enumerate(SEEDS) if o["kind"] not in CLUSTER_SCOPED)
    assert last_namespace < first_namespaced
    assert kinds.index("CustomResourceDefinition") < kinds.index("Widget")


def test_validating_webhook_configuration_is_applied_last() -> None:
    assert SEEDS[-1]["kind"] == "ValidatingWebhookConfiguration"


def test_resource_quotas_come_after_every_workload_in_their_namespace() -> None:
    for q_index, quota in enumerate(SEEDS):
        if quota["kind"] != "ResourceQuota":
            continue
        ns = quota["metadata"]["namespace"]
        later = [_ident(o) for o in SEEDS[q_index:] if o["metadata"].get("namespace") == ns]
        assert all(kind == "ResourceQuota" for kind, _, _ in later), later


def test_namespaced_objects_reference_namespaces_created_in_the_seeds() -> None:
    created = {o["metadata"]["name"] for o in _of_kind("Namespace")}
    for obj in SEEDS:
        ns = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert ns is None, f"cluster-scoped {_ident(obj)} has a namespace"
        else:
            assert ns in created | BUILTIN_NAMESPACES, f"{_ident(obj)} lives in an unknown namespace"


def test_labels_annotations_and_config_data_are_strings_as_the_api_requires() -> None:
    # YAML turns `true`, `8443` or `1.0` into non-strings; the apiserver then rejects the object.
    for obj in SEEDS:
        maps = [obj["metadata"].get("labels") or {}, obj["metadata"].get("annotations") or {}]
        if obj["kind"] in {"ConfigMap", "Secret"}:
            maps.append(obj.get("data") or {})
        for mapping in maps:
            bad = {k: v for k, v in mapping.items() if not isinstance(v, str)}
            assert bad == {}, _ident(obj)


def test_seed_set_covers_every_kind_the_migration_must_handle() -> None:
    required = {
        "Namespace", "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod", "Service",
        "Ingress", "IngressClass", "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding",
        "ClusterRole", "ClusterRoleBinding", "NetworkPolicy", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "CustomResourceDefinition", "Widget", "ResourceQuota", "LimitRange",
        "PriorityClass", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
        "ValidatingWebhookConfiguration",
    }
    assert required - {o["kind"] for o in SEEDS} == set()


# --- secrets ----------------------------------------------------------------


@pytest.mark.parametrize("secret", _of_kind("Secret"), ids=lambda s: f"{s['metadata']['namespace']}/{s['metadata']['name']}")
def test_secret_data_is_valid_base64(secret: dict) -> None:
    for key, value in (secret.get("data") or {}).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError) as e:
            pytest.fail(f"{key}: {e}")


def test_tls_secrets_hold_a_pem_certificate_and_key() -> None:
    tls = [s for s in _of_kind("Secret") if s.get("type") == "kubernetes.io/tls"]
    assert tls
    for secret in tls:
        cert = base64.b64decode(secret["data"]["tls.crt"]).decode()
        key = base64.b64decode(secret["data"]["tls.key"]).decode()
        assert cert.startswith("-----BEGIN CERTIFICATE-----")
        assert key.startswith("-----BEGIN PRIVATE KEY-----")


def test_dockerconfigjson_secrets_decode_to_registry_auths() -> None:
    pulls = [s for s in _of_kind("Secret") if s.get("type") == "kubernetes.io/dockerconfigjson"]
    assert pulls
    for secret in pulls:
        config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
        assert "acrshopprod.azurecr.io" in config["auths"]


# --- workloads --------------------------------------------------------------


@pytest.mark.parametrize("obj", _pod_objects(), ids=lambda o: "/".join(filter(None, _ident(o)[1:])))
def test_every_seed_container_requests_cpu_and_memory(obj: dict) -> None:
    spec = _pod_spec(obj)
    for container in spec.get("initContainers", []) + spec["containers"]:
        requests = container.get("resources", {}).get("requests", {})
        assert {"cpu", "memory"} <= set(requests), container["name"]


def test_referenced_service_accounts_exist_in_the_seeds() -> None:
    accounts = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in _of_kind("ServiceAccount")}
    for obj in _pod_objects():
        name = _pod_spec(obj).get("serviceAccountName")
        if name:
            assert (obj["metadata"]["namespace"], name) in accounts, _ident(obj)


def test_host_namespace_pods_only_run_where_pod_security_allows_them() -> None:
    levels = {
        o["metadata"]["name"]: o["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce", "privileged")
        for o in _of_kind("Namespace")
    }
    host_pods = [o for o in _pod_objects() if _pod_spec(o).get("hostNetwork") or _pod_spec(o).get("hostPID")]
    assert host_pods
    for obj in host_pods:
        assert levels[obj["metadata"]["namespace"]] == "privileged", _ident(obj)


def test_pods_in_restricted_namespaces_meet_the_restricted_profile() -> None:
    restricted = {
        o["metadata"]["name"]
        for o in _of_kind("Namespace")
        if o["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted"
    }
    assert restricted
    for obj in (o for o in _pod_objects() if o["metadata"]["namespace"] in restricted):
        spec = _pod_spec(obj)
        pod_sc = spec.get("securityContext", {})
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, _ident(obj)
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), _ident(obj)
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, _ident(obj)
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", _ident(obj)


def _max_pods_of(obj: dict, hpa_max: dict[tuple[str, str], int]) -> int:
    kind, ns, name = _ident(obj)
    if kind == "Deployment":
        return max(obj["spec"].get("replicas", 1), hpa_max.get((ns, name), 0))
    if kind == "StatefulSet":
        return obj["spec"].get("replicas", 1)
    if kind == "Job":
        return obj["spec"].get("parallelism", 1)
    if kind == "CronJob":
        return 0 if obj["spec"].get("suspend") else 1
    if kind == "Pod":
        return 1
    raise AssertionError(f"{kind} in a quota'd namespace: pod count depends on node count")


def test_pod_requests_and_limits_fit_every_resource_quota_at_hpa_maximum() -> None:
    hpa_max = {
        (h["metadata"]["namespace"], h["spec"]["scaleTargetRef"]["name"]): h["spec"]["maxReplicas"]
        for h in _of_kind("HorizontalPodAutoscaler")
    }
    quotas = _of_kind("ResourceQuota")
    assert quotas
    for quota in quotas:
        ns = quota["metadata"]["namespace"]
        scope = quota["spec"].get("scopeSelector", {}).get("matchExpressions", [])
        classes = {v for e in scope if e["scopeName"] == "PriorityClass" for v in e["values"]}
        used: collections.Counter[str] = collections.Counter()
        for obj in (o for o in _pod_objects() if o["metadata"]["namespace"] == ns):
            spec = _pod_spec(obj)
            if classes and spec.get("priorityClassName") not in classes:
                continue
            pods = _max_pods_of(obj, hpa_max)
            used["pods"] += pods
            for c in spec["containers"]:
                for section in ("requests", "limits"):
                    for res, qty in c["resources"].get(section, {}).items():
                        used[f"{section}.{res}"] += pods * _quantity(qty)
        for res, hard in quota["spec"]["hard"].items():
            if res == "pods" or res.startswith(("requests.cpu", "requests.memory", "limits.")):
                assert used[res] <= _quantity(hard), f"{ns}/{quota['metadata']['name']}: {res}"


# --- storage ----------------------------------------------------------------


def test_persistent_volume_claim_refs_name_claims_the_seeds_create() -> None:
    claims = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in _of_kind("PersistentVolumeClaim")}
    for sts in _of_kind("StatefulSet"):
        for tpl in sts["spec"].get("volumeClaimTemplates", []):
            for ordinal in range(sts["spec"].get("replicas", 1)):
                claims.add((sts["metadata"]["namespace"], f"{tpl['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"))
    for pv in _of_kind("PersistentVolume"):
        ref = pv["spec"]["claimRef"]
        assert (ref["namespace"], ref["name"]) in claims, pv["metadata"]["name"]


def test_claims_use_the_aks_storage_classes() -> None:
    classes = {o["metadata"]["name"] for o in _of_kind("StorageClass")}
    assert {"managed-csi", "managed-csi-premium", "azurefile-csi", "managed-csi-zrs"} <= classes
    used = {c["spec"]["storageClassName"] for c in _of_kind("PersistentVolumeClaim")}
    used |= {t["spec"]["storageClassName"] for s in _of_kind("StatefulSet") for t in s["spec"].get("volumeClaimTemplates", [])}
    assert used <= classes
    assert {"managed-csi", "managed-csi-premium", "azurefile-csi"} <= used


def test_persistent_volumes_use_both_azure_csi_drivers() -> None:
    drivers = {pv["spec"]["csi"]["driver"] for pv in _of_kind("PersistentVolume")}
    assert drivers == {"disk.csi.azure.com", "file.csi.azure.com"}


# --- networking -------------------------------------------------------------


def _ip_blocks() -> list[dict]:
    blocks = []
    for policy in _of_kind("NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "ipBlock" in peer:
                    blocks.append(peer["ipBlock"])
    return blocks


def test_network_policies_name_the_kubenet_pod_cidr_including_one_with_except() -> None:
    blocks = _ip_blocks()
    assert any(b["cidr"] == "10.244.0.0/16" for b in blocks)
    assert any("10.244.0.0/16" in b.get("except", []) or b["cidr"] == "10.244.0.0/16" and b.get("except") for b in blocks)


def test_load_balancer_services_carry_the_azure_annotations() -> None:
    annotations = [s["metadata"].get("annotations", {}) for s in _of_kind("Service") if s["spec"].get("type") == "LoadBalancer"]
    assert any(
        a.get("service.beta.kubernetes.io/azure-load-balancer-resource-group") == "MC_rg-shop-prod_aks-shop-prod_westeurope"
        and a.get("service.beta.kubernetes.io/azure-pip-name") == "pip-shop-ingress"
        for a in annotations
    )
    assert any(a.get("service.beta.kubernetes.io/azure-load-balancer-internal") == "true" for a in annotations)


def test_service_shapes_include_headless_and_a_pinned_node_port() -> None:
    services = _of_kind("Service")
    assert any(s["spec"].get("clusterIP") == "None" for s in services)
    assert any(p.get("nodePort") for s in services if s["spec"].get("type") == "NodePort" for p in s["spec"]["ports"])


def test_validating_webhook_fails_open_and_selects_no_seed_object() -> None:
    (config,) = _of_kind("ValidatingWebhookConfiguration")
    for hook in config["webhooks"]:
        assert hook["failurePolicy"] == "Ignore"
        wanted = hook["objectSelector"]["matchLabels"].items()
        for obj in SEEDS:
            labels = obj["metadata"].get("labels", {})
            assert not wanted <= labels.items(), _ident(obj)


def test_load_seed_objects_returns_documents_in_file_order() -> None:
    assert SEEDS[0]["kind"] == "CustomResourceDefinition"
    first_file_docs = [d for d in yaml.safe_load_all(SEED_FILES[0].read_text(encoding="utf-8")) if d]
    assert SEEDS[: len(first_file_docs)] == first_file_docs


# --- generator --------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 99, 100, 501, 2500])
def test_generator_yields_exactly_the_requested_number_of_objects(count: int) -> None:
    assert sum(1 for _ in generate(count)) == count


def test_generated_objects_are_unique_by_kind_namespace_and_name() -> None:
    idents = [_ident(o) for o in generate(3000, seed=7)]
    assert len(idents) == len(set(idents))


def test_generator_is_deterministic_for_a_seed() -> None:
    assert list(generate(1200, seed=3)) == list(generate(1200, seed=3))
    assert list(generate(1200, seed=3)) != list(generate(1200, seed=4))


@pytest.mark.parametrize("max_pods", [0, 1, 17, 100_000])
def test_generator_never_creates_more_pods_than_max_pods(max_pods: int) -> None:
    deployments = [o for o in generate(2000, seed=1, max_pods=max_pods) if o["kind"] == "Deployment"]
    replicas = [d["spec"]["replicas"] for d in deployments]
    assert set(replicas) <= {0, 1}
    assert sum(replicas) == min(max_pods, len(deployments))


def test_max_pods_changes_nothing_but_deployment_replicas() -> None:
    def without_replicas(obj: dict) -> dict:
        if obj["kind"] == "Deployment":
            obj = {**obj, "spec": {**obj["spec"], "replicas": None}}
        return obj

    plain = [without_replicas(o) for o in generate(1500, seed=5)]
    with_pods = [without_replicas(o) for o in generate(1500, seed=5, max_pods=40)]
    assert plain == with_pods


def test_each_generated_namespace_precedes_its_100_to_500_objects() -> None:
    sizes: collections.Counter[str] = collections.Counter()
    seen: set[str] = set()
    for obj in generate(5000, seed=2):
        if obj["kind"] == "Namespace":
            seen.add(obj["metadata"]["name"])
            sizes[obj["metadata"]["name"]] += 1
        else:
            assert obj["metadata"]["namespace"] in seen
            sizes[obj["metadata"]["namespace"]] += 1
    *full, _last = sizes.values()  # the last namespace is cut to fit the count
    assert full and all(100 <= n <= 500 for n in full)


def test_generated_secrets_hold_valid_base64() -> None:
    for obj in generate(1500, seed=9):
        if obj["kind"] == "Secret":
            for value in obj["data"].values():
                base64.b64decode(value, validate=True)


def test_generator_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="count"):
        list(generate(-1))


def test_write_yaml_splits_objects_into_files_of_at_most_500(tmp_path: Path) -> None:
    (tmp_path / "bench-00099.yaml").write_text("stale: true\n")
    paths = write_yaml(1234, tmp_path, seed=4)
    assert [p.name for p in paths] == ["bench-00000.yaml", "bench-00001.yaml", "bench-00002.yaml"]
    assert sorted(tmp_path.iterdir()) == paths
    docs = [d for p in paths for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))]
    assert [len(list(yaml.safe_load_all(p.read_text(encoding="utf-8")))) for p in paths] == [500, 500, 234]
    assert docs == list(generate(1234, seed=4))


def test_command_line_writes_the_requested_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--count", "750", "--out", str(tmp_path), "--max-pods", "3"]) == 0
    docs = [d for p in sorted(tmp_path.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))]
    assert len(docs) == 750
    assert sum(d["spec"]["replicas"] for d in docs if d["kind"] == "Deployment") == 3
    assert "wrote 750 objects in 2 files" in capsys.readouterr().out
