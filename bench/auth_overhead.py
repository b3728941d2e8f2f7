"""What computing the bearer header per request costs: the old fixed header against kube.auth's flow.

Why: the migration applies thousands of objects per second and the client's CPU per object is the
lever (docs/dependencies.md). The auth flow runs once per request, so its cost is measured on the
request path alone — an in-process transport, no network, no server — where any overhead shows most.

    python bench/auth_overhead.py [requests]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kube.auth import RefreshingAuth, StaticToken  # noqa: E402
from kube.client import KubeClient  # noqa: E402
from kube.config import KubeConfig  # noqa: E402

BODY = b'{"kind":"Status","status":"Success"}'


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY)


def per_request_us(http: httpx.Client, n: int) -> float:
    for _ in range(200):  # warm up
        http.get("/api/v1/namespaces/default")
    t0 = time.perf_counter()
    for _ in range(n):
        http.get("/api/v1/namespaces/default")
    return (time.perf_counter() - t0) / n * 1e6


def main(n: int = 20_000) -> None:
    transport = httpx.MockTransport(answer)
    fixed = httpx.Client(base_url="https://k", transport=transport, headers={"Authorization": "Bearer t"})
    flow = httpx.Client(base_url="https://k", transport=transport, auth=RefreshingAuth(StaticToken("t")))
    client = KubeClient(KubeConfig(server="https://k", token="t"), transport=transport)
    rows = []
    for _ in range(3):  # interleaved rounds: a busy shared machine drifts
        rows.append((per_request_us(fixed, n), per_request_us(flow, n),
                     _kube_request_us(client, n)))
    best = [min(col) for col in zip(*rows, strict=True)]
    flow_alone = _flow_alone_us(RefreshingAuth(StaticToken("t")), n)
    print(f"{n} requests, best of 3 rounds, µs per request (in-process transport):")
    print(f"  httpx, fixed Authorization header : {best[0]:7.1f}")
    print(f"  httpx, kube.auth.RefreshingAuth   : {best[1]:7.1f}  (+{best[1] - best[0]:.1f})")
    print(f"  KubeClient.request (flow + orjson): {best[2]:7.1f}")
    print(f"  the auth flow alone (one request through RefreshingAuth.sync_auth_flow): {flow_alone:.2f}")


def _flow_alone_us(auth: RefreshingAuth, n: int) -> float:
    request = httpx.Request("GET", "https://k/api")
    response = httpx.Response(200)
    t0 = time.perf_counter()
    for _ in range(n * 10):
        flow = auth.sync_auth_flow(request)
        next(flow)
        try:
            flow.send(response)
        except StopIteration:
            pass
    return (time.perf_counter() - t0) / (n * 10) * 1e6


def _kube_request_us(client: KubeClient, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        client.request("GET", "/api/v1/namespaces/default")
    return (time.perf_counter() - t0) / n * 1e6


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
