"""The sync's decisions, journal and status, and the cutover preflight that reads the status (no cluster)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from cutover import runner
from cutover.plan import Plan
from cutover.preflight import check_sync, sync_verdict
from cutover.store import CutoverStore
from migration.sync import SyncInputError, SyncOptions, SyncStatus, engine, journal, read_status, sync
from migration.sync.engine import Do, Result, SyncState
from migration.sync.journal import SyncJournal
from migration.sync.status import STALE_SECONDS, write_status

KEY = "core/ConfigMap/shop/settings"
OURS = {"metadata": {"uid": "u1", "managedFields": [{"manager": "akshift", "operation": "Apply"}]}}
THEIRS = {"metadata": {"uid": "u1", "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}]}}


@pytest.mark.parametrize("carried,green,do", [
    ((), OURS, Do.SKIP),           # green-only: never ours to delete
    ((KEY,), None, Do.SKIP),       # already gone
    ((KEY,), THEIRS, Do.SKIP),     # someone took it over on green
    ((KEY,), OURS, Do.DELETE),
], ids=["green-only", "already-gone", "taken-over", "carried-and-ours"])
def test_a_deletion_reaches_green_only_for_objects_akshift_carried_and_still_manages(
        carried: tuple[str, ...], green: dict[str, Any] | None, do: Do) -> None:
    assert engine.decide_delete(KEY, frozenset(carried), green, "akshift").do is do


def test_an_excluded_or_untransformable_object_is_not_applied() -> None:
    assert engine.decide_upsert(KEY, True).do is Do.APPLY
    assert engine.decide_upsert(KEY, False, "controller-owned").reason == "excluded: controller-owned"
    assert engine.decide_upsert(KEY, None, "rule x failed").do is Do.SKIP


def test_a_fresh_list_deletes_only_carried_objects_of_its_own_type() -> None:
    carried = ["core/ConfigMap/a/gone", "core/ConfigMap/a/kept", "core/Secret/a/gone"]
    assert engine.vanished(["core/ConfigMap/a/kept"], carried, "core/ConfigMap") == ["core/ConfigMap/a/gone"]


def test_the_state_tracks_carried_objects_conflicts_and_only_the_lag_of_real_changes() -> None:
    s = SyncState(carried=frozenset({"core/ConfigMap/a/old"}))
    s = engine.after_change(s, KEY, Result.CONFLICT, message="owned by kubectl-edit")
    assert KEY not in s.carried and s.conflicts == {KEY: "owned by kubectl-edit"}
    s = engine.after_change(s, KEY, Result.UPDATED, lag=0.2)
    assert KEY in s.carried and not s.conflicts
    s = engine.after_change(s, KEY, Result.UNCHANGED, lag=9.0)  # nothing changed on green: no lag sample
    s = engine.after_change(s, "core/ConfigMap/a/old", Result.DELETED, lag=0.4)
    assert s.carried == {KEY} and s.lags == (0.2, 0.4)
    assert s.counts == {"conflict": 1, "updated": 1, "unchanged": 1, "deleted": 1}
    assert s.lag()["p95"] == 0.4


def test_a_conflict_ends_when_blue_deletes_the_object_it_held_back() -> None:
    # Blue adds an object green already has (someone else's), then deletes it: the add conflicted, the delete is
    # skipped (akshift never carried it). Nothing of blue's is left to carry, so no conflict may stay open and fail
    # every later run (seen in CI: a sync daemon saw the add and the delete as two events).
    s = engine.after_change(SyncState(), KEY, Result.CONFLICT, message="conflict with kubectl: .data.made")
    s = engine.after_change(s, KEY, Result.SKIPPED)
    assert not s.conflicts and KEY not in s.carried
    blocked = engine.after_change(engine.after_change(SyncState(), KEY, Result.CONFLICT, message="m"), KEY,
                                  Result.FAILED)
    assert blocked.conflicts == {KEY: "m"}  # a failure settles nothing: the conflict stays reported


def test_lag_is_measured_from_blue_when_a_change_waited_for_a_stopped_sync() -> None:
    obj = {"metadata": {"managedFields": [{"manager": "kubectl", "time": "2026-12-01T03:00:00Z"},
                                          {"manager": "helm", "time": "2026-12-01T03:00:10Z"}]}}
    blue = engine.changed_at(obj)
    assert blue is not None
    assert engine.lag_origin(blue + 60.0, blue) == blue        # replayed after a minute down
    assert engine.lag_origin(blue + 0.5, blue) == blue + 0.5  # live: the precise arrival time


def test_the_journal_resumes_from_the_last_version_whose_changes_are_on_green(tmp_path: Path) -> None:
    j = SyncJournal(tmp_path, carried=[KEY])
    j.record_identity({"targetUid": "green-uid"})
    j.record_change("core/ConfigMap/shop/new", Result.CREATED, 1.0)
    j.record_version("core/ConfigMap", "41")
    j.record_change(KEY, Result.DELETED, 2.0)
    j.record_change("core/ConfigMap/shop/drifted", Result.CONFLICT, 2.5, message="conflict with kubectl-edit: .data.x")
    j.record_change("core/ConfigMap/shop/fixed", Result.CONFLICT, 2.6, message="conflict with helm")
    j.record_change("core/ConfigMap/shop/fixed", Result.UPDATED, 2.7)
    j.record_change("core/ConfigMap/shop/gone", Result.CONFLICT, 2.8, message="conflict with kubectl")
    j.record_change("core/ConfigMap/shop/gone", Result.SKIPPED, 2.9, message="not carried by akshift")
    j.record_version("core/ConfigMap", "42")
    j.record_version("apps/Deployment", "7")
    j.record_expired("apps/Deployment")
    j.close()
    with open(tmp_path / journal.JOURNAL, "ab") as f:
        f.write(b'{"type": "core/ConfigMap", "rv": "4')  # torn by a SIGKILL mid-write
    resumed = SyncJournal(tmp_path, carried=[KEY])
    assert resumed.state.versions == {"core/ConfigMap": "42"}
    assert resumed.state.carried == {"core/ConfigMap/shop/new", "core/ConfigMap/shop/fixed"}
    assert resumed.state.conflicts == {"core/ConfigMap/shop/drifted": "conflict with kubectl-edit: .data.x"}
    assert resumed.identity == {"targetUid": "green-uid"}


def test_a_long_journal_is_compacted_to_the_same_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    j = SyncJournal(tmp_path, carried=[KEY])
    for i in range(30):
        j.record_change(f"core/ConfigMap/shop/c{i}", Result.CREATED, float(i))
        j.record_version("core/ConfigMap", str(100 + i))
    j.record_change(KEY, Result.DELETED, 99.0)
    j.close()
    before = SyncJournal(tmp_path, carried=[KEY]).state
    monkeypatch.setattr(journal, "COMPACT_AFTER", 10)
    after = SyncJournal(tmp_path, carried=[KEY]).state
    assert len((tmp_path / journal.JOURNAL).read_bytes().splitlines()) == 32  # 30 carried, 1 deleted, 1 version
    assert (after.versions, after.carried, after.conflicts) == (before.versions, before.carried, before.conflicts)


def status(**kw: Any) -> SyncStatus:
    base: dict[str, Any] = dict(pid=os.getpid(), host="here", phase="watching", started_at=1000.0,
                                heartbeat_at=2000.0, max_lag_seconds=30.0, lag_p50=0.1, lag_p95=0.5, samples=10)
    return SyncStatus(**{**base, **kw})


def test_the_status_file_round_trips_and_says_what_the_lag_is_measured_from(tmp_path: Path) -> None:
    write_status(tmp_path, status(conflicts=("k",), counts={"updated": 3}))
    assert read_status(tmp_path / "sync-status.json") == status(conflicts=("k",), counts={"updated": 3})
    doc = orjson.loads((tmp_path / "sync-status.json").read_bytes())
    assert "watch event" in doc["lag"]["measuredFrom"] and doc["schemaVersion"] == 1


@pytest.mark.parametrize("reading,now,alive,fragment", [
    (status(), 2000.0 + STALE_SECONDS + 1, True, "heartbeat is 16s old"),
    (status(), 2001.0, False, "is gone"),
    (status(phase="stopped"), 2001.0, True, "sync is stopped"),
    (status(phase="once"), 2031.0, False, "the last --once pass ended 31s ago"),
    (status(lag_p95=45.0), 2001.0, True, "p95 lag 45.0s is over 30s"),
    (status(pending=1, oldest_pending_seconds=40.0), 2001.0, True, "a change has waited 40s"),
    (status(failing=("apps/Deployment",), failing_seconds=31.0), 2001.0, True,
     "watching apps/Deployment has failed for 31s"),
], ids=["stale-heartbeat", "process-gone", "stopped", "once-too-long-ago", "p95-over-bound", "change-stuck",
        "watch-failing"])
def test_the_cutover_preflight_refuses_a_sync_that_is_not_running_or_lags(
        reading: SyncStatus, now: float, alive: bool, fragment: str) -> None:
    check = sync_verdict(reading, now, path=Path("run/sync-status.json"), alive=lambda pid: alive, host="here")
    assert not check.ok and fragment in check.detail and "--no-sync-check" in check.fix


def test_the_cutover_preflight_passes_a_running_sync_within_its_bound() -> None:
    check = sync_verdict(status(), 2001.0, path=Path("s.json"), alive=lambda pid: True, host="here")
    assert check.ok and "p95 lag 0.50s within 30s" in check.detail


def test_a_once_pass_from_cron_counts_as_in_sync_within_its_bound() -> None:
    check = sync_verdict(status(phase="once"), 2010.0, path=Path("s.json"), alive=lambda pid: False, host="here")
    assert check.ok and "a --once pass ended 10s ago" in check.detail


def test_without_a_sync_status_the_preflight_fails_naming_the_file(tmp_path: Path) -> None:
    check = check_sync(tmp_path / "sync-status.json")
    assert not check.ok and str(tmp_path / "sync-status.json") in check.detail and "akshift sync" in check.fix


class Router:
    def weights(self) -> dict[str, int]:
        return {"blue": 100, "green": 0}

    def dns_ttl(self) -> float:
        return 0.0


def test_the_cutover_dry_run_lists_the_sync_check_only_when_it_is_asked_for(tmp_path: Path) -> None:
    s = runner.Session(CutoverStore(tmp_path / "cutover"), Router())  # type: ignore[arg-type]
    p = Plan("blue", "green", (0, 100), 60.0, ("http:http://green/",), {"kind": "fake"})
    checks = runner.dry_run(p, s, verify_report=tmp_path / "verify.json", sync_status=tmp_path / "sync-status.json")
    assert {c.name: c.ok for c in checks}["green-in-sync"] is False
    skipped = runner.dry_run(p, s, verify_report=tmp_path / "verify.json", sync_status=None)
    assert "green-in-sync" not in {c.name for c in skipped}


def test_a_sync_without_a_migrated_run_directory_is_bad_input_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SyncInputError, match="has no usable transformed/") as e:
        sync(None, None, options=SyncOptions(out=tmp_path), secret_key=None)  # type: ignore[arg-type]
    assert e.value.exit_code == 2 and "akshift migrate" in e.value.fix
    assert not (tmp_path / "sync-journal.jsonl").exists()


@pytest.fixture
def cutover_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`akshift cutover --preflight-only -o json` over a run directory, with a switch at blue 100% (no HAProxy)."""
    from typer.testing import CliRunner

    from akshift import cmd_cutover
    from akshift.cli import app

    run = tmp_path / "run"
    run.mkdir()
    (run / "verify.json").write_bytes(orjson.dumps({"ok": True, "unaccounted": [], "not_ready": [],
                                                    "blocking_findings": 0}))
    monkeypatch.setattr(cmd_cutover, "_session", lambda state_dir, *a: runner.Session(CutoverStore(state_dir),
                                                                                         Router()))  # type: ignore[arg-type]

    def invoke(*extra: str) -> tuple[int, dict[str, bool]]:
        result = CliRunner().invoke(app, ["cutover", "--from", "blue", "--to", "green", "--gate", "http:http://green/",
                                          "--router", "haproxy", "--haproxy-socket", str(tmp_path / "sock"),
                                          "--verify-report", str(run / "verify.json"), "--no-freeze",
                                          "--state-dir", str(tmp_path / "cutover"), "--preflight-only", "-o", "json",
                                          *extra])
        doc = orjson.loads(result.stdout)
        return result.exit_code, {c["name"]: c["ok"] for c in doc["preflight"]}

    return run, invoke


def test_the_cutover_refuses_without_a_running_sync_beside_the_verify_report_unless_told(cutover_cli: Any) -> None:
    run, invoke = cutover_cli
    assert invoke() == (2, {"green-verified": True, "dns-ttl": True, "start-weights": True, "green-in-sync": False,
                            "single-writer": True})
    code, checks = invoke("--no-sync-check")
    assert code == 0 and "green-in-sync" not in checks
    write_status(run, status(heartbeat_at=time.time(), host="elsewhere"))
    assert invoke() == (0, {"green-verified": True, "dns-ttl": True, "start-weights": True, "green-in-sync": True,
                            "single-writer": True})


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\x00\xff"])
def test_an_unreadable_apply_record_stops_sync_naming_the_file(tmp_path: Path, content: bytes) -> None:
    from migration.sync.runner import _accepted_at_apply

    (tmp_path / "apply.json").write_bytes(content)
    with pytest.raises(SyncInputError, match="apply.json") as e:
        _accepted_at_apply(tmp_path)
    assert e.value.fix and "akshift apply" in e.value.fix


def test_sync_takes_the_blocker_codes_the_runs_apply_accepted_and_none_before_an_apply(tmp_path: Path) -> None:
    from migration.sync.runner import _accepted_at_apply

    assert _accepted_at_apply(tmp_path) == ()
    (tmp_path / "apply.json").write_bytes(orjson.dumps({"objects": [], "accepted_blockers": ["b", "a", "a"]}))
    assert _accepted_at_apply(tmp_path) == ("a", "b")


class _Blue:
    """A source that serves Deployments and holds the given objects (by path); counts its GETs."""

    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        from kube.client import ApiResource

        self.objects, self.gets = objects, 0
        self._res = {("apps/v1", "Deployment"): ApiResource("apps", "v1", "Deployment", "deployments", True,
                                                            frozenset({"get", "list", "watch"}))}

    def resources(self, refresh: bool = False) -> dict[tuple[str, str], Any]:
        return self._res

    def get(self, path: str) -> dict[str, Any]:
        from kube.errors import ApiError

        self.gets += 1
        if path not in self.objects:
            raise ApiError(404, "NotFound", path)
        return self.objects[path]


def test_an_owner_counts_as_carried_when_sync_carried_it_or_it_is_on_blue_now_and_not_being_deleted() -> None:
    from migration.sync.runner import WillBeOnGreen

    path = "/apis/apps/v1/namespaces/shop/deployments/"
    blue = _Blue({path + "new": {"metadata": {}},
                  path + "leaving": {"metadata": {"deletionTimestamp": "2026-12-01T00:00:00Z"}}})
    state = SyncState(carried=frozenset({"apps/Deployment/shop/carried"}))
    now = [0.0]
    owners = WillBeOnGreen(blue, lambda: state, clock=lambda: now[0])  # type: ignore[arg-type]
    assert "apps/Deployment/shop/carried" in owners and blue.gets == 0  # carried: blue is not asked
    assert "apps/Deployment/shop/new" in owners  # made on blue a moment ago: sync carries it
    assert "apps/Deployment/shop/leaving" not in owners and "apps/Deployment/shop/gone" not in owners
    assert "example.com/Widget/shop/unserved" not in owners
    asked = blue.gets
    assert "apps/Deployment/shop/new" in owners and blue.gets == asked  # remembered…
    now[0] += 31
    assert "apps/Deployment/shop/new" in owners and blue.gets == asked + 1  # …for a while
