"""Gates that cannot lie: silence fails, typos fail, any label value reads, tokens stay secret, green is probed by IP.

What they pin, beyond the threshold tables of tests/unit/cutover/test_cutover.py:

* an ``errors:`` gate with a selector that matches nothing (a typo in
  ``total=``, a misspelt metric or label in ``failed=``) fails every
  evaluation, and no traffic fails unless the gate says ``allow-idle``;
* label values holding ``}``, ``,``, quotes and escapes are read (the
  exposition is prometheus-client's parser's job);
* headers and bearer tokens (from a variable or a command) are sent, a
  token command that fails is a clear error naming the gate, and no token
  ever reaches a message, the state or the log;
* ``resolve=HOST:PORT:ADDRESS`` connects to the address and sends ``Host``
  and TLS SNI for the name, verified against a CA (``ca=``), on a real
  loopback TLS server;
* readiness follows kstatus: ProgressDeadlineExceeded fails, scaled-to-zero
  never passes, StatefulSet/DaemonSet rollouts must finish.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover.errors import PlanError
from cutover.gates import (
    Access,
    ErrorRateGate,
    GateAuthError,
    GateSet,
    HttpGate,
    ReadyGate,
    Tokens,
    judge_error_ratio,
    judge_ready,
    parse_exposition,
    parse_gate,
    parse_selector,
    rollout,
    selector_problem,
    sum_selected,
)
from sandbox.loopback import Backend
from sandbox.pki import generate_server

SECRET = "eyJ0eXAiOiJKV1Qi.secret-token-value"


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend("green") as b:
        yield b


def errors_gate(url: str, extra: str = "", total: str = "http_requests_total",
                failed: str = 'http_requests_total{code=~"5.."}') -> str:
    return f"errors:{url}/metrics,total={total},failed={failed},max=10%{extra}"


def hit(url: str, n: int = 3) -> None:
    with httpx.Client() as c:
        for _ in range(n):
            c.get(f"{url}/")


# --------------------------------------------------------------------------- silence fails


@pytest.mark.parametrize("total,failed,message", [
    ("http_request_total", 'http_requests_total{code=~"5.."}', "no series named http_request_total"),
    ("http_requests_total", 'http_request_total{code=~"5.."}', "no series named http_request_total"),
    ("http_requests_total", 'http_requests_total{cdoe=~"5.."}', "has a label 'cdoe'"),
    ('http_requests_total{job="web"}', 'http_requests_total{code=~"5.."}', "has a label 'job'"),
    ('http_requests_total{code="2OO"}', 'http_requests_total{code=~"5.."}', "matches none of the 1 series"),
], ids=["typo-in-total-metric", "typo-in-failed-metric", "typo-in-failed-label", "total-label-absent",
        "total-matches-no-series"])
def test_a_typo_in_total_or_failed_fails_every_evaluation(backend: Backend, total: str, failed: str,
                                                          message: str) -> None:
    with httpx.Client() as http:
        gs = GateSet([parse_gate(errors_gate(backend.url, total=total, failed=failed))], http=http)
        gs.begin_step()
        for _ in range(3):
            hit(backend.url)
            (r,) = gs.evaluate()
            assert not r.ok and message in r.detail, r.detail


def test_an_errors_gate_without_traffic_fails_unless_it_allows_idle(backend: Backend) -> None:
    hit(backend.url)
    with httpx.Client() as http:
        strict = GateSet([parse_gate(errors_gate(backend.url))], http=http)
        idle = GateSet([parse_gate(errors_gate(backend.url, ",allow-idle"))], http=http)
        strict.begin_step()
        idle.begin_step()
        (s,), (i,) = strict.evaluate(), idle.evaluate()
    assert not s.ok and "no requests in the window" in s.detail
    assert i.ok and "allow-idle" in i.detail


def test_a_failed_series_that_has_not_appeared_yet_counts_as_no_errors_not_as_a_typo(backend: Backend) -> None:
    with httpx.Client() as http:
        gs = GateSet([parse_gate(errors_gate(backend.url))], http=http)
        gs.begin_step()  # nothing served yet: no series at all, counted from zero
        hit(backend.url, 4)
        (r,) = gs.evaluate()
    assert r.ok and "(0/4)" in r.detail and r.threshold == 0.1


def test_allow_idle_still_fails_a_selector_that_matches_nothing(backend: Backend) -> None:
    with httpx.Client() as http:
        gs = GateSet([parse_gate(errors_gate(backend.url, ",allow-idle", total="nope_total"))], http=http)
        gs.begin_step()
        (r,) = gs.evaluate()
    assert not r.ok and "no series named nope_total" in r.detail


def test_a_query_that_returns_nan_is_no_traffic_and_fails_unless_idle_is_allowed() -> None:
    g = ErrorRateGate("q", "http://prom/api/v1/query", 0.01)
    assert not judge_error_ratio(g, float("nan")).ok
    assert judge_error_ratio(dataclasses.replace(g, allow_idle=True), float("nan")).ok
    assert not judge_error_ratio(dataclasses.replace(g, allow_idle=True), None).ok


# --------------------------------------------------------------------------- the exposition


EXPOSITION = r'''# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a}b"} 10
http_requests_total{code="500",path="/x,y"} 2
http_requests_total{code="503",path="say \"hi\"\\now"} 3
# TYPE errors counter
errors{kind="timeout"} 4
'''


def test_label_values_of_any_content_are_read_and_selected() -> None:
    exp = parse_exposition(EXPOSITION)
    by_path = {s.labels["path"]: s.value for s in exp.series if s.name == "http_requests_total"}
    assert by_path == {"/a}b": 10.0, "/x,y": 2.0, 'say "hi"\\now': 3.0}
    assert sum_selected(exp.series, parse_selector('http_requests_total{path="/a}b"}', "w")) == 10.0
    assert sum_selected(exp.series, parse_selector(r'http_requests_total{path="say \"hi\"\\now"}', "w")) == 3.0
    assert sum_selected(exp.series, parse_selector('http_requests_total{code=~"5.."}', "w")) == 5.0
    # A counter exposed without _total is read the OpenMetrics way; a selector may name it either way.
    assert sum_selected(exp.series, parse_selector("errors", "w")) == 4.0
    assert sum_selected(exp.series, parse_selector("errors_total", "w")) == 4.0


def test_a_gate_spec_may_select_label_values_with_braces_commas_and_quotes(backend: Backend) -> None:
    backend.metric_lines = ['# TYPE edge_requests_total counter', 'edge_requests_total{route="/a}b,c"} 7',
                            'edge_requests_total{route="/a}b,c",code="500"} 1']
    g = parse_gate(f'errors:{backend.url}/metrics,total=edge_requests_total{{route="/a}}b,c"}},'
                   f'failed=edge_requests_total{{route="/a}}b,c",code="500"}},max=50%')
    assert isinstance(g, ErrorRateGate) and g.total is not None and g.total.matchers == (("route", "=", "/a}b,c"),)
    exp = parse_exposition(backend.metrics())
    assert selector_problem(exp, g.total, "total") is None
    assert sum_selected(exp.series, g.total) == 8.0


def test_a_malformed_exposition_fails_the_measurement_instead_of_dropping_lines(backend: Backend) -> None:
    backend.metric_lines = ['http_requests_total{code="500" 99']
    with httpx.Client() as http:
        gs = GateSet([parse_gate(errors_gate(backend.url))], http=http)
        gs.begin_step()
        hit(backend.url)
        (r,) = gs.evaluate()
    assert not r.ok and "could not measure" in r.detail


# --------------------------------------------------------------------------- headers and tokens


def test_headers_and_a_bearer_token_from_a_variable_are_sent(backend: Backend,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    backend.token = SECRET
    monkeypatch.setenv("AKSHIFT_TEST_TOKEN", SECRET)
    hit(backend.url)
    g = parse_gate(errors_gate(backend.url, ",allow-idle,token-env=AKSHIFT_TEST_TOKEN,header=X-Scope-OrgID: shop"))
    assert isinstance(g, ErrorRateGate) and g.access.headers == (("X-Scope-OrgID", "shop"),)
    with httpx.Client() as http:
        gs = GateSet([g], http=http)
        assert gs.authenticate() == [(g.name, "$AKSHIFT_TEST_TOKEN")]
        gs.begin_step()
        (r,) = gs.evaluate()
    assert r.ok, r.detail
    assert backend.seen[-1][2] == f"Bearer {SECRET}"


def test_without_its_token_a_protected_metrics_url_fails_the_gate(backend: Backend) -> None:
    backend.token = SECRET
    with httpx.Client() as http:
        gs = GateSet([parse_gate(errors_gate(backend.url, ",allow-idle"))], http=http)
        gs.begin_step()
        (r,) = gs.evaluate()
    assert not r.ok and "401" in r.detail


def test_a_token_command_is_run_without_a_shell_cached_and_run_again_after_a_401(backend: Backend) -> None:
    calls: list[list[str]] = []
    tokens_out = ["stale-token", SECRET, SECRET]

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        return 0, tokens_out.pop(0) + "\n", ""

    backend.token = SECRET
    hit(backend.url)
    g = parse_gate(errors_gate(backend.url, ',allow-idle,token-cmd="az account get-access-token --query accessToken"'))
    with httpx.Client() as http:
        gs = GateSet([g], http=http, tokens=Tokens(run=run))
        gs.begin_step()  # gets the stale token, is refused, fetches again
        (r,) = gs.evaluate()  # cached: no new call
    assert r.ok, r.detail
    assert calls == [["az", "account", "get-access-token", "--query", "accessToken"]] * 2


@pytest.mark.parametrize("spec,env,run,message", [
    (',token-cmd="az account get-access-token"', None, lambda argv: (1, "", "ERROR: Please run 'az login'\n"),
     "token command `az account get-access-token` exited 1: ERROR: Please run 'az login'"),
    (',token-cmd="print-token"', None, lambda argv: (0, "  \n", ""), "printed no token"),
    (",token-env=AKSHIFT_TEST_MISSING", None, None, "environment variable AKSHIFT_TEST_MISSING is not set"),
], ids=["command-fails", "command-prints-nothing", "variable-unset"])
def test_a_gate_that_cannot_authenticate_is_bad_input_naming_the_gate(spec: str, env: Any, run: Any,
                                                                      message: str) -> None:
    g = parse_gate(f"errors:http://127.0.0.1:9/metrics,max=1%,name=azure-prom{spec}")
    gs = GateSet([g], http=httpx.Client(), tokens=Tokens(run=run))
    with pytest.raises(GateAuthError) as e:
        gs.authenticate()
    assert message in str(e.value) and "gate 'azure-prom' cannot authenticate" in str(e.value)
    assert e.value.exit_code == 2


def test_a_token_never_appears_in_a_gate_result_or_description(backend: Backend) -> None:
    from cutover.gates import describe

    backend.token = SECRET
    g = parse_gate(errors_gate(backend.url, ',token-cmd="get-token"'))
    with httpx.Client() as http:
        gs = GateSet([g], http=http, tokens=Tokens(run=lambda argv: (0, SECRET, "")))
        gs.begin_step()
        results = gs.evaluate()
    assert SECRET not in repr(results) and SECRET not in describe(g) and SECRET not in repr(g)


@pytest.mark.parametrize("spec,message", [
    ("http:http://x/,header=Authorization: Bearer abc", "literal Authorization header would be saved"),
    ("http:http://x/,header=no colon", "is not NAME: VALUE"),
    ("http:http://x/,token-env=A,token-cmd=b", "not both"),
    ("http:http://x/,token-env=1BAD", "not an environment variable name"),
    ("http:http://x/,resolve=green.example:443", "is not HOST:PORT:ADDRESS"),
    ("http:http://x/,ca=/nonexistent/ca.crt", "is not a file"),
    ("ready:deployment/shop/web,header=X: y", "unknown option header"),
    ("errors:http://x/m,max=1%,allow-idle=maybe", "is not true or false"),
    ("http:http://x/,timeout=5 minutes", "is not a duration"),
    ('errors:http://x/m,max=1%,total=a,failed=b{code=~"5(("}', "is not a regular expression"),
], ids=["literal-authorization", "bad-header", "two-token-sources", "bad-variable", "bad-resolve", "missing-ca",
        "ready-takes-no-header", "bad-allow-idle", "bad-duration", "bad-regex"])
def test_malformed_reach_options_are_refused_quoting_the_gate(spec: str, message: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_gate(spec)
    assert message in str(e.value) and repr(spec) in str(e.value)


# --------------------------------------------------------------------------- probing green by IP (TLS, SNI)


@pytest.fixture
def tls_green(tmp_path: Path) -> Iterator[tuple[Backend, Path]]:
    ca, crt, key = generate_server(tmp_path / "pki", ("green.shop.example",))
    with Backend("green", tls=(str(crt), str(key))) as b:
        yield b, ca


def test_resolve_probes_green_by_address_with_host_and_sni_of_its_public_name(
        tls_green: tuple[Backend, Path]) -> None:
    b, ca = tls_green
    url = f"https://green.shop.example:{b.port}/healthz"
    gate = parse_gate(f"http:{url},samples=2,resolve=green.shop.example:{b.port}:127.0.0.1,ca={ca}")
    assert isinstance(gate, HttpGate) and gate.access.resolve == ("green.shop.example", b.port, "127.0.0.1")
    with httpx.Client() as http:
        gs = GateSet([gate], http=http)
        (r,) = gs.evaluate()
        gs.close()
    assert r.ok, r.detail
    assert b.seen[-1][:2] == (f"green.shop.example:{b.port}", "green.shop.example")


def test_without_resolve_the_name_does_not_reach_green_and_without_the_ca_tls_is_refused(
        tls_green: tuple[Backend, Path]) -> None:
    b, ca = tls_green
    no_ca = parse_gate(f"http:https://green.shop.example:{b.port}/,samples=1,timeout=2s,"
                       f"resolve=green.shop.example:{b.port}:127.0.0.1")
    by_ip = parse_gate(f"http:https://127.0.0.1:{b.port}/,samples=1,timeout=2s,ca={ca}")  # the cert names no IP
    with httpx.Client() as http:
        gs = GateSet([no_ca, by_ip], http=http)
        results = gs.evaluate()
        gs.close()
    assert [r.ok for r in results] == [False, False]
    assert all("ConnectError" in r.detail for r in results), [r.detail for r in results]


# --------------------------------------------------------------------------- readiness (kstatus)


def deployment(replicas: int = 2, **status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": replicas,
            "availableReplicas": replicas, "readyReplicas": replicas}
    return {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": replicas},
            "status": {**base, **status}}


def statefulset(strategy: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
            "currentRevision": "db-1", "updateRevision": "db-1"}
    return {"kind": "StatefulSet", "metadata": {"generation": 1},
            "spec": {"replicas": 3, "updateStrategy": strategy or {"type": "RollingUpdate"}},
            "status": {**base, **status}}


def daemonset(**status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
            "updatedNumberScheduled": 3, "numberAvailable": 3, "numberReady": 3}
    return {"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {**base, **status}}


STUCK = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
          "message": 'ReplicaSet "web-7d9" has timed out progressing.'}]


@pytest.mark.parametrize("live,status,detail", [
    (deployment(), "current", "2/2 ready"),
    (deployment(conditions=STUCK), "failed", "ProgressDeadlineExceeded (ReplicaSet \"web-7d9\" has timed out"),
    (deployment(observedGeneration=1), "in-progress", "not observed generation 2"),
    (deployment(replicas=3, updatedReplicas=3, availableReplicas=2), "in-progress", "2/3 replicas available"),
    (deployment(updatedReplicas=1), "in-progress", "1/2 replicas updated"),
    ({**deployment(), "status": {**deployment()["status"], "replicas": 3}}, "in-progress",
     "1 old replicas pending termination"),
    (deployment(replicas=0), "empty", "scaled to 0 replicas"),
    ({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 1}}, "in-progress", "no status"),
    (statefulset(), "current", "3/3 ready"),
    (statefulset(updateRevision="db-2", updatedReplicas=1), "in-progress", "rolling update: 1/3 on revision db-2"),
    (statefulset({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, updateRevision="db-2",
                 updatedReplicas=1), "current", "3/3 ready"),
    (statefulset({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}, updateRevision="db-2",
                 updatedReplicas=1), "in-progress", "partitioned rollout: 1/2"),
    (statefulset({"type": "OnDelete"}, updateRevision="db-2"), "current", "3/3 ready"),
    (statefulset(readyReplicas=2), "in-progress", "2/3 replicas ready"),
    (daemonset(), "current", "3/3 ready"),
    (daemonset(updatedNumberScheduled=2), "in-progress", "2/3 pods updated"),
    (daemonset(desiredNumberScheduled=0), "empty", "scheduled on no node"),
], ids=["deployment-current", "deployment-deadline-exceeded", "deployment-generation-not-observed",
        "deployment-unavailable", "deployment-not-updated", "deployment-old-replicas", "deployment-scaled-to-zero",
        "deployment-no-status", "statefulset-current", "statefulset-rolling", "statefulset-partition-done",
        "statefulset-partition-rolling", "statefulset-on-delete", "statefulset-not-ready", "daemonset-current",
        "daemonset-not-updated", "daemonset-no-node"])
def test_readiness_follows_kstatus_rollout_rules(live: dict[str, Any], status: str, detail: str) -> None:
    r = rollout(live)
    assert (r.status, detail in r.detail) == (status, True), r


def test_a_ready_gate_fails_on_a_stuck_rollout_and_on_a_workload_that_serves_nothing() -> None:
    g = ReadyGate("web", "Deployment", "shop", "web")
    stuck = judge_ready(g, deployment(conditions=STUCK))
    assert not stuck.ok and "FAILED: rollout failed: ProgressDeadlineExceeded" in stuck.detail
    empty = judge_ready(g, deployment(replicas=0))
    assert not empty.ok and "measured nothing" in empty.detail
    good = judge_ready(g, deployment())
    assert good.ok and (good.value, good.threshold) == (2.0, 2.0)


def test_an_http_gate_that_made_no_probe_does_not_pass() -> None:
    from cutover.gates import judge_http

    assert not judge_http(HttpGate("h", "http://x/"), []).ok


def test_access_defaults_send_nothing_extra() -> None:
    from cutover.gates import request_parts

    assert request_parts("https://green.example/x", Access()) == ("https://green.example/x", {}, {})
    other = Access(resolve=("blue.example", 443, "10.0.0.1"))
    assert request_parts("https://green.example/x", other) == ("https://green.example/x", {}, {})
