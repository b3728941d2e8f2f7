"""`akshift promote`: the pure decision (refusals, last change, pins, backends) and the real engine path.

What they pin: promotion refuses an unverified, failed, stale or mismatched
source with every reason and what to do; an ``up`` that only records a
verification is not a change, a config change is; the pins map the source's
outputs to the target's keys; the backend and secrets provider are checked
before the engine runs; and, with the real engine, two sandbox stacks (source on
green, target on a fresh cluster reached through a StackReference) promote for
real: refused while unverified or failed, pinned and applied once verified,
restored when declined, refused again once the source changed
(``tests/engine/test_promotion_on_sandbox_stacks.py``).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from deploy import artifacts, backend, pins, rules
from deploy.errors import ArtifactError, BackendSetupError, PinMismatch
from deploy.rules import UpdateRecord

T0 = dt.datetime(2026, 11, 20, 9, 0, 0)
DIGEST = "sha256:" + "ab" * 32


def update(version: int, minutes: float, *, changes: dict[str, int] | None = None, kind: str = "update",
           result: str = "succeeded", config: dict[str, Any] | None = None) -> UpdateRecord:
    start = T0 + dt.timedelta(minutes=minutes)
    return UpdateRecord(version, kind, result, start, start + dt.timedelta(seconds=30),
                        changes if changes is not None else {"same": 5}, config or {"akshift:cluster": '{"name":"g"}'})


def outputs(*, ok: bool | None = True, verified: float | None = 10, digest: str | None = DIGEST,
            verified_digest: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kubernetesVersion": "1.36", "addonVersions": {"nodeLocalDns": "registry.k8s.io/dns/x:1"}}
    if digest:
        out["workloads"] = {"digest": digest, "objects": 11}
    if ok is not None:
        at = (T0 + dt.timedelta(minutes=verified or 0)).replace(tzinfo=dt.UTC).isoformat()
        out["verification"] = {"ok": ok, "verifiedAt": at, "snapshotDigest": verified_digest,
                               "report": "out/verify.json", "counts": {"ok": 10, "failed": 0 if ok else 1}}
    return out


DEPLOYED = [update(1, 0, changes={"create": 15})]


# --------------------------------------------------------------------------- refusals


def test_a_verified_source_with_no_change_since_may_be_promoted() -> None:
    assert rules.refusals("test", outputs(), DEPLOYED + [update(2, 12)]) == []


@pytest.mark.parametrize(("out", "history", "words"), [
    (outputs(ok=None), DEPLOYED, "test has no verification result; run `akshift verify`"),
    (outputs(ok=False), DEPLOYED, "verification failed on test at 2026-11-20T09:10:00+00:00 (1 failed, 10 ok"),
    (outputs(verified=-5), DEPLOYED, "is older than its last change: update #1 changed resources (15 create)"),
    (outputs(verified_digest="sha256:" + "cd" * 32), DEPLOYED, "covers snapshot sha256:cdcd"),
    (outputs(digest=None), DEPLOYED, "declares no migrated workloads"),
    (outputs(), DEPLOYED + [update(2, 20, changes={}, result="failed")], "the last update of test (#2, update) failed"),
    (outputs(), [], "test was never deployed"),
], ids=["unverified", "failed", "stale", "other snapshot", "no workloads", "last update failed", "never deployed"])
def test_each_refusal_says_what_is_wrong_and_what_to_do(out: dict[str, Any], history: list[UpdateRecord],
                                                       words: str) -> None:
    reasons = rules.refusals("test", out, history)
    assert any(words in r for r in reasons), reasons
    assert all("akshift" in r for r in reasons)  # each says which command fixes it


def test_every_reason_is_reported_at_once() -> None:
    reasons = rules.refusals("test", outputs(ok=False, verified=-5), DEPLOYED)
    assert len(reasons) == 2 and "failed" in reasons[0] and "older" in reasons[1]


def test_a_verification_within_the_second_the_change_ended_counts_as_stale() -> None:
    # History has whole seconds: 09:00:30 may really be 09:00:30.9, after a verification at 09:00:30.5.
    ended = T0 + dt.timedelta(seconds=30)
    out = outputs()
    out["verification"]["verifiedAt"] = ended.replace(microsecond=500000).isoformat() + "Z"
    assert any("older" in r for r in rules.refusals("test", out, DEPLOYED))


# --------------------------------------------------------------------------- last change


def test_an_up_that_only_records_a_verification_is_not_a_change() -> None:
    change = rules.last_change(DEPLOYED + [update(2, 12), update(3, 13)])
    assert change is not None and change[0].version == 1


def test_an_up_with_changed_configuration_is_a_change_even_without_resource_changes() -> None:
    history = DEPLOYED + [update(2, 12, config={"akshift:cluster": '{"name": "g", "kubernetesVersion": "1.37"}'})]
    change = rules.last_change(history)
    assert change is not None and change[0].version == 2 and "akshift:cluster" in change[1]


def test_configuration_written_with_other_json_spacing_is_not_a_change() -> None:
    history = DEPLOYED + [update(2, 12, config={"akshift:cluster": '{"name": "g"}'})]
    assert rules.last_change(history)[0].version == 1  # type: ignore[index]


def test_an_up_that_only_reads_its_own_outputs_is_not_a_change() -> None:
    # Every `up` of a cluster.mode existing stack reads its own last outputs (the new → existing guard).
    history = DEPLOYED + [update(2, 12, changes={"same": 15, "read": 1})]
    assert rules.last_change(history)[0].version == 1  # type: ignore[index]


def test_previews_are_not_changes_and_a_drift_correcting_refresh_is() -> None:
    history = DEPLOYED + [update(2, 5, kind="preview", changes={"update": 3}),
                          update(3, 6, kind="refresh", changes={"same": 4, "update": 1})]
    change = rules.last_change(history)
    assert change is not None and change[0].version == 3


# --------------------------------------------------------------------------- pins


def test_pins_map_source_outputs_to_target_config_keys() -> None:
    assert rules.pinned_values(outputs()) == {
        "akshift:cluster.kubernetesVersion": "1.36",
        "akshift:dns.nodeLocalDnsImage": "registry.k8s.io/dns/x:1",
        "akshift:workloads.digest": DIGEST,
    }


def test_config_changes_list_only_pins_the_target_lacks() -> None:
    target = {"akshift:cluster": json.dumps({"mode": "existing", "kubernetesVersion": "1.36"}),
              "akshift:workloads": {"snapshot": "out/t"}}
    changes = rules.config_changes(target, rules.pinned_values(outputs()))
    assert [(c.key, c.old) for c in changes] == [("akshift:dns.nodeLocalDnsImage", None),
                                                 ("akshift:workloads.digest", None)]


def test_a_target_without_a_snapshot_cannot_take_a_digest_pin() -> None:
    reasons = rules.target_refusals("prod", {"akshift:cluster": "{}"}, rules.pinned_values(outputs()))
    assert reasons and "prod has no akshift:workloads.snapshot" in reasons[0]


def test_the_program_refuses_a_snapshot_that_is_not_the_pinned_one() -> None:
    assert pins.check_snapshot_digest(DIGEST, None, snapshot="s") == DIGEST
    assert pins.check_snapshot_digest(DIGEST, DIGEST, snapshot="s") == DIGEST
    with pytest.raises(PinMismatch, match="workloads.snapshot: s has digest sha256:abab.* pins sha256:0000"):
        pins.check_snapshot_digest(DIGEST, "sha256:" + "0" * 64, snapshot="s")


@pytest.mark.parametrize(("live", "expected", "ok"), [
    ("v1.36.3", "1.36", True), ("v1.36.3-aks.1", "1.36.3", True), ("v1.36.3", "1.36.2", False),
    ("v1.37.0", "1.36", False), ("garbage", "1.36", False),
], ids=["same minor", "exact patch", "other patch", "other minor", "unreadable"])
def test_a_cluster_must_run_the_pinned_kubernetes_version(live: str, expected: str, ok: bool) -> None:
    if ok:
        assert pins.check_kubernetes_version(live, expected, cluster="c") == live
    else:
        with pytest.raises(PinMismatch, match="cluster.kubernetesVersion"):
            pins.check_kubernetes_version(live, expected, cluster="c")


# --------------------------------------------------------------------------- backend


@pytest.mark.parametrize(("environ", "provider", "words"), [
    ({}, "passphrase", "set PULUMI_CONFIG_PASSPHRASE"),
    ({"PULUMI_BACKEND_URL": "azblob://state"}, "azurekeyvault://kv.vault.azure.net/keys/pulumi", "AZURE_STORAGE_ACCOUNT"),
    ({"PULUMI_BACKEND_URL": "ftp://x"}, None, "is not a Pulumi backend"),
    ({"PULUMI_CONFIG_PASSPHRASE": "p"}, "awskms://k", "is not supported"),
], ids=["passphrase provider without passphrase", "blob without account", "unknown scheme", "unsupported secrets provider"])
def test_backend_problems_name_the_variable_to_set(environ: dict[str, str], provider: str | None, words: str) -> None:
    with pytest.raises(BackendSetupError, match=words):
        backend.resolve_backend(environ, secrets_provider=provider)


def test_without_a_backend_url_the_users_pulumi_login_decides_and_nothing_is_overridden() -> None:
    b = backend.resolve_backend({})
    assert (b.url, b.kind, b.secrets_provider) == (backend.LOGIN, "login", None)
    assert "PULUMI_BACKEND_URL" not in b.env


def test_a_stack_whose_secrets_pulumi_decrypts_otherwise_needs_no_passphrase() -> None:
    # Key Vault or Pulumi Cloud stacks: the stack file names the provider; Pulumi handles it.
    assert backend.resolve_backend({"PULUMI_BACKEND_URL": "file:///srv/state"}).kind == "file"


def test_a_blob_url_may_name_its_account_in_the_query() -> None:
    url = "azblob://state?storage_account=acct"
    b = backend.resolve_backend({"PULUMI_BACKEND_URL": url})
    assert (b.kind, b.env["PULUMI_BACKEND_URL"]) == ("azblob", url)


def test_teams_use_blob_storage_with_key_vault_or_pulumi_cloud_without_a_passphrase() -> None:
    blob = backend.resolve_backend({"PULUMI_BACKEND_URL": "azblob://state", "AZURE_STORAGE_ACCOUNT": "acct"},
                                   secrets_provider="azurekeyvault://kv.vault.azure.net/keys/pulumi")
    assert (blob.kind, blob.secrets_provider) == ("azblob", "azurekeyvault://kv.vault.azure.net/keys/pulumi")
    assert backend.resolve_backend({"PULUMI_BACKEND_URL": "https://api.pulumi.com"}).kind == "cloud"


# --------------------------------------------------------------------------- verification record


def test_the_verification_record_uses_the_reports_own_time_when_it_has_one(tmp_path: Path) -> None:
    report = tmp_path / "verify.json"
    assert artifacts.read_verification(report) is None
    report.write_bytes(orjson.dumps({"ok": True, "counts": {"ok": 3}, "verified_at": "2026-11-20T09:00:00+00:00",
                                     "snapshot_digest": DIGEST}))
    rec = artifacts.read_verification(report)
    assert rec == {"ok": True, "verifiedAt": "2026-11-20T09:00:00+00:00", "snapshotDigest": DIGEST,
                   "report": str(report), "counts": {"ok": 3}}


def test_a_rehearsal_whose_claims_started_empty_is_recorded_and_refused_for_promotion(tmp_path: Path) -> None:
    report = tmp_path / "verify.json"
    claim = "core/PersistentVolumeClaim/data/pg-data-postgres-0"
    report.write_bytes(orjson.dumps({"ok": True, "counts": {"ok": 3}, "verified_at": "2026-11-20T09:10:00+00:00",
                                     "snapshot_digest": DIGEST, "data_not_copied": [claim]}))
    rec = artifacts.read_verification(report)
    assert rec is not None and rec["ok"] is True and rec["dataNotCopied"] == [claim]
    out = {**outputs(), "verification": rec}
    reasons = rules.refusals("test", out, DEPLOYED + [update(2, 12)])
    assert any("1 claims started empty on test" in r and "akshift volumes move" in r for r in reasons), reasons


def test_a_report_without_a_time_is_dated_by_its_file(tmp_path: Path) -> None:
    report = tmp_path / "verify.json"
    report.write_bytes(orjson.dumps({"ok": False}))
    os.utime(report, (1795600000, 1795600000))
    rec = artifacts.read_verification(report)
    assert rec is not None and rec["ok"] is False
    assert rules.parse_time(rec["verifiedAt"]) == dt.datetime.fromtimestamp(1795600000, dt.UTC)


def test_a_report_that_is_not_a_verify_report_is_refused(tmp_path: Path) -> None:
    report = tmp_path / "verify.json"
    report.write_text('{"counts": {}}')
    with pytest.raises(ArtifactError, match="has no boolean 'ok'"):
        artifacts.read_verification(report)
