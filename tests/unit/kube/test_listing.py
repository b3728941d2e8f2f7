"""Discovery (aggregated, and per group version as a fallback) and concurrent listing bounded by bytes in flight.

In-process: the API server is an ``httpx.MockTransport`` answering from tables.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from kube.client import AGGREGATED_DISCOVERY, ApiResource, KubeClient
from kube.config import KubeConfig
from kube.discovery import ByteBudget, iter_objects


def client(handler: Callable[[httpx.Request], httpx.Response]) -> KubeClient:
    return KubeClient(KubeConfig(server="https://api.example:443", context="test"),
                      transport=httpx.MockTransport(handler), sleep=lambda s: None)


# -- discovery ----------------------------------------------------------------------

def _res(name: str, kind: str, scope: str = "Namespaced", verbs: tuple[str, ...] = ("get", "list")) -> dict[str, Any]:
    return {"resource": name, "responseKind": {"group": "", "version": "", "kind": kind}, "scope": scope,
            "verbs": list(verbs)}


AGGREGATED = {
    "/api": {"kind": "APIGroupDiscoveryList", "items": [
        {"metadata": {}, "versions": [{"version": "v1", "resources": [
            _res("pods", "Pod"), _res("pods/log", "Pod"), _res("namespaces", "Namespace", "Cluster")]}]}]},
    "/apis": {"kind": "APIGroupDiscoveryList", "items": [
        {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [_res("deployments", "Deployment")]}]},
        {"metadata": {"name": "metrics.k8s.io"}, "versions": [
            {"version": "v1beta1", "freshness": "Stale", "resources": [_res("pods", "PodMetrics")]}]},
        {"metadata": {"name": "shop.example"}, "versions": [
            {"version": "v2", "resources": [_res("carts", "Cart")]},
            {"version": "v1", "resources": [_res("carts", "Cart")]}]}]},
}

PLAIN = {
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "groups": [
        {"name": "apps", "versions": [{"version": "v1"}], "preferredVersion": {"version": "v1"}},
        {"name": "metrics.k8s.io", "versions": [{"version": "v1beta1"}], "preferredVersion": {"version": "v1beta1"}},
        {"name": "shop.example", "versions": [{"version": "v1"}, {"version": "v2"}], "preferredVersion": {"version": "v2"}}]},
    "/api/v1": {"resources": [{"name": "pods", "kind": "Pod", "namespaced": True, "verbs": ["get", "list"]},
                              {"name": "pods/log", "kind": "Pod", "namespaced": True, "verbs": ["get"]},
                              {"name": "namespaces", "kind": "Namespace", "namespaced": False, "verbs": ["get", "list"]}]},
    "/apis/apps/v1": {"resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True, "verbs": ["get", "list"]}]},
    "/apis/shop.example/v1": {"resources": [{"name": "carts", "kind": "Cart", "namespaced": True, "verbs": ["get", "list"]}]},
    "/apis/shop.example/v2": {"resources": [{"name": "carts", "kind": "Cart", "namespaced": True, "verbs": ["get", "list"]}]},
}

EXPECTED = {
    ("v1", "Pod"): ApiResource("", "v1", "Pod", "pods", True, frozenset({"get", "list"})),
    ("v1", "Namespace"): ApiResource("", "v1", "Namespace", "namespaces", False, frozenset({"get", "list"})),
    ("apps/v1", "Deployment"): ApiResource("apps", "v1", "Deployment", "deployments", True, frozenset({"get", "list"})),
    ("shop.example/v2", "Cart"): ApiResource("shop.example", "v2", "Cart", "carts", True, frozenset({"get", "list"})),
    ("shop.example/v1", "Cart"): ApiResource("shop.example", "v1", "Cart", "carts", True, frozenset({"get", "list"})),
}


def test_aggregated_discovery_reads_every_type_in_two_requests() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=AGGREGATED[request.url.path])

    found = client(handler).resources()
    assert found == EXPECTED  # subresources and the stale (down) aggregated API left out
    assert list(found)[2:4] == [("apps/v1", "Deployment"), ("shop.example/v2", "Cart")]  # preferred version first
    assert [r.url.path for r in seen] == ["/api", "/apis"]
    assert all(r.headers["Accept"] == AGGREGATED_DISCOVERY for r in seen)


def test_a_server_without_aggregated_discovery_is_read_group_version_by_group_version() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/apis/metrics.k8s.io/v1beta1":
            return httpx.Response(404, json={"kind": "Status", "reason": "NotFound"})  # an aggregated API that is down
        return httpx.Response(200, json=PLAIN[request.url.path])

    found = client(handler).resources()
    assert found == EXPECTED
    assert list(found)[2:4] == [("apps/v1", "Deployment"), ("shop.example/v2", "Cart")]
    assert sorted(seen) == sorted(["/api", "/apis", "/api/v1", "/apis/apps/v1", "/apis/metrics.k8s.io/v1beta1",
                                   "/apis/shop.example/v1", "/apis/shop.example/v2"])


# -- listing bounded by bytes in flight -------------------------------------------------

def _types(n: int) -> list[ApiResource]:
    return [ApiResource("shop.example", "v1", f"Kind{i}", f"kind{i}s", True, frozenset({"list"})) for i in range(n)]


def _paged(pages_per_type: int, per_page: int, log: list[tuple[str, str]], lock: threading.Lock,
           ) -> Callable[[httpx.Request], httpx.Response]:
    """Each type's list in ``pages_per_type`` pages of ``per_page`` objects; every request is logged."""

    def handler(request: httpx.Request) -> httpx.Response:
        plural = request.url.path.rsplit("/", 1)[1]
        page = int(request.url.params.get("continue") or 0)
        with lock:
            log.append(("request", f"{plural}:{page}"))
        items = [{"metadata": {"name": f"{plural}-{page}-{i}", "namespace": "shop"}, "data": "x" * 200}
                 for i in range(per_page)]
        token = str(page + 1) if page + 1 < pages_per_type else ""
        return httpx.Response(200, json={"metadata": {"continue": token}, "items": items})

    return handler


def _page_bytes(per_page: int) -> int:
    return len(httpx.Response(200, json={"metadata": {"continue": "1"}, "items": [
        {"metadata": {"name": "kind0s-0-0", "namespace": "shop"}, "data": "x" * 200}] * per_page}).content)


def test_a_worker_asks_for_its_next_page_only_once_the_bytes_in_flight_fall_below_the_budget() -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    k = client(_paged(4, 3, log, lock))
    budget = ByteBudget(1)  # smaller than one page: one page at a time, yet every page gets through
    names = []
    for _res, obj in iter_objects(k, _types(1), concurrency=1, budget=budget):
        with lock:
            log.append(("consumed", obj["metadata"]["name"]))
        names.append(obj["metadata"]["name"])
    assert len(names) == 12
    for page in range(1, 4):  # page n is asked for only after the last object of page n-1 was consumed
        asked = log.index(("request", f"kind0s:{page}"))
        assert log.index(("consumed", f"kind0s-{page - 1}-2")) < asked
    assert budget.used == 0 and 0 < budget.peak <= _page_bytes(3) + 20  # never more than the one page held


def test_many_types_stay_in_flight_while_the_consumer_is_busy_when_their_pages_are_small() -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    k = client(_paged(2, 2, log, lock))
    budget = ByteBudget(10 * 2**20)
    listing = iter_objects(k, _types(12), concurrency=12, budget=budget)
    next(listing)  # the consumer holds the first object and does nothing more for now
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(log) < 24:
        time.sleep(0.01)
    # Every page of every type was fetched: a count of pages (the old queue of four) would have
    # stopped the workers after their first page.
    assert len(log) == 24
    assert sum(1 for _ in listing) == 12 * 2 * 2 - 1
    assert budget.used == 0 and budget.peak <= 10 * 2**20


def test_bytes_held_stay_within_the_budget_plus_one_page_per_worker() -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    k = client(_paged(5, 10, log, lock))
    page_bytes = _page_bytes(10)
    budget = ByteBudget(3 * page_bytes)
    count = 0
    for _ in iter_objects(k, _types(8), concurrency=4, budget=budget):
        count += 1
        if count % 10 == 0:
            time.sleep(0.005)  # a slow consumer: the workers run into the budget
    assert count == 8 * 5 * 10
    assert budget.peak <= 3 * page_bytes + 4 * (page_bytes + 10)


def test_a_consumer_that_stops_early_releases_the_workers_waiting_for_room() -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    k = client(_paged(50, 5, log, lock))
    listing = iter_objects(k, _types(6), concurrency=6, budget=ByteBudget(1))
    next(listing)
    t0 = time.monotonic()
    listing.close()  # joins the workers
    assert time.monotonic() - t0 < 5
    assert len(log) < 6 * 50  # nobody listed on after the consumer left
