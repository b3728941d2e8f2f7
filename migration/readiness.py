"""Readiness waits between apply tiers: backends before what they serve, quotas before they judge.

Why (issue 13 items 4–5): an admission webhook, an APIService or a CRD's
conversion webhook applied (or used) before its backend answers makes the API
server refuse or fail everything it serves — the order table puts them late,
but late is not Ready. And a ResourceQuota whose usage the quota controller has
not computed yet makes admission refuse every object it governs ("status
unknown for quota"); instead of retrying on that error text, the applier waits
until the quota's ``status.hard`` is filled in.

Every wait is bounded; what never became ready is returned so the applier can
report it (the objects are applied anyway and their own answers say the rest).
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kube.client import KubeClient
from kube.errors import ApiError
from kube.objects import group_of

Service = tuple[str, str]  # (namespace, name)
WEBHOOK_KINDS = frozenset({"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"})


def _service(client_config: Mapping[str, Any] | None) -> Service | None:
    svc = (client_config or {}).get("service") or {}
    return (svc["namespace"], svc["name"]) if svc.get("namespace") and svc.get("name") else None


def backends(tier: Iterable[Mapping[str, Any]], crds: Sequence[Mapping[str, Any]]) -> dict[Service, list[str]]:
    """The Services that must answer before this tier is applied, and who needs each.

    Args:
        tier: the objects about to be applied.
        crds: every CustomResourceDefinition of the run (for conversion webhooks of custom resources).

    Returns:
        ``(namespace, name)`` of each backend Service → the objects (``Kind name``) it serves. Webhooks
        with ``failurePolicy: Ignore`` need no wait: they reject nothing while their backend is down.
    """
    conversion: dict[tuple[str, str], Service] = {}
    for crd in crds:
        spec = crd.get("spec") or {}
        conv = spec.get("conversion") or {}
        if conv.get("strategy") == "Webhook":
            svc = _service((conv.get("webhook") or {}).get("clientConfig"))
            if svc:
                conversion[(spec.get("group") or "", (spec.get("names") or {}).get("kind") or "")] = svc
    out: dict[Service, list[str]] = {}
    for obj in tier:
        name = f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
        services: list[Service | None] = []
        if obj.get("kind") in WEBHOOK_KINDS and group_of(obj) == "admissionregistration.k8s.io":
            # A webhook that fails open (failurePolicy: Ignore) rejects nothing while its backend is down.
            services = [_service(h.get("clientConfig")) for h in obj.get("webhooks") or ()
                        if h.get("failurePolicy", "Fail") != "Ignore"]
        elif obj.get("kind") == "APIService" and group_of(obj) == "apiregistration.k8s.io":
            services = [_service({"service": (obj.get("spec") or {}).get("service")})]
        else:
            services = [conversion.get((group_of(obj), obj.get("kind") or ""))]
        for svc in services:
            if svc is not None and name not in out.setdefault(svc, []):
                out[svc].append(name)
    return out


def service_ready(client: KubeClient, svc: Service) -> bool:
    """Whether a Service has at least one ready endpoint (EndpointSlices, as kube-proxy reads them)."""
    ns, name = svc
    try:
        slices = client.get(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                            labelSelector=f"kubernetes.io/service-name={name}").get("items", [])
    except ApiError:
        return False
    return any((e.get("conditions") or {}).get("ready") is not False
               for s in slices for e in s.get("endpoints") or ())


def wait_backends(client: KubeClient, services: Iterable[Service], timeout: float = 60.0,
                  interval: float = 0.5) -> list[Service]:
    """Wait until every Service has a ready endpoint; return those that did not within ``timeout``."""
    pending = set(services)
    deadline = time.monotonic() + timeout
    while pending:
        pending = {s for s in pending if not service_ready(client, s)}
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return sorted(pending)


def wait_quotas(client: KubeClient, quotas: Iterable[Mapping[str, Any]], timeout: float = 30.0,
                interval: float = 0.2) -> list[str]:
    """Wait until each ResourceQuota's ``status.hard`` is filled in; return the ``namespace/name`` that were not."""
    pending = {f"{(q.get('metadata') or {}).get('namespace')}/{(q.get('metadata') or {}).get('name')}": q
               for q in quotas}
    deadline = time.monotonic() + timeout
    while pending:
        for key, quota in list(pending.items()):
            try:
                live = client.read(dict(quota))
            except ApiError:
                continue
            if live is not None and (live.get("status") or {}).get("hard"):
                del pending[key]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return sorted(pending)


__all__ = ["backends", "service_ready", "wait_backends", "wait_quotas"]
