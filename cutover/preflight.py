"""Preflight: the conditions under which moving traffic is safe, each a pure check with a reason and a fix.

Why these, in this order (all are evaluated and reported, never only the first):

* ``green-verified`` — the migration engine's ``verify.json`` says every
  object arrived and every workload is ready, with no blocking finding.
  Shifting traffic to an unverified cluster turns a migration gap into an outage.
* ``dns-ttl`` — with a DNS-based switch (Traffic Manager), resolvers keep the
  old answer for the TTL; a hold shorter than twice the TTL would judge green
  on traffic that mostly has not arrived yet. A proxy (HAProxy, Front Door)
  has no TTL.
* ``single-writer`` — a StatefulSet with volumes running on blue *and* green
  means two databases taking writes behind one name: split-brain as soon as
  green takes traffic. It must run on one side only (or be marked as safe
  with ``akshift.io/multi-writer: "true"``, or named with ``--allow-multi-writer``).
* ``start-weights`` — a new cutover starts from all traffic on blue (or from
  its own first step); anything else means someone else is moving traffic.
* ``green-in-sync`` — ``akshift sync`` is running (a fresh heartbeat in the run's
  ``sync-status.json``) and keeping up (recent p95 lag and the oldest pending
  change within its ``--max-lag``): between migrate and cutover blue keeps
  taking deploys, and a green that does not have them is a stale copy to send
  users to. Skipped only when told (``--no-sync-check``).
* ``blue-frozen`` — added by the runner once the freeze is proven.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cutover.plan import Plan
from migration.sync import SyncStatus, SyncStatusError, read_status
from migration.verification import VerificationError, read_verification

MULTI_WRITER_ANNOTATION = "akshift.io/multi-writer"


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_verify_report(path: Path, now: float | None = None) -> Check:
    """Green is verified when ``verify.json`` (``akshift verify``) is ok with no blocking findings and no claim
    that started empty (a rehearsal's ``--empty-volumes``: green would serve without the data).

    The report is read through the pipeline's one reader (:func:`migration.verification.read_verification`).
    """
    fix = "run `akshift verify --target <green kubeconfig> --out <run dir>` until it passes, and pass --verify-report"
    try:
        doc = read_verification(Path(path))
    except VerificationError as e:
        return Check("green-verified", False, str(e), fix)
    if doc is None:
        return Check("green-verified", False, f"no verify report at {path}", fix)
    age = (now if now is not None else time.time()) - Path(path).stat().st_mtime
    problems = []
    if not doc.ok:
        problems.append("verification did not pass")
    if doc.unaccounted:
        problems.append(f"{len(doc.unaccounted)} objects unaccounted")
    if doc.not_ready:
        problems.append(f"{len(doc.not_ready)} workloads not ready")
    if doc.blocking_findings:
        problems.append(f"{doc.blocking_findings} blocking findings")
    if doc.data_not_copied:
        problems.append(f"{len(doc.data_not_copied)} claims started empty, their data not copied (a rehearsal, "
                        "--empty-volumes)")
    if problems:
        return Check("green-verified", False, f"{path}: " + "; ".join(problems), fix)
    return Check("green-verified", True, f"{path}: verified, {age / 3600:.1f}h ago")


def check_dns_ttl(ttl_seconds: float, hold_seconds: float) -> Check:
    """The hold must be at least twice the DNS TTL, so most of it observes the new weights.

    >>> check_dns_ttl(300, 300).ok, check_dns_ttl(30, 300).ok, check_dns_ttl(0, 1).ok
    (False, True, True)
    """
    if ttl_seconds * 2 <= hold_seconds:
        what = "no DNS caching (proxy)" if ttl_seconds == 0 else f"TTL {ttl_seconds:.0f}s"
        return Check("dns-ttl", True, f"{what}, hold {hold_seconds:.0f}s")
    return Check("dns-ttl", False,
                 f"DNS TTL {ttl_seconds:.0f}s is too long for a {hold_seconds:.0f}s hold: clients keep the old answer "
                 f"for up to the TTL, so green would be judged on traffic that has not arrived",
                 f"lower akshift:traffic.dnsTtl to {max(1, int(hold_seconds // 2))}s or less (and `up` it a TTL "
                 f"before the cutover), or hold at least {ttl_seconds * 2:.0f}s")


def _writers(objs: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out = {}
    for o in objs:
        spec = o.get("spec") or {}
        if spec.get("volumeClaimTemplates") and spec.get("replicas", 1) > 0:
            md = o.get("metadata") or {}
            out[f"{md.get('namespace')}/{md.get('name')}"] = o
    return out


def check_single_writers(blue: Iterable[Mapping[str, Any]], green: Iterable[Mapping[str, Any]],
                         allowed: Sequence[str] = ()) -> Check:
    """StatefulSets with volumes must not run on both clusters at once (split-brain behind one name).

    Args:
        blue, green: the StatefulSets of each cluster, as listed.
        allowed: ``namespace/name`` the team declared safe to run twice (``--allow-multi-writer``).
    """
    on_blue, on_green = _writers(blue), _writers(green)
    both = []
    for key in sorted(set(on_blue) & set(on_green)):
        ann = (on_green[key].get("metadata") or {}).get("annotations") or {}
        if key in allowed or ann.get(MULTI_WRITER_ANNOTATION) == "true":
            continue
        both.append(key)
    if both:
        return Check("single-writer", False,
                     f"StatefulSets with volumes run on both clusters: {', '.join(both)}",
                     "keep each on one side (scale green's to 0 and point green at blue's, or move the data to a "
                     f"managed service first), or annotate it {MULTI_WRITER_ANNOTATION}=\"true\" if it replicates "
                     "safely, or pass --allow-multi-writer NAMESPACE/NAME")
    return Check("single-writer", True, f"{len(on_blue)} stateful writers on blue, {len(on_green)} on green, "
                                        "none on both")


def check_start_weights(live: Mapping[str, int], plan: Plan) -> Check:
    """A new cutover starts from blue at 100% (or from its own first step); both endpoints must exist."""
    missing = [n for n in (plan.blue, plan.green) if n not in live]
    if missing:
        return Check("start-weights", False, f"the switch has no endpoint {', '.join(missing)} "
                                             f"(it has {', '.join(sorted(live)) or 'none'})",
                     "name --from/--to like the switch's endpoints")
    here = {plan.blue: live[plan.blue], plan.green: live[plan.green]}
    if here in (plan.weights(0), plan.weights(plan.steps[0])):
        return Check("start-weights", True, f"{plan.blue} {here[plan.blue]}%, {plan.green} {here[plan.green]}%")
    return Check("start-weights", False,
                 f"the switch already sends {here[plan.green]}% to {plan.green} and no cutover state says why",
                 "resume the cutover that set it (--resume --state-dir …) or `akshift rollback` first")


def check_sync(path: Path, now: float | None = None, *, alive: Any = None, host: str | None = None) -> Check:
    """Green is in step with blue when ``akshift sync`` runs and its lag is within the bound it was started with.

    Args:
        path: the run's ``sync-status.json`` (next to ``verify.json``).
        now: wall-clock seconds (default: now).
        alive, host: see :meth:`migration.sync.SyncStatus.running` (tests pass fakes).
    """
    fix = ("start `akshift sync --source <blue> --target <green> --out <run dir>` and let it catch up (its --max-lag is "
           "the bound), or pass --no-sync-check if nothing changes on blue any more")
    try:
        status = read_status(Path(path))
    except SyncStatusError as e:
        return Check("green-in-sync", False, str(e), fix)
    if status is None:
        return Check("green-in-sync", False, f"no sync status at {path}: `akshift sync` has not run for this migration",
                     fix)
    return sync_verdict(status, time.time() if now is None else now, path=path, alive=alive, host=host)


def sync_verdict(status: SyncStatus, now: float, *, path: Path, alive: Any = None, host: str | None = None) -> Check:
    """The ``green-in-sync`` check of one status reading (see :func:`check_sync`)."""
    fix = ("restart `akshift sync` (it resumes from its journal) and wait until its lag is within --max-lag, "
           "or pass --no-sync-check if nothing changes on blue any more")
    running, why = status.running(now, alive=alive, host=host)
    if not running:
        return Check("green-in-sync", False, f"{path}: {why}", fix)
    bound = status.max_lag_seconds
    problems = []
    if status.lag_p95 is not None and status.lag_p95 > bound:
        problems.append(f"p95 lag {status.lag_p95:.1f}s is over {bound:.0f}s")
    if status.oldest_pending_seconds > bound:
        problems.append(f"a change has waited {status.oldest_pending_seconds:.0f}s (over {bound:.0f}s)")
    if status.failing_seconds > bound:
        problems.append(f"watching {', '.join(status.failing)} has failed for {status.failing_seconds:.0f}s "
                        f"(over {bound:.0f}s): blue's changes of those types are not seen")
    if problems:
        return Check("green-in-sync", False, f"{path}: " + "; ".join(problems), fix)
    lag = "no change measured yet" if status.lag_p95 is None else f"p95 lag {status.lag_p95:.2f}s"
    extra = f"; {len(status.conflicts)} conflicts on green (see `akshift sync`)" if status.conflicts else ""
    return Check("green-in-sync", True, f"sync running ({why}), {lag} within {bound:.0f}s{extra}")
