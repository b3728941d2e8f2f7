"""Which backends the applier waits for before a tier (issue 13 item 5), without a cluster."""
from __future__ import annotations

from typing import Any

from migration.readiness import backends, wait_backends


def _webhook(policy: str | None) -> dict[str, Any]:
    hook: dict[str, Any] = {"name": "h", "clientConfig": {"service": {"namespace": "policy", "name": "guard"}}}
    if policy:
        hook["failurePolicy"] = policy
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "guard"}, "webhooks": [hook]}


def test_a_webhook_that_fails_closed_waits_for_its_backend_and_one_that_fails_open_does_not() -> None:
    assert backends([_webhook(None)], []) == {("policy", "guard"): ["ValidatingWebhookConfiguration guard"]}
    assert backends([_webhook("Fail")], []) == {("policy", "guard"): ["ValidatingWebhookConfiguration guard"]}
    assert backends([_webhook("Ignore")], []) == {}


def test_custom_resources_wait_for_their_crds_conversion_webhook_and_api_services_for_their_service() -> None:
    crd = {"kind": "CustomResourceDefinition", "spec": {"group": "example.com", "names": {"kind": "Widget"},
           "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {
               "service": {"namespace": "widgets", "name": "convert"}}}}}}
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    api = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"},
           "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}}}
    assert backends([widget, api], [crd]) == {("widgets", "convert"): ["Widget w"],
                                              ("kube-system", "metrics-server"): ["APIService v1beta1.metrics.k8s.io"]}


class _NoEndpoints:
    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return {"items": [{"endpoints": [{"conditions": {"ready": False}}]}]}


def test_a_backend_that_never_becomes_ready_is_returned_after_the_bound() -> None:
    assert wait_backends(_NoEndpoints(), [("policy", "guard")], timeout=0.3, interval=0.1) == [("policy", "guard")]  # type: ignore[arg-type]
