"""Gates: how the cutover decides that green is behaving at the current weight.

Three kinds, given on the command line as ``KIND:TARGET[,key=value…]``:

* ``http:URL[,status=200-299|304][,p95=300ms][,max=1s][,samples=10][,failures=0][,timeout=5s]`` —
  probe a URL (green's ingress, or the public name through the switch) and
  judge status codes and latency;
* ``ready:deployment/NAMESPACE/NAME`` (also ``statefulset``, ``daemonset``) — a
  named workload on green has caught up with its spec (``--green-kubeconfig``);
* ``errors:URL,max=1%[,total=SELECTOR,failed=SELECTOR][,min=100]`` — an error
  rate from a metrics URL. A Prometheus query API answer (JSON) *is* the ratio
  (``sum(rate(…{code=~"5.."}[1m]))/sum(rate(…[1m]))``); a text exposition
  (``/metrics``) is read twice, at the start of the step and at each
  evaluation, and the ratio is Δfailed/Δtotal of the two selectors
  (``failed=http_requests_total{code=~"5.."}``).

Every gate may carry ``name=…``. Why shaped so: measuring (sockets) and
judging (thresholds) are apart, and judging is pure — ``judge_http``,
``judge_ready``, ``judge_error_delta``, ``judge_error_ratio`` — so the
thresholds are tested with tables, and a measurement that fails (a refused
connection, an unreachable metrics URL) is a failed gate, never a pass.
"""
from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import httpx
import orjson

from cutover.engine import GateResult
from cutover.errors import PlanError
from cutover.plan import parse_duration
from migration.errors import MigrationError
from kube.objects import is_ready

READY_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}


# --------------------------------------------------------------------------- specs


@dataclasses.dataclass(frozen=True)
class HttpGate:
    name: str
    url: str
    status: tuple[tuple[int, int], ...] = ((200, 399),)
    p95_seconds: float | None = None
    max_seconds: float | None = None
    samples: int = 10
    max_failures: int = 0
    timeout_seconds: float = 5.0


@dataclasses.dataclass(frozen=True)
class ReadyGate:
    name: str
    kind: str
    namespace: str
    object_name: str


@dataclasses.dataclass(frozen=True)
class Selector:
    """A metric name with label matchers (``=``, ``!=``, ``=~``, ``!~``), as in PromQL."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if name != self.metric:
            return False
        for label, op, value in self.matchers:
            have = labels.get(label, "")
            ok = {"=": have == value, "!=": have != value,
                  "=~": re.fullmatch(value, have) is not None, "!~": re.fullmatch(value, have) is None}[op]
            if not ok:
                return False
        return True


@dataclasses.dataclass(frozen=True)
class ErrorRateGate:
    name: str
    url: str
    max_ratio: float
    total: Selector | None = None
    failed: Selector | None = None
    min_requests: int = 0


Gate = Union[HttpGate, ReadyGate, ErrorRateGate]


def _split_top(text: str) -> list[str]:
    """Split on commas outside ``{…}`` and quotes, so label matchers may hold commas.

    >>> _split_top('errors:u,failed=x{a="1",b=~"5.."},max=1%')
    ['errors:u', 'failed=x{a="1",b=~"5.."}', 'max=1%']
    """
    parts, depth, quoted, cur = [], 0, False, []
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "{":
            depth += 1
        elif not quoted and ch == "}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


_SELECTOR = re.compile(r'^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$')
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_selector(text: str, where: str) -> Selector:
    """``http_requests_total{code=~"5..",job="web"}`` → :class:`Selector`.

    Raises:
        PlanError: not a metric name with well-formed matchers.
    """
    m = _SELECTOR.match(text)
    if not m:
        raise PlanError(f"{where}: {text!r} is not a metric selector", fix='write it like name{code=~"5.."}')
    matchers, body, pos = [], m.group(2) or "", 0
    while pos < len(body.strip()):
        mm = _MATCHER.match(body, pos)
        if not mm:
            raise PlanError(f"{where}: cannot read the label matchers {body!r}", fix='write them like code=~"5..",job="web"')
        matchers.append((mm.group(1), mm.group(2), mm.group(3)))
        pos = mm.end()
    return Selector(m.group(1), tuple(matchers))


def _ratio(text: str, where: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError as e:
        raise PlanError(f"{where}: {text!r} is not a ratio", fix="write it like 1% or 0.01") from e
    if not 0 <= value <= 1:
        raise PlanError(f"{where}: {text!r} is not between 0 and 100%")
    return value


def _status_ranges(text: str, where: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split("|"):
        lo, _, hi = part.partition("-")
        try:
            out.append((int(lo), int(hi or lo)))
        except ValueError as e:
            raise PlanError(f"{where}: status {text!r} is not codes or ranges", fix="write it like 200-299|304") from e
    return tuple(out)


def _int(text: str, where: str, key: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise PlanError(f"{where}: {key}={text!r} is not an integer") from e
    if value < 0:
        raise PlanError(f"{where}: {key} must not be negative")
    return value


def parse_gate(text: str) -> Gate:
    """Parse one ``--gate`` value (see the module docstring for the forms).

    >>> parse_gate("http:http://127.0.0.1:8081/healthz,p95=300ms,samples=5")
    HttpGate(name='http:http://127.0.0.1:8081/healthz', url='http://127.0.0.1:8081/healthz', status=((200, 399),), p95_seconds=0.3, max_seconds=None, samples=5, max_failures=0, timeout_seconds=5.0)

    Raises:
        PlanError: an unknown kind or key, or a malformed value; the message quotes the gate.
    """
    kind, sep, rest = text.partition(":")
    where = f"--gate {text!r}"
    if not sep or not rest:
        raise PlanError(f"{where}: expected KIND:TARGET", fix="such as http:https://green.example/healthz")
    target, *pairs = _split_top(rest)
    opts: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise PlanError(f"{where}: {pair!r} is not key=value")
        opts[key.strip()] = value.strip()
    name = opts.pop("name", "") or f"{kind}:{target}"

    def allowed(*keys: str) -> None:
        unknown = sorted(set(opts) - set(keys))
        if unknown:
            raise PlanError(f"{where}: unknown option {', '.join(unknown)}", fix=f"{kind} gates take {', '.join(keys)}, name")

    if kind == "http":
        allowed("status", "p95", "max", "samples", "failures", "timeout")
        if not target.startswith(("http://", "https://")):
            raise PlanError(f"{where}: {target!r} is not an http(s) URL")
        g = HttpGate(name, target,
                     status=_status_ranges(opts["status"], where) if "status" in opts else ((200, 399),),
                     p95_seconds=parse_duration(opts["p95"], f"{where} p95") if "p95" in opts else None,
                     max_seconds=parse_duration(opts["max"], f"{where} max") if "max" in opts else None,
                     samples=_int(opts.get("samples", "10"), where, "samples"),
                     max_failures=_int(opts.get("failures", "0"), where, "failures"),
                     timeout_seconds=parse_duration(opts.get("timeout", "5s"), f"{where} timeout"))
        if g.samples < 1:
            raise PlanError(f"{where}: samples must be at least 1")
        return g
    if kind == "ready":
        allowed()
        parts = target.split("/")
        if len(parts) != 3 or parts[0].lower() not in READY_KINDS or not all(parts):
            raise PlanError(f"{where}: expected ready:KIND/NAMESPACE/NAME",
                            fix=f"KIND is one of {', '.join(READY_KINDS)}, such as ready:deployment/shop/web")
        return ReadyGate(name, READY_KINDS[parts[0].lower()], parts[1], parts[2])
    if kind == "errors":
        allowed("max", "total", "failed", "min")
        if not target.startswith(("http://", "https://")):
            raise PlanError(f"{where}: {target!r} is not an http(s) URL")
        if "max" not in opts:
            raise PlanError(f"{where}: max= is required", fix="the highest acceptable error ratio, such as max=1%")
        if ("total" in opts) != ("failed" in opts):
            raise PlanError(f"{where}: give both total= and failed= (a /metrics exposition) or neither (a "
                            "Prometheus query that returns the ratio)")
        return ErrorRateGate(name, target, _ratio(opts["max"], where),
                             total=parse_selector(opts["total"], where) if "total" in opts else None,
                             failed=parse_selector(opts["failed"], where) if "failed" in opts else None,
                             min_requests=_int(opts.get("min", "0"), where, "min"))
    raise PlanError(f"{where}: unknown gate kind {kind!r}", fix="use http:, ready: or errors:")


def parse_gates(texts: Iterable[str]) -> list[Gate]:
    """Parse every ``--gate``; names must be unique (they identify results in logs).

    Raises:
        PlanError: the first malformed gate, or a repeated name.
    """
    gates = [parse_gate(t) for t in texts]
    seen: set[str] = set()
    for g in gates:
        if g.name in seen:
            raise PlanError(f"two gates are named {g.name!r}", fix="give one of them name=…")
        seen.add(g.name)
    return gates


# --------------------------------------------------------------------------- judging (pure)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One HTTP probe: the status (None when the request failed) and how long it took."""

    status: int | None
    seconds: float
    error: str = ""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (what a person computes by sorting), 0.0 for no values.

    >>> percentile([0.1, 0.2, 0.3, 0.4, 1.0], 0.95), percentile([0.1, 0.2, 0.3, 0.4, 1.0], 0.5)
    (1.0, 0.3)
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def judge_http(gate: HttpGate, samples: Sequence[Sample]) -> GateResult:
    """Pass when at most ``failures`` probes failed (no answer or a status outside the ranges) and latency holds."""
    bad = [s for s in samples if s.status is None or not any(lo <= s.status <= hi for lo, hi in gate.status)]
    answered = [s.seconds for s in samples if s.status is not None]
    p95 = percentile(answered, 0.95)
    worst = max(answered, default=0.0)
    problems = []
    if len(bad) > gate.max_failures:
        first = bad[0]
        what = first.error or f"status {first.status}"
        problems.append(f"{len(bad)}/{len(samples)} probes failed (first: {what}), allowed {gate.max_failures}")
    if gate.p95_seconds is not None and p95 > gate.p95_seconds:
        problems.append(f"p95 {p95 * 1000:.0f}ms > {gate.p95_seconds * 1000:.0f}ms")
    if gate.max_seconds is not None and worst > gate.max_seconds:
        problems.append(f"slowest {worst * 1000:.0f}ms > {gate.max_seconds * 1000:.0f}ms")
    if problems:
        return GateResult(gate.name, False, "; ".join(problems), round(p95, 4))
    return GateResult(gate.name, True, f"{len(samples) - len(bad)}/{len(samples)} ok, p95 {p95 * 1000:.0f}ms",
                      round(p95, 4))


def judge_ready(gate: ReadyGate, live: Mapping[str, Any] | None) -> GateResult:
    """Pass when the workload exists and has caught up with its spec (``migration.verify.is_ready``)."""
    where = f"{gate.kind} {gate.namespace}/{gate.object_name}"
    if live is None:
        return GateResult(gate.name, False, f"{where} does not exist on green")
    status = live.get("status") or {}
    ready = status.get("readyReplicas", status.get("numberReady", 0))
    if is_ready(dict(live)):
        return GateResult(gate.name, True, f"{where} ready ({ready} ready)", float(ready))
    return GateResult(gate.name, False, f"{where} not ready (status {orjson.dumps(status).decode()[:200]})",
                      float(ready))


def judge_error_delta(gate: ErrorRateGate, before: tuple[float, float] | None,
                      after: tuple[float, float]) -> GateResult:
    """Error ratio Δfailed/Δtotal between two scrapes of (total, failed) counters.

    A counter that went down (a restarted process) is read from zero. Fewer
    than ``min`` requests in the window fails: no traffic proves nothing.
    """
    if before is None:
        return GateResult(gate.name, False, "no baseline scrape at the start of the step")
    d_total = after[0] - before[0] if after[0] >= before[0] else after[0]
    d_failed = after[1] - before[1] if after[1] >= before[1] else after[1]
    if d_total < gate.min_requests or d_total <= 0:
        if gate.min_requests > 0:
            return GateResult(gate.name, False, f"only {d_total:.0f} requests in the window, need {gate.min_requests}",
                              None)
        return GateResult(gate.name, True, "no requests in the window", 0.0)
    ratio = d_failed / d_total
    return _judge_ratio(gate, ratio, f" ({d_failed:.0f}/{d_total:.0f})")


def judge_error_ratio(gate: ErrorRateGate, ratio: float | None) -> GateResult:
    """A ratio the metrics backend computed (a Prometheus query); None (no series) fails."""
    if ratio is None or math.isnan(ratio):
        return GateResult(gate.name, False, "the query returned no value")
    return _judge_ratio(gate, ratio, "")


def _judge_ratio(gate: ErrorRateGate, ratio: float, counts: str) -> GateResult:
    ok = ratio <= gate.max_ratio
    rel = "<=" if ok else ">"
    return GateResult(gate.name, ok, f"error rate {ratio:.2%}{counts} {rel} {gate.max_ratio:.2%}", round(ratio, 6))


# --------------------------------------------------------------------------- metrics formats (pure)

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition: (name, labels, value); comments and junk are skipped.

    >>> parse_exposition('# TYPE r counter\\nr{code="200"} 7\\nr{code="500"} 1\\n')
    [('r', {'code': '200'}, 7.0), ('r', {'code': '500'}, 1.0)]
    """
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, value))
    return out


def sum_selected(samples: Iterable[tuple[str, Mapping[str, str], float]], selector: Selector) -> float:
    return sum(v for name, labels, v in samples if selector.matches(name, labels))


def prometheus_value(doc: Mapping[str, Any]) -> float | None:
    """The value of a Prometheus query API answer: a scalar, or the highest of a vector (the worst series).

    >>> prometheus_value({"status": "success", "data": {"resultType": "vector",
    ...     "result": [{"metric": {}, "value": [1, "0.02"]}, {"metric": {}, "value": [1, "0.5"]}]}})
    0.5
    """
    data = doc.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if doc.get("status") != "success":
        return None
    if kind == "scalar" and isinstance(result, list):
        return float(result[1])
    if kind == "vector" and result:
        return max(float(r["value"][1]) for r in result)
    return None


# --------------------------------------------------------------------------- measuring


class GateSet:
    """The gates of one cutover, with what measuring them needs.

    Args:
        gates: parsed gates.
        http: the HTTP client for probes and metrics (its own timeouts per gate apply).
        kube: green's API client; required when a ``ready`` gate is present.

    Raises:
        PlanError: a ``ready`` gate without a green kubeconfig.
    """

    def __init__(self, gates: Sequence[Gate], *, http: httpx.Client, kube: Any = None) -> None:
        if kube is None and any(isinstance(g, ReadyGate) for g in gates):
            raise PlanError("ready: gates read green's workloads", fix="pass --green-kubeconfig")
        self.gates = list(gates)
        self.http = http
        self.kube = kube
        self._baseline: dict[str, tuple[float, float] | None] = {}

    def begin_step(self) -> None:
        """Scrape the counters of exposition-based error gates: the start of this step's window."""
        self._baseline = {}
        for g in self.gates:
            if isinstance(g, ErrorRateGate) and g.total is not None:
                try:
                    self._baseline[g.name] = self._counters(g)
                except (httpx.HTTPError, ValueError):
                    self._baseline[g.name] = None

    def evaluate(self) -> list[GateResult]:
        """Measure and judge every gate once (a measurement that fails is a failed gate)."""
        return [self._evaluate(g) for g in self.gates]

    def _evaluate(self, g: Gate) -> GateResult:
        try:
            if isinstance(g, HttpGate):
                return judge_http(g, self._probe(g))
            if isinstance(g, ReadyGate):
                return judge_ready(g, self._read(g))
            if g.total is not None:
                return judge_error_delta(g, self._baseline.get(g.name), self._counters(g))
            return judge_error_ratio(g, self._ratio(g))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            return GateResult(g.name, False, f"could not measure: {e.__class__.__name__}: {e}")
        except MigrationError as e:  # the Kubernetes client: green's API unreachable or refusing
            return GateResult(g.name, False, f"could not measure: {e}")

    def _probe(self, g: HttpGate) -> list[Sample]:
        out = []
        for _ in range(g.samples):
            t0 = time.perf_counter()
            try:
                r = self.http.get(g.url, timeout=g.timeout_seconds)
                out.append(Sample(r.status_code, time.perf_counter() - t0))
            except httpx.HTTPError as e:
                out.append(Sample(None, time.perf_counter() - t0, f"{e.__class__.__name__}: {e}"))
        return out

    def _read(self, g: ReadyGate) -> dict[str, Any] | None:
        return self.kube.read({"apiVersion": "apps/v1", "kind": g.kind,
                               "metadata": {"namespace": g.namespace, "name": g.object_name}})

    def _counters(self, g: ErrorRateGate) -> tuple[float, float]:
        r = self.http.get(g.url, timeout=10.0)
        r.raise_for_status()
        samples = parse_exposition(r.text)
        assert g.total is not None and g.failed is not None
        return sum_selected(samples, g.total), sum_selected(samples, g.failed)

    def _ratio(self, g: ErrorRateGate) -> float | None:
        r = self.http.get(g.url, timeout=10.0)
        r.raise_for_status()
        return prometheus_value(orjson.loads(r.content))
