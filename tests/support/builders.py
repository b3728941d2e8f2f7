"""Small builders for Kubernetes object dicts (velero ``pkg/builder``, as plain functions).

Why: a test should show the two or three fields it is about, not a wall of
YAML. Each builder returns a minimal valid object; keyword arguments add the
fields a test cares about; :func:`live` adds the fields the API server fills in
(uid, resourceVersion, managedFields, status…) so tests exercise clean-up on
realistic input. Builders return fresh dicts: tests may modify them.
"""
from __future__ import annotations

import copy
import json
from typing import Any

Obj = dict[str, Any]


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, *,
        labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, **fields: Any) -> Obj:
    """Any object: apiVersion, kind, metadata (name, namespace, labels, annotations) and top-level fields."""
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **copy.deepcopy(fields)}


def live(o: Obj, *, status: Obj | None = None) -> Obj:
    """A copy of ``o`` as the API server returns it: server-assigned metadata and a status."""
    out = copy.deepcopy(o)
    out["metadata"].update({
        "uid": "0b4a5f1e-7c59-4d2a-9a57-3f1c2d9e8b10",
        "resourceVersion": "48213",
        "generation": 3,
        "creationTimestamp": "2024-05-02T09:14:00Z",
        "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1"}],
    })
    out["status"] = status if status is not None else {}
    return out


def owned_by(o: Obj, kind: str, name: str, *, controller: bool = True, api_version: str = "apps/v1") -> Obj:
    """A copy of ``o`` with one ownerReference."""
    out = copy.deepcopy(o)
    out["metadata"]["ownerReferences"] = [{"apiVersion": api_version, "kind": kind, "name": name,
                                           "uid": "9d3c1b6a-0000-4000-8000-000000000001",
                                           "controller": controller, "blockOwnerDeletion": True}]
    return out


def container(name: str = "app", image: str = "nginx:1.27", *, host_port: int | None = None) -> Obj:
    """A container, with a hostPort when asked."""
    c: Obj = {"name": name, "image": image}
    if host_port is not None:
        c["ports"] = [{"containerPort": host_port, "hostPort": host_port, "protocol": "TCP"}]
    return c


def pod_spec(*containers: Obj, node_selector: dict[str, str] | None = None, affinity: Obj | None = None,
             host_network: bool = False, **fields: Any) -> Obj:
    """A pod spec with the given containers (one default container when none)."""
    spec: Obj = {"containers": list(containers) or [container()], **fields}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if affinity:
        spec["affinity"] = affinity
    if host_network:
        spec["hostNetwork"] = True
    return spec


def node_affinity(key: str, *values: str, required: bool = True, operator: str = "In") -> Obj:
    """Node affinity on one label key, required or preferred."""
    expr = {"key": key, "operator": operator, "values": list(values)}
    if required:
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [expr]}]}}}
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [expr]}}]}}


def template(spec: Obj | None = None, labels: dict[str, str] | None = None) -> Obj:
    """A pod template."""
    return {"metadata": {"labels": dict(labels or {"app": "web"})}, "spec": spec or pod_spec()}


def deployment(name: str = "web", namespace: str = "shop", *, spec: Obj | None = None, **kw: Any) -> Obj:
    """An apps/v1 Deployment with the given pod spec."""
    return obj("apps/v1", "Deployment", name, namespace, spec={
        "replicas": 2, "selector": {"matchLabels": {"app": name}},
        "template": template(spec, {"app": name})}, **kw)


def daemon_set(name: str = "agent", namespace: str = "shop", *, spec: Obj | None = None) -> Obj:
    """An apps/v1 DaemonSet."""
    return obj("apps/v1", "DaemonSet", name, namespace, spec={
        "selector": {"matchLabels": {"app": name}}, "template": template(spec, {"app": name})})


def cron_job(name: str = "nightly", namespace: str = "shop", *, spec: Obj | None = None,
             api_version: str = "batch/v1") -> Obj:
    """A CronJob."""
    return obj(api_version, "CronJob", name, namespace, spec={
        "schedule": "0 3 * * *",
        "jobTemplate": {"spec": {"template": template(spec or pod_spec(restartPolicy="OnFailure"))}}})


def job(name: str = "migrate", namespace: str = "shop", *, manual_selector: bool = False) -> Obj:
    """A batch/v1 Job as the API server returns it, with its generated selector and labels."""
    uid = "5a8e3c2d-1111-4222-8333-444455556666"
    generated = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                 "controller-uid": uid, "job-name": name}
    spec: Obj = {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                 "template": template(pod_spec(restartPolicy="Never"), generated)}
    if manual_selector:
        spec = {"manualSelector": True, "selector": {"matchLabels": {"app": name}},
                "template": template(pod_spec(restartPolicy="Never"), {"app": name})}
    return obj("batch/v1", "Job", name, namespace, spec=spec)


def pod(name: str = "debug", namespace: str = "shop", *, spec: Obj | None = None, **kw: Any) -> Obj:
    """A core Pod."""
    return obj("v1", "Pod", name, namespace, spec=spec or pod_spec(), **kw)


def port(number: int = 80, *, node_port: int | None = None, name: str | None = None) -> Obj:
    """A Service port."""
    p: Obj = {"port": number, "protocol": "TCP", "targetPort": number}
    if name:
        p["name"] = name
    if node_port is not None:
        p["nodePort"] = node_port
    return p


def service(name: str = "web", namespace: str = "shop", *, type: str = "ClusterIP",
            cluster_ip: str | None = "10.0.112.7", ports: list[Obj] | None = None,
            selector: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
            labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    """A core Service; ``cluster_ip=None`` leaves it out, ``"None"`` makes it headless."""
    body: Obj = {"type": type, "ports": ports if ports is not None else [port()],
                 "selector": selector if selector is not None else {"app": name}, **spec}
    if cluster_ip is not None:
        body["clusterIP"] = cluster_ip
        body["clusterIPs"] = [cluster_ip]
    if not body["selector"]:
        del body["selector"]
    return obj("v1", "Service", name, namespace, annotations=annotations, labels=labels, spec=body)


def service_account(name: str = "api", namespace: str = "shop", **kw: Any) -> Obj:
    """A core ServiceAccount."""
    return obj("v1", "ServiceAccount", name, namespace, **kw)


def secret(name: str = "db", namespace: str = "shop", *, type: str = "Opaque",
           data: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Obj:
    """A core Secret (data values are base64 as in the API)."""
    return obj("v1", "Secret", name, namespace, annotations=annotations, type=type,
               data=data if data is not None else {"password": "aHVudGVyMg=="})


def config_map(name: str = "settings", namespace: str = "shop", data: dict[str, str] | None = None) -> Obj:
    """A core ConfigMap."""
    return obj("v1", "ConfigMap", name, namespace, data=data or {"mode": "prod"})


def namespace(name: str = "shop", **kw: Any) -> Obj:
    """A core Namespace."""
    return obj("v1", "Namespace", name, **kw)


def pvc(name: str = "data", namespace: str = "shop", *, volume_name: str | None = "pvc-1f2e") -> Obj:
    """A bound PersistentVolumeClaim as the API server returns it."""
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "8Gi"}},
                 "storageClassName": "managed-csi", "volumeMode": "Filesystem"}
    if volume_name:
        spec["volumeName"] = volume_name
    return obj("v1", "PersistentVolumeClaim", name, namespace, spec=spec,
               annotations={"pv.kubernetes.io/bind-completed": "yes",
                            "pv.kubernetes.io/bound-by-controller": "yes",
                            "volume.kubernetes.io/selected-node": "aks-nodepool1-12345678-vmss000000",
                            "volume.kubernetes.io/storage-provisioner": "disk.csi.azure.com"})


def azure_disk_pv(name: str = "pvc-1f2e", *, zone: str | None = "westeurope-1", sku: str = "StandardSSD_LRS",
                  resource_group: str = "MC_rg_old_westeurope", reclaim: str = "Delete",
                  in_tree: bool = False, storage_class: str | None = None) -> Obj:
    """A PersistentVolume on an Azure Disk (CSI unless ``in_tree``), bound to shop/data.

    ``sku`` is a CSI PV's ``volumeAttributes.skuName``; an in-tree ``azureDisk`` PV records no SKU (its
    fields are diskName, diskURI, cachingMode, fsType, kind, readOnly): its SKU is its StorageClass's
    parameter (:func:`storage_class`). ``storage_class`` defaults to ``managed-csi`` (CSI) or ``default``
    (in-tree, the name of AKS's in-tree default class).
    """
    disk = f"/subscriptions/0000/resourceGroups/{resource_group}/providers/Microsoft.Compute/disks/{name}"
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "8Gi"},
                 "persistentVolumeReclaimPolicy": reclaim,
                 "storageClassName": storage_class or ("default" if in_tree else "managed-csi"),
                 "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "shop",
                              "name": "data", "uid": "77aa0000-0000-4000-8000-000000000002",
                              "resourceVersion": "1234"}}
    if in_tree:
        spec["azureDisk"] = {"diskName": f"kubernetes-dynamic-{name}", "diskURI": disk, "kind": "Managed",
                             "cachingMode": "ReadOnly", "fsType": "ext4", "readOnly": False}
    else:
        spec["csi"] = {"driver": "disk.csi.azure.com", "volumeHandle": disk,
                       "volumeAttributes": {"skuName": sku}}
    if zone is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.disk.csi.azure.com/zone", "operator": "In", "values": [zone]}]}]}}
    return obj("v1", "PersistentVolume", name, spec=spec)


def storage_class(name: str = "default", provisioner: str = "kubernetes.io/azure-disk",
                  parameters: dict[str, str] | None = None) -> Obj:
    """A StorageClass (AKS's in-tree default by default: ``storageaccounttype`` and ``kind`` parameters)."""
    params = {"cachingmode": "ReadOnly", "kind": "Managed", "storageaccounttype": "Standard_LRS"} \
        if parameters is None else parameters
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": provisioner, "parameters": params, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"}


def network_policy(name: str = "allow-pods", namespace: str = "shop", *, ingress_cidrs: list[str] = (),
                   egress_cidrs: list[str] = (), excepts: list[str] = ()) -> Obj:
    """A NetworkPolicy with one ipBlock peer per CIDR (``excepts`` on the first ingress one)."""
    ingress = [{"from": [{"ipBlock": {"cidr": c, **({"except": list(excepts)} if excepts and i == 0 else {})}}
                         for i, c in enumerate(ingress_cidrs)]}] if ingress_cidrs else []
    egress = [{"to": [{"ipBlock": {"cidr": c}} for c in egress_cidrs]}] if egress_cidrs else []
    spec: Obj = {"podSelector": {}, "policyTypes": ["Ingress"] + (["Egress"] if egress else [])}
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return obj("networking.k8s.io/v1", "NetworkPolicy", name, namespace, spec=spec)


def crd(group: str = "example.com", kind: str = "Widget", *, versions: tuple[str, ...] = ("v1",),
        conversion_service: tuple[str, str] | None = None) -> Obj:
    """A CustomResourceDefinition, with a conversion webhook when given ``(namespace, name)``."""
    plural = kind.lower() + "s"
    spec: Obj = {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                 "versions": [{"name": v, "served": True, "storage": i == 0,
                               "schema": {"openAPIV3Schema": {"type": "object"}}} for i, v in enumerate(versions)]}
    if conversion_service:
        spec["conversion"] = {"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": {
            "service": {"namespace": conversion_service[0], "name": conversion_service[1], "path": "/convert"}}}}
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"{plural}.{group}", spec=spec)


def webhook_configuration(name: str = "policy", *, kind: str = "ValidatingWebhookConfiguration",
                          service: tuple[str, str] | None = ("policy", "policy-webhook"),
                          url: str | None = None) -> Obj:
    """A Validating/MutatingWebhookConfiguration with one webhook to a service or a URL."""
    client: Obj = {"url": url} if url else {"service": {"namespace": service[0], "name": service[1], "port": 443}}
    return obj("admissionregistration.k8s.io/v1", kind, name, webhooks=[{
        "name": f"{name}.example.com", "clientConfig": client, "failurePolicy": "Fail",
        "sideEffects": "None", "admissionReviewVersions": ["v1"]}])


def custom(kind: str = "Widget", name: str = "w1", namespace: str | None = "shop",
           api_version: str = "example.com/v1", **fields: Any) -> Obj:
    """A custom resource."""
    return obj(api_version, kind, name, namespace, **fields)


def kube_proxy_ds(*args: str) -> dict[str, Any]:
    """The kube-proxy DaemonSet of an AKS cluster, run with ``args``."""
    ds = daemon_set("kube-proxy", "kube-system", spec=pod_spec(container("kube-proxy", "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.33.5")))
    ds["spec"]["template"]["spec"]["containers"][0]["command"] = ["kube-proxy", *args]
    return ds


def applied_as(o: dict[str, Any], api_version: str) -> dict[str, Any]:
    """``o`` as if ``kubectl apply`` had sent it as ``api_version`` (its last-applied annotation)."""
    body = {**copy.deepcopy(o), "apiVersion": api_version}
    o.setdefault("metadata", {}).setdefault("annotations", {})[
        "kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(body)
    return o
