"""``akshift sync``: after ``migrate``, keep green in step with blue until the cutover freezes blue.

Why a package of the migration layer: it reads blue and writes green exactly
as ``migrate`` does — the same transform and findings, the same server-side
apply with akshift's field manager — only continuously. Its parts:
:mod:`~migration.sync.engine` (pure decisions over a state),
:mod:`~migration.sync.runner` (list, watch, apply, delete; persists each
transition), :mod:`~migration.sync.journal` (``sync-journal.jsonl``, the
memory of a resumed run) and :mod:`~migration.sync.status`
(``sync-status.json``, read by the cutover's preflight).
"""
from migration.sync.runner import SyncInputError, SyncOptions, SyncResult, check_clusters, sync
from migration.sync.status import STATUS_FILE, SyncStatus, SyncStatusError, read_status

__all__ = ["STATUS_FILE", "SyncInputError", "SyncOptions", "SyncResult", "SyncStatus", "SyncStatusError",
           "check_clusters", "read_status", "sync"]
