"""Gates: how the cutover decides that green is behaving at the current weight.

Three kinds, given on the command line as ``KIND:TARGET[,key=value…]``:

* ``http:URL[,status=200-299|304][,p95=300ms][,max=1s][,samples=10][,failures=0][,timeout=5s]`` —
  probe a URL (green's ingress, or the public name through the switch) and
  judge status codes and latency;
* ``ready:deployment/NAMESPACE/NAME`` (also ``statefulset``, ``daemonset``) — a
  named workload on green has rolled out, by kstatus' rules (:func:`rollout`):
  a Deployment whose ``Progressing`` condition says ``ProgressDeadlineExceeded``
  fails at once; a workload scaled to nothing never passes;
* ``errors:URL,max=1%[,total=SELECTOR,failed=SELECTOR][,min=100][,allow-idle]`` —
  an error rate from a metrics URL. A Prometheus query API answer (JSON) *is* the ratio
  (``sum(rate(…{code=~"5.."}[1m]))/sum(rate(…[1m]))``); a text exposition
  (``/metrics``) is read twice, at the start of the step and at each
  evaluation, and the ratio is Δfailed/Δtotal of the two selectors
  (``failed=http_requests_total{code=~"5.."}``).

``http`` and ``errors`` gates also take how to reach the URL: ``header=Name: value``
(repeatable), a bearer token from ``token-env=VARIABLE`` or ``token-cmd="az account
get-access-token … --query accessToken -o tsv"`` (Azure Monitor managed Prometheus
wants an Entra token; the token is never printed, logged or saved — only where it
comes from is), ``resolve=HOST:PORT:ADDRESS`` (like curl's ``--resolve``: connect to
ADDRESS but send ``Host`` and TLS SNI for HOST, to probe green by IP before DNS
points there) and ``ca=PATH`` (a CA bundle to verify the server with).

Silence never passes: an ``errors`` gate whose ``total=`` matches no series, whose
``failed=`` names a metric or label the scrape does not have (a typo), or that saw no
request in the window fails — unless it says ``allow-idle`` (then only *no traffic*
passes; a selector that matches nothing still fails). A gate that cannot measure
(a refused connection, a token command that fails mid-hold) fails.

Every gate may carry ``name=…``. Why shaped so: measuring (sockets) and
judging (thresholds) are apart, and judging is pure — ``judge_http``,
``judge_ready``, ``judge_error_delta``, ``judge_error_ratio`` — so the
thresholds are tested with tables. The exposition format is read by
prometheus-client's parser (label values of any content: ``}``, ``,``, escaped
quotes), not by a hand-written one.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
import ssl
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx
import orjson

from cutover.engine import GateResult
from cutover.errors import PlanError
from cutover.plan import parse_duration
from errors import AkshiftError

READY_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}
TOKEN_TTL_SECONDS = 300.0  # a command token is fetched again after this long (Entra tokens live ≥ 60 min)


# --------------------------------------------------------------------------- specs


@dataclasses.dataclass(frozen=True)
class Access:
    """How an ``http``/``errors`` gate reaches its URL: extra headers, a bearer token's source, a resolve override, a CA.

    Attributes:
        headers: (name, value) pairs sent with every request (never ``Authorization``: see ``token_*``).
        token_env: environment variable holding a bearer token.
        token_cmd: command (split like a shell would, run without one) whose standard output is a bearer token.
        resolve: (host, port, address): requests to ``host:port`` connect to ``address`` and still send
            ``Host: host`` and TLS SNI ``host`` (curl's ``--resolve``).
        ca: path of a PEM CA bundle to verify TLS servers with (default: the system's).
    """

    headers: tuple[tuple[str, str], ...] = ()
    token_env: str | None = None
    token_cmd: str | None = None
    resolve: tuple[str, int, str] | None = None
    ca: str | None = None

    @property
    def has_token(self) -> bool:
        return bool(self.token_env or self.token_cmd)


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
    access: Access = Access()


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

    def __str__(self) -> str:
        inner = ",".join(f'{k}{op}"{_escape(v)}"' for k, op, v in self.matchers)
        return f"{self.metric}{{{inner}}}" if inner else self.metric


@dataclasses.dataclass(frozen=True)
class ErrorRateGate:
    name: str
    url: str
    max_ratio: float
    total: Selector | None = None
    failed: Selector | None = None
    min_requests: int = 0
    allow_idle: bool = False
    access: Access = Access()


Gate = HttpGate | ReadyGate | ErrorRateGate


def _split_top(text: str) -> list[str]:
    """Split on commas outside ``{…}`` and double quotes (``\\"`` inside quotes is a quote), so values may hold commas.

    >>> _split_top('errors:u,failed=x{a="1",b=~"5.."},max=1%')
    ['errors:u', 'failed=x{a="1",b=~"5.."}', 'max=1%']
    >>> _split_top('errors:u,failed=x{path="a\\\\"},b"},token-cmd="get token, quickly"')
    ['errors:u', 'failed=x{path="a\\\\"},b"}', 'token-cmd="get token, quickly"']
    """
    parts: list[str] = []
    cur: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
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


_SELECTOR = re.compile(r'^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$', re.S)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)', re.S)
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def _unescape(text: str) -> str:
    r"""PromQL string escapes (``\"``, ``\\``, ``\n``) to the characters they stand for.

    >>> _unescape(r'a\"b\\c\nd')
    'a"b\\c\nd'
    """
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), text)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_selector(text: str, where: str) -> Selector:
    """``http_requests_total{code=~"5..",job="web"}`` → :class:`Selector` (label values may hold any character, escaped).

    Raises:
        PlanError: not a metric name with well-formed matchers.
    """
    m = _SELECTOR.match(text)
    if not m:
        raise PlanError(f"{where}: {text!r} is not a metric selector", fix='write it like name{code=~"5.."}')
    matchers, body, pos = [], m.group(2) or "", 0
    while pos < len(body.rstrip()):
        mm = _MATCHER.match(body, pos)
        if not mm:
            raise PlanError(f"{where}: cannot read the label matchers {body!r}", fix='write them like code=~"5..",job="web"')
        value = _unescape(mm.group(3))
        if mm.group(2) in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as e:
                raise PlanError(f"{where}: {mm.group(1)}{mm.group(2)}{value!r} is not a regular expression ({e})") from e
        matchers.append((mm.group(1), mm.group(2), value))
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


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _unescape(value[1:-1])
    return value


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
ACCESS_KEYS = ("header", "token-env", "token-cmd", "resolve", "ca")


def _access(opts: dict[str, str], headers: Sequence[str], where: str) -> Access:
    """The reach options of an http/errors gate (consumed from ``opts``).

    Raises:
        PlanError: a malformed header or resolve, a literal Authorization header, two token sources.
    """
    pairs = []
    for h in headers:
        name, colon, value = _unquote(h).partition(":")
        name = name.strip()
        if not colon or not _HEADER_NAME.match(name):
            raise PlanError(f"{where}: header {h!r} is not NAME: VALUE", fix="write it like header=X-Scope-OrgID: shop")
        if name.lower() == "authorization":
            raise PlanError(f"{where}: a literal Authorization header would be saved in the cutover state",
                            fix="use token-env=VARIABLE or token-cmd=\"COMMAND\"; only where the token comes "
                                "from is saved")
        pairs.append((name, value.strip()))
    token_env = opts.pop("token-env", None)
    token_cmd = _unquote(opts.pop("token-cmd")) if "token-cmd" in opts else None
    if token_env is not None and token_cmd is not None:
        raise PlanError(f"{where}: give token-env= or token-cmd=, not both")
    if token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
        raise PlanError(f"{where}: token-env={token_env!r} is not an environment variable name")
    if token_cmd is not None:
        try:
            if not shlex.split(token_cmd):
                raise ValueError("empty")
        except ValueError as e:
            raise PlanError(f"{where}: token-cmd {token_cmd!r} is not a command ({e})") from e
    resolve = None
    if "resolve" in opts:
        raw = opts.pop("resolve")
        m = re.fullmatch(r"([^:\s]+):(\d+):(\[[0-9a-fA-F:.]+\]|[^:\s]+)", raw)
        if not m:
            raise PlanError(f"{where}: resolve={raw!r} is not HOST:PORT:ADDRESS",
                            fix="like curl's --resolve: resolve=green.shop.example:443:20.50.1.2")
        resolve = (m.group(1).lower(), int(m.group(2)), m.group(3).strip("[]"))
    ca = opts.pop("ca", None)
    if ca is not None and not os.path.isfile(ca):
        raise PlanError(f"{where}: ca={ca!r} is not a file", fix="pass the path of a PEM CA bundle")
    return Access(tuple(pairs), token_env, token_cmd, resolve, ca)


FLAGS = ("allow-idle",)


def parse_gate(text: str) -> Gate:
    """Parse one ``--gate`` value (see the module docstring for the forms).

    >>> parse_gate("http:http://127.0.0.1:8081/healthz,p95=300ms,samples=5")  # doctest: +NORMALIZE_WHITESPACE
    HttpGate(name='http:http://127.0.0.1:8081/healthz', url='http://127.0.0.1:8081/healthz', status=((200, 399),),
             p95_seconds=0.3, max_seconds=None, samples=5, max_failures=0, timeout_seconds=5.0,
             access=Access(headers=(), token_env=None, token_cmd=None, resolve=None, ca=None))

    Raises:
        PlanError: an unknown kind or key, or a malformed value; the message quotes the gate.
    """
    kind, sep, rest = text.partition(":")
    where = f"--gate {text!r}"
    if not sep or not rest:
        raise PlanError(f"{where}: expected KIND:TARGET", fix="such as http:https://green.example/healthz")
    target, *pairs = _split_top(rest)
    opts: dict[str, str] = {}
    headers: list[str] = []
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq and key in FLAGS:
            value = "true"
        elif not eq:
            raise PlanError(f"{where}: {pair!r} is not key=value")
        if key == "header":
            headers.append(value.strip())
            continue
        if key in opts:
            raise PlanError(f"{where}: {key}= is given twice")
        opts[key] = value.strip()
    name = opts.pop("name", "") or f"{kind}:{target}"

    def allowed(*keys: str) -> None:
        unknown = sorted(set(opts) - set(keys) | ({"header"} if headers and "header" not in keys else set()))
        if unknown:
            raise PlanError(f"{where}: unknown option {', '.join(unknown)}", fix=f"{kind} gates take {', '.join(keys)}, name")

    if kind == "http":
        keys = ("status", "p95", "max", "samples", "failures", "timeout", *ACCESS_KEYS)
        allowed(*keys)
        if not target.startswith(("http://", "https://")):
            raise PlanError(f"{where}: {target!r} is not an http(s) URL")
        access = _access(opts, headers, where)
        g = HttpGate(name, target,
                     status=_status_ranges(opts["status"], where) if "status" in opts else ((200, 399),),
                     p95_seconds=parse_duration(opts["p95"], f"{where} p95") if "p95" in opts else None,
                     max_seconds=parse_duration(opts["max"], f"{where} max") if "max" in opts else None,
                     samples=_int(opts.get("samples", "10"), where, "samples"),
                     max_failures=_int(opts.get("failures", "0"), where, "failures"),
                     timeout_seconds=parse_duration(opts.get("timeout", "5s"), f"{where} timeout"),
                     access=access)
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
        allowed("max", "total", "failed", "min", "allow-idle", *ACCESS_KEYS)
        if not target.startswith(("http://", "https://")):
            raise PlanError(f"{where}: {target!r} is not an http(s) URL")
        if "max" not in opts:
            raise PlanError(f"{where}: max= is required", fix="the highest acceptable error ratio, such as max=1%")
        if ("total" in opts) != ("failed" in opts):
            raise PlanError(f"{where}: give both total= and failed= (a /metrics exposition) or neither (a "
                            "Prometheus query that returns the ratio)")
        idle = opts.get("allow-idle", "false").lower()
        if idle not in ("true", "false"):
            raise PlanError(f"{where}: allow-idle={idle!r} is not true or false")
        access = _access(opts, headers, where)
        return ErrorRateGate(name, target, _ratio(opts["max"], where),
                             total=parse_selector(opts["total"], where) if "total" in opts else None,
                             failed=parse_selector(opts["failed"], where) if "failed" in opts else None,
                             min_requests=_int(opts.get("min", "0"), where, "min"), allow_idle=idle == "true",
                             access=access)
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


def threshold_of(gate: Gate) -> float | None:
    """The number a gate's value is judged against (p95 or slowest limit, highest error ratio), None if none."""
    if isinstance(gate, HttpGate):
        return gate.p95_seconds if gate.p95_seconds is not None else gate.max_seconds
    if isinstance(gate, ErrorRateGate):
        return gate.max_ratio
    return None


def describe(gate: Gate) -> str:
    """One line for people (plan printouts): what the gate measures and against what; never a token."""
    if isinstance(gate, HttpGate):
        limits = [f"p95 ≤ {gate.p95_seconds * 1000:.0f}ms" if gate.p95_seconds is not None else "",
                  f"slowest ≤ {gate.max_seconds * 1000:.0f}ms" if gate.max_seconds is not None else "",
                  f"≤ {gate.max_failures} failed of {gate.samples}"]
        via = _describe_access(gate.access)
        return f"{gate.name}: GET {gate.url} ({', '.join(x for x in limits if x)}){via}"
    if isinstance(gate, ReadyGate):
        return f"{gate.name}: {gate.kind} {gate.namespace}/{gate.object_name} rolled out on green"
    what = f"Δ{gate.failed}/Δ{gate.total}" if gate.total is not None else "the query's ratio"
    idle = ", idle allowed" if gate.allow_idle else ", no traffic fails"
    return (f"{gate.name}: error rate {what} ≤ {gate.max_ratio:.2%} from {gate.url}"
            f"{f', at least {gate.min_requests} requests' if gate.min_requests else ''}{idle}"
            f"{_describe_access(gate.access)}")


def _describe_access(a: Access) -> str:
    parts = []
    if a.resolve:
        parts.append(f"{a.resolve[0]}:{a.resolve[1]} → {a.resolve[2]}")
    if a.token_env:
        parts.append(f"bearer token from ${a.token_env}")
    if a.token_cmd:
        parts.append(f"bearer token from `{a.token_cmd}`")
    if a.headers:
        parts.append("headers " + ", ".join(n for n, _ in a.headers))
    return f" [{'; '.join(parts)}]" if parts else ""


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
    """Pass when at most ``failures`` probes failed (no answer or a status outside the ranges) and latency holds.

    No probe at all is a failure: a gate that measured nothing never passes.
    """
    if not samples:
        return GateResult(gate.name, False, "no probe was made", None, threshold_of(gate))
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
        return GateResult(gate.name, False, "; ".join(problems), round(p95, 4), threshold_of(gate))
    return GateResult(gate.name, True, f"{len(samples) - len(bad)}/{len(samples)} ok, p95 {p95 * 1000:.0f}ms",
                      round(p95, 4), threshold_of(gate))


@dataclasses.dataclass(frozen=True)
class Rollout:
    """Where a workload's rollout stands, by kstatus' rules.

    Attributes:
        status: ``current`` (rolled out), ``in-progress``, ``failed`` (it will not get there on its own), or
            ``empty`` (it wants no replica or no node: nothing to measure).
        detail: why, for people.
        ready: ready replicas (pods for a DaemonSet).
        wanted: replicas (nodes) it wants.
    """

    status: str
    detail: str
    ready: int = 0
    wanted: int = 0


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}


def rollout(live: Mapping[str, Any]) -> Rollout:
    """kstatus' rollout rules for a Deployment, StatefulSet or DaemonSet (sigs.k8s.io/cli-utils ``pkg/kstatus``).

    * The controller must have observed the latest generation, or nothing else in status is about this spec.
    * Deployment: ``Progressing=False`` with reason ``ProgressDeadlineExceeded`` is a failed rollout (it
      will not finish by waiting); otherwise updated, available and ready replicas must reach
      ``spec.replicas`` with no old replica left.
    * StatefulSet: replicas and ready replicas at ``spec.replicas``; a RollingUpdate must be finished
      (``currentRevision == updateRevision``; with a partition, the pods above it updated); OnDelete
      counts as current once ready (nobody may be deleting pods for it).
    * DaemonSet: scheduled, updated, available and ready pods at ``desiredNumberScheduled``.
    * Wanting no replica (or no node) is ``empty``: a gate that measured nothing never passes.

    >>> rollout({"kind": "Deployment", "metadata": {"generation": 3}, "spec": {"replicas": 2}, "status": {
    ...     "observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2, "conditions": [
    ...     {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
    ...      "message": 'ReplicaSet "web-7d" has timed out progressing.'}]}}).status
    'failed'
    """
    kind = live.get("kind")
    md, spec, status = live.get("metadata") or {}, live.get("spec") or {}, live.get("status") or {}
    generation, observed = md.get("generation"), status.get("observedGeneration")
    if not status:
        return Rollout("in-progress", "no status yet: the controller has not seen it")
    if generation is not None and (observed is None or observed < generation):
        return Rollout("in-progress", f"the controller has not observed generation {generation} yet "
                                      f"(observed {observed})")
    if kind == "Deployment":
        want = int(spec.get("replicas", 1))
        ready = int(status.get("readyReplicas") or 0)
        progressing = _conditions(status).get("Progressing") or {}
        if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
            return Rollout("failed", f"rollout failed: ProgressDeadlineExceeded ({progressing.get('message', '')})",
                           ready, want)
        if want == 0:
            return Rollout("empty", "scaled to 0 replicas: nothing serves", 0, 0)
        updated = int(status.get("updatedReplicas") or 0)
        total = int(status.get("replicas") or 0)
        available = int(status.get("availableReplicas") or 0)
        if updated < want:
            return Rollout("in-progress", f"{updated}/{want} replicas updated", ready, want)
        if total > updated:
            return Rollout("in-progress", f"{total - updated} old replicas pending termination", ready, want)
        if available < want:
            return Rollout("in-progress", f"{available}/{want} replicas available", ready, want)
        if ready < want:
            return Rollout("in-progress", f"{ready}/{want} replicas ready", ready, want)
        if (_conditions(status).get("Available") or {}).get("status") == "False":
            return Rollout("in-progress", "condition Available is False", ready, want)
        return Rollout("current", f"{ready}/{want} ready", ready, want)
    if kind == "StatefulSet":
        want = int(spec.get("replicas", 1))
        ready = int(status.get("readyReplicas") or 0)
        if want == 0:
            return Rollout("empty", "scaled to 0 replicas: nothing serves", 0, 0)
        have = int(status.get("replicas") or 0)
        if have < want:
            return Rollout("in-progress", f"{have}/{want} replicas created", ready, want)
        if have > want:
            return Rollout("in-progress", f"{have - want} replicas pending termination", ready, want)
        if ready < want:
            return Rollout("in-progress", f"{ready}/{want} replicas ready", ready, want)
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
            updated = int(status.get("updatedReplicas") or 0)
            if partition > 0:
                if updated < want - partition:
                    return Rollout("in-progress", f"partitioned rollout: {updated}/{want - partition} above "
                                                  f"partition {partition} updated", ready, want)
            elif status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
                return Rollout("in-progress", f"rolling update: {updated}/{want} on revision "
                                              f"{status.get('updateRevision')}", ready, want)
        return Rollout("current", f"{ready}/{want} ready", ready, want)
    if kind == "DaemonSet":
        if status.get("desiredNumberScheduled") is None:
            return Rollout("in-progress", "no desiredNumberScheduled yet")
        want = int(status["desiredNumberScheduled"])
        ready = int(status.get("numberReady") or 0)
        if want == 0:
            return Rollout("empty", "scheduled on no node: nothing serves", 0, 0)
        for key, what in (("currentNumberScheduled", "scheduled"), ("updatedNumberScheduled", "updated"),
                          ("numberAvailable", "available"), ("numberReady", "ready")):
            n = int(status.get(key) or 0)
            if n < want:
                return Rollout("in-progress", f"{n}/{want} pods {what}", ready, want)
        return Rollout("current", f"{ready}/{want} ready", ready, want)
    return Rollout("failed", f"{kind} has no rollout rules")


def judge_ready(gate: ReadyGate, live: Mapping[str, Any] | None) -> GateResult:
    """Pass when the workload exists and its rollout is current (:func:`rollout`); anything else fails, at once."""
    where = f"{gate.kind} {gate.namespace}/{gate.object_name}"
    if live is None:
        return GateResult(gate.name, False, f"{where} does not exist on green")
    r = rollout(live)
    if r.status == "current":
        return GateResult(gate.name, True, f"{where} ready ({r.detail})", float(r.ready), float(r.wanted))
    what = {"failed": "FAILED", "empty": "measured nothing", "in-progress": "not ready"}[r.status]
    return GateResult(gate.name, False, f"{where} {what}: {r.detail}", float(r.ready), float(r.wanted) or None)


def judge_error_delta(gate: ErrorRateGate, before: tuple[float, float] | None,
                      after: tuple[float, float]) -> GateResult:
    """Error ratio Δfailed/Δtotal between two scrapes of (total, failed) counters.

    A counter that went down (a restarted process) is read from zero. No
    request in the window fails unless the gate says ``allow-idle``, and fewer
    than ``min`` requests always fails: no traffic proves nothing.
    """
    limit = gate.max_ratio
    if before is None:
        return GateResult(gate.name, False, "no baseline scrape at the start of the step", None, limit)
    d_total = after[0] - before[0] if after[0] >= before[0] else after[0]
    d_failed = after[1] - before[1] if after[1] >= before[1] else after[1]
    if gate.min_requests > 0 and d_total < gate.min_requests:
        return GateResult(gate.name, False, f"only {d_total:.0f} requests in the window, need {gate.min_requests}",
                          None, limit)
    if d_total <= 0:
        if gate.allow_idle:
            return GateResult(gate.name, True, "no requests in the window (allow-idle)", 0.0, limit)
        return GateResult(gate.name, False, "no requests in the window: an idle green proves nothing",
                          None, limit)
    ratio = d_failed / d_total
    return _judge_ratio(gate, ratio, f" ({d_failed:.0f}/{d_total:.0f})")


def judge_error_ratio(gate: ErrorRateGate, ratio: float | None) -> GateResult:
    """A ratio the metrics backend computed (a Prometheus query).

    No series (None) fails: the query matched nothing. NaN (0/0: no traffic) fails
    unless the gate says ``allow-idle``.
    """
    if ratio is None:
        return GateResult(gate.name, False, "the query returned no value", None, gate.max_ratio)
    if math.isnan(ratio):
        if gate.allow_idle:
            return GateResult(gate.name, True, "the query returned NaN: no traffic (allow-idle)", 0.0, gate.max_ratio)
        return GateResult(gate.name, False, "the query returned NaN: no traffic, which proves nothing", None,
                          gate.max_ratio)
    return _judge_ratio(gate, ratio, "")


def _judge_ratio(gate: ErrorRateGate, ratio: float, counts: str) -> GateResult:
    ok = ratio <= gate.max_ratio
    rel = "<=" if ok else ">"
    return GateResult(gate.name, ok, f"error rate {ratio:.2%}{counts} {rel} {gate.max_ratio:.2%}", round(ratio, 6),
                      gate.max_ratio)


# --------------------------------------------------------------------------- metrics formats (pure)


@dataclasses.dataclass(frozen=True)
class Series:
    """One sample of a text exposition: its name, its family's name and type, labels and value."""

    name: str
    family: str
    type: str
    labels: Mapping[str, str]
    value: float


@dataclasses.dataclass(frozen=True)
class Exposition:
    """A parsed text exposition: every sample, and every family declared (``# TYPE``/``# HELP``), with or without samples."""

    series: tuple[Series, ...]
    families: frozenset[str]


def parse_exposition(text: str) -> Exposition:
    r"""The samples of a Prometheus text exposition, read by prometheus-client's parser.

    prometheus-client reads counters the OpenMetrics way (a counter ``r`` has
    samples ``r_total``); :func:`sum_selected` accepts a selector naming either.

    >>> [(s.name, dict(s.labels), s.value) for s in parse_exposition(
    ...     '# TYPE r_total counter\nr_total{code="200"} 7\nr_total{code="5}0,0"} 1\n').series]
    [('r_total', {'code': '200'}, 7.0), ('r_total', {'code': '5}0,0'}, 1.0)]

    Raises:
        ValueError: the text is not an exposition (a malformed line fails the whole scrape, rather
            than being dropped and counting as zero).
    """
    from prometheus_client.parser import text_string_to_metric_families

    series, families = [], set()
    for fam in text_string_to_metric_families(text):
        families.add(fam.name)
        if fam.type == "counter":
            families.add(fam.name + "_total")
        for s in fam.samples:
            series.append(Series(s.name, fam.name, fam.type, dict(s.labels), float(s.value)))
    return Exposition(tuple(series), frozenset(families))


def _named(s: Series, metric: str) -> bool:
    return s.name == metric or (s.type == "counter" and s.family == metric and s.name == metric + "_total")


def sum_selected(samples: Iterable[Series], selector: Selector) -> float:
    """The sum of every sample the selector matches."""
    return sum(s.value for s in samples if _named(s, selector.metric)
               and selector.matches(selector.metric, s.labels))


def selector_problem(exposition: Exposition, selector: Selector, role: str) -> str | None:
    """Why a selector cannot be trusted on this scrape (a typo), or None.

    ``total=`` must match at least one series. ``failed=`` may match none (no
    error yet: client libraries create a labelled series on its first
    increment), but its metric must be in the scrape (declared or sampled) and
    every label it matches on must appear on some series of that metric — a
    misspelt name or label would otherwise read as "no errors" forever.
    """
    named = [s for s in exposition.series if _named(s, selector.metric)]
    if not named:
        if role == "failed" and selector.metric in exposition.families:
            return None
        return f"no series named {selector.metric} in the scrape ({role}={selector})"
    for label, op, value in selector.matchers:
        if op in ("=", "=~") and value and not any(label in s.labels for s in named):
            return f"no series of {selector.metric} has a label {label!r} ({role}={selector})"
    if role == "total" and not any(selector.matches(selector.metric, s.labels) for s in named):
        return f"{role}={selector} matches none of the {len(named)} series of {selector.metric}"
    return None


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
        values = [float(r["value"][1]) for r in result]
        real = [v for v in values if not math.isnan(v)]
        return max(real) if real else math.nan
    return None


# --------------------------------------------------------------------------- reaching a URL


class GateAuthError(PlanError):
    """A gate's bearer token could not be obtained (bad input: nothing was changed)."""


class Tokens:
    """Bearer tokens of the gates that need one: read from the environment or a command, cached, never printed.

    Args:
        run: runs a command (argv) and returns (exit code, stdout, stderr); tests pass a fake.
        clock: monotonic seconds (a command's token is fetched again after :data:`TOKEN_TTL_SECONDS`).
    """

    def __init__(self, run: Callable[[list[str]], tuple[int, str, str]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._run = run or _run_command
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    def token(self, gate_name: str, access: Access, *, fresh: bool = False) -> str | None:
        """The bearer token for ``access`` (None when it takes none).

        Raises:
            GateAuthError: the variable is unset or empty, or the command failed or printed nothing;
                the message names the gate and the source, never a token.
        """
        if access.token_env:
            value = os.environ.get(access.token_env, "").strip()
            if not value:
                raise GateAuthError(f"gate {gate_name!r} cannot authenticate: environment variable "
                                    f"{access.token_env} is not set or empty",
                                    fix=f"export {access.token_env} with a bearer token, or use token-cmd=")
            return value
        if not access.token_cmd:
            return None
        cached = self._cache.get(access.token_cmd)
        if cached and not fresh and self._clock() - cached[1] < TOKEN_TTL_SECONDS:
            return cached[0]
        argv = shlex.split(access.token_cmd)
        try:
            code, out, err = self._run(argv)
        except (OSError, subprocess.SubprocessError) as e:
            raise GateAuthError(f"gate {gate_name!r} cannot authenticate: token command `{access.token_cmd}` "
                                f"could not run ({e.__class__.__name__}: {e})",
                                fix="install the command or fix token-cmd=") from e
        value = out.strip()
        if code != 0 or not value:
            why = f"exited {code}" if code != 0 else "printed no token"
            first = next((ln.strip() for ln in err.splitlines() if ln.strip()), "")
            raise GateAuthError(f"gate {gate_name!r} cannot authenticate: token command `{access.token_cmd}` {why}"
                                + (f": {first[:200]}" if first else ""),
                                fix="run the command yourself (logged in? `az login`), or fix token-cmd=")
        self._cache[access.token_cmd] = (value, self._clock())
        return value


def _run_command(argv: list[str]) -> tuple[int, str, str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def request_parts(url: str, access: Access) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to connect to, extra headers and httpx request extensions for ``access``'s resolve override.

    >>> request_parts("https://green.shop.example:8443/healthz", Access(resolve=("green.shop.example", 8443,
    ...     "127.0.0.1")))
    ('https://127.0.0.1:8443/healthz', {'Host': 'green.shop.example:8443'}, {'sni_hostname': 'green.shop.example'})
    """
    if not access.resolve:
        return url, {}, {}
    u = httpx.URL(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    host, rport, address = access.resolve
    if u.host.lower() != host or port != rport:
        return url, {}, {}
    default = (u.scheme == "https" and port == 443) or (u.scheme == "http" and port == 80)
    target = str(u.copy_with(host=address))
    ext = {"sni_hostname": u.host} if u.scheme == "https" else {}
    return target, {"Host": u.host if default else f"{u.host}:{port}"}, ext


# --------------------------------------------------------------------------- measuring


class GateSet:
    """The gates of one cutover, with what measuring them needs.

    Args:
        gates: parsed gates.
        http: the HTTP client for probes and metrics (its own timeouts per gate apply); gates with
            ``ca=`` get a client of their own.
        kube: green's API client; required when a ``ready`` gate is present.
        tokens: where bearer tokens come from (a fresh :class:`Tokens` by default).

    Raises:
        PlanError: a ``ready`` gate without a green kubeconfig.
    """

    def __init__(self, gates: Sequence[Gate], *, http: httpx.Client, kube: Any = None,
                 tokens: Tokens | None = None) -> None:
        if kube is None and any(isinstance(g, ReadyGate) for g in gates):
            raise PlanError("ready: gates read green's workloads", fix="pass --green-kubeconfig")
        self.gates = list(gates)
        self.http = http
        self.kube = kube
        self.tokens = tokens or Tokens()
        self._clients: dict[str, httpx.Client] = {}
        self._baseline: dict[str, tuple[float, float] | None] = {}
        self.last: list[GateResult] = []

    def authenticate(self) -> list[tuple[str, str]]:
        """Obtain every gate's bearer token once, before anything changes.

        Returns:
            (gate name, where its token came from) for each gate that takes one.

        Raises:
            GateAuthError: the first gate that cannot authenticate (bad input, exit 2).
        """
        out = []
        for g in self.gates:
            access = getattr(g, "access", None)
            if access is not None and access.has_token:
                self.tokens.token(g.name, access, fresh=True)
                out.append((g.name, f"${access.token_env}" if access.token_env else f"`{access.token_cmd}`"))
        return out

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    def begin_step(self) -> None:
        """Scrape the counters of exposition-based error gates: the start of this step's window.

        A series absent at the start counts from zero (it appears on its first
        request); whether the selectors are sound is judged at each evaluation.
        """
        self._baseline = {}
        for g in self.gates:
            if isinstance(g, ErrorRateGate) and g.total is not None:
                try:
                    self._baseline[g.name] = self._counters(g, check=False)
                except (httpx.HTTPError, ValueError, AkshiftError):
                    self._baseline[g.name] = None

    def evaluate(self) -> list[GateResult]:
        """Measure and judge every gate once (a measurement that fails is a failed gate)."""
        self.last = [self._evaluate(g) for g in self.gates]
        return self.last

    def _evaluate(self, g: Gate) -> GateResult:
        try:
            if isinstance(g, HttpGate):
                return judge_http(g, self._probe(g))
            if isinstance(g, ReadyGate):
                return judge_ready(g, self._read(g))
            if g.total is not None:
                return judge_error_delta(g, self._baseline.get(g.name), self._counters(g))
            return judge_error_ratio(g, self._ratio(g))
        except _UnmeasurableError as e:
            return GateResult(g.name, False, str(e), None, threshold_of(g))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            return GateResult(g.name, False, f"could not measure: {e.__class__.__name__}: {e}", None, threshold_of(g))
        except AkshiftError as e:  # green's API unreachable or refusing; a token that cannot be had mid-hold
            return GateResult(g.name, False, f"could not measure: {e.headline()}", None, threshold_of(g))

    def _client(self, access: Access) -> httpx.Client:
        if not access.ca:
            return self.http
        if access.ca not in self._clients:
            self._clients[access.ca] = httpx.Client(verify=ssl.create_default_context(cafile=access.ca),
                                                    follow_redirects=False)
        return self._clients[access.ca]

    def _get(self, name: str, url: str, access: Access, timeout: float) -> httpx.Response:
        """GET with the gate's headers, token and resolve override; a 401 fetches a command token again once."""
        target, headers, ext = request_parts(url, access)
        headers.update(dict(access.headers))
        client = self._client(access)
        for attempt in (0, 1):
            token = self.tokens.token(name, access, fresh=attempt == 1)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            r = client.get(target, headers=headers, timeout=timeout, extensions=ext)
            if r.status_code != 401 or not access.token_cmd or attempt == 1:
                return r
        return r

    def _probe(self, g: HttpGate) -> list[Sample]:
        out = []
        for _ in range(g.samples):
            t0 = time.perf_counter()
            try:
                r = self._get(g.name, g.url, g.access, g.timeout_seconds)
                out.append(Sample(r.status_code, time.perf_counter() - t0))
            except httpx.HTTPError as e:
                out.append(Sample(None, time.perf_counter() - t0, f"{e.__class__.__name__}: {e}"))
        return out

    def _read(self, g: ReadyGate) -> dict[str, Any] | None:
        return self.kube.read({"apiVersion": "apps/v1", "kind": g.kind,
                               "metadata": {"namespace": g.namespace, "name": g.object_name}})

    def _counters(self, g: ErrorRateGate, *, check: bool = True) -> tuple[float, float]:
        r = self._get(g.name, g.url, g.access, 10.0)
        r.raise_for_status()
        exposition = parse_exposition(r.text)
        assert g.total is not None and g.failed is not None
        for sel, role in ((g.total, "total"), (g.failed, "failed")):
            problem = selector_problem(exposition, sel, role) if check else None
            if problem:
                raise _UnmeasurableError(problem)
        return sum_selected(exposition.series, g.total), sum_selected(exposition.series, g.failed)

    def _ratio(self, g: ErrorRateGate) -> float | None:
        r = self._get(g.name, g.url, g.access, 10.0)
        r.raise_for_status()
        return prometheus_value(orjson.loads(r.content))


class _UnmeasurableError(Exception):
    """A scrape that answered but cannot be trusted (a selector that matches nothing): a failed gate."""
