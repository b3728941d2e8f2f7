"""The on-disk snapshot: one YAML file per object, an index, an encrypted Secret bundle.

Why this format: stages are re-runnable functions between directories
(inventory → ``snapshot/``, transform → ``transformed/``), and people review
them with ``git diff`` and ``grep``. So:

* **Deterministic paths** ``<namespace or _cluster>/<group or core>.<Kind>/<name>.yaml``
  (``shop/apps.Deployment/web.yaml``, ``_cluster/core.Namespace/shop.yaml``):
  the same object always lands in the same file, whatever the listing order.
  ``_cluster`` cannot collide with a namespace (namespace names are DNS
  labels, without underscores). A legal name that is not a portable file name
  (253 characters, an RBAC name with ``:``, unicode) gets a hashed file name
  ``<prefix>~<sha256>`` (:attr:`kube.objects.ObjectRef.path`); the index's
  ``refs`` maps those paths to their objects (:meth:`Snapshot.ref`).
* **One bad object is one error**: an object that cannot be stored is left
  out, listed in the index's ``failed`` and raised to the caller as an
  :class:`InventoryError` for that object; the rest of the snapshot proceeds.
* **Git-friendly YAML**: sorted keys, block style, multi-line strings as
  literal blocks, no line folding; libyaml's C dumper/loader when available
  (an order of magnitude faster than the pure-Python ones).
* **Streaming**: :class:`SnapshotWriter` writes each object as it comes and
  keeps only its path and digest; :meth:`Snapshot.objects` yields one object at
  a time. Secrets are the exception (held until the bundle is encrypted, see
  :mod:`migration.secrets` for why one bundle).
* **A JSON cache of the YAML**: ``objects.cache.jsonl`` holds every object file's content again, one
  line per object (``"<path>"<TAB><object as JSON>``, in write order), and the index its sha256. A
  reader takes an object from it when the object's file still hashes to its index digest (an unchanged
  file), and parses the YAML otherwise, so a hand edit always wins. Why: libyaml's loader builds every
  node in Python (about 80 µs for a small object), orjson parses the same object in a tenth of that —
  most of an apply's start at 10,000 objects (docs/dependencies.md). The cache is not content: the
  digest ignores it, and a missing or changed cache only makes reading slower. Secrets are never in it.
* **Secrets never in plain text**: a Secret's YAML file is not written; the
  object goes into ``secrets.age`` and the index lists its path. Patch-log
  values of Secrets are redacted.
* **index.json**: counts per kind and namespace, every path with its sha256,
  and a digest — sha256 over the sorted ``path\\0sha256(content)`` lines — that
  is identical for identical content whatever the write order. Secrets
  contribute their path only: a hash of a short password is guessable, and
  the ciphertext changes on every run.
* **Re-runs**: writing into an existing directory is refused unless
  ``overwrite=True``. Either way everything is written to a temporary sibling
  directory first and renamed into place on success, so a failed or interrupted
  run never leaves a half-written snapshot behind; with ``overwrite`` the old
  directory is renamed aside, the new one renamed in, and the old one deleted
  (a crash between the two renames leaves ``.<name>.old-*`` to recover from).

The ``transformed`` stage adds three JSON-lines logs, sorted by path at commit
so they are deterministic too: ``patches.jsonl`` (per object: the rules'
operations and the conflicts), ``excluded.jsonl`` (per object: the whiteout
reason) and ``findings.jsonl``.
"""
from __future__ import annotations

import collections
import concurrent.futures
import errno
import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import yaml

from kube.errors import ObjectNameError
from kube.objects import CLUSTER_DIR, ObjectRef, is_hashed_path, is_secret
from migration import tempfiles, yamlout
from migration.errors import InventoryError, SnapshotInputError
from migration.findings import Finding
from migration.secrets import SecretKey, SecretKeyError, decrypt_bundle, encrypt_bundle, require_key


class SnapshotIntegrityError(SnapshotInputError):
    """A snapshot's files are not those its index lists (changed, missing or extra): refused before reading it."""


FORMAT = "akshift.snapshot/v1"
STAGES = ("snapshot", "transformed")
INDEX = "index.json"
SECRETS_BUNDLE = "secrets.age"
PATCHES = "patches.jsonl"
EXCLUDED = "excluded.jsonl"
FINDINGS = "findings.jsonl"
CACHE = "objects.cache.jsonl"
REDACTED = "<redacted>"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# errno values that concern one file name, not the output directory as a whole (EEXIST: a filesystem
# that folds case or normalizes unicode made two objects' paths one file).
_NAME_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL, errno.EEXIST})
# Files handed to the writer thread at once, and hand-overs queued before the producer waits. Measured on
# the sandbox (docs/migration.md "Benchmarks"): one thread creating files is cheaper than two — two threads
# creating files in the same directories spend their time in the kernel (ext4 took 2-4× the system time)
# — and a batch costs one thread switch instead of one per object.
_BATCH = 64
_BATCHES_IN_FLIGHT = 8
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _create(path: str, data: bytes) -> None:
    """A new file holding ``data``: open, write, close — none of ``open()``'s buffer, ``fstat``, ``ioctl`` or ``lseek``."""
    fd = os.open(path, _CREATE, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


class _Cache:
    """The writer's ``objects.cache.jsonl``: appended to by the writer thread only, hashed as it is written."""

    def __init__(self, path: Path):
        self.fd: int | None = os.open(path, _CREATE, 0o644)
        self.sha256 = hashlib.sha256()

    def append(self, lines: list[bytes]) -> None:
        data = b"".join(lines)
        assert self.fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.sha256.update(data)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _cache_line(path: str, obj: Mapping[str, Any]) -> bytes | None:
    """The cache's line of one object; None for one JSON cannot carry as YAML does (an integer over 64 bits)."""
    try:
        return orjson.dumps(path) + b"\t" + orjson.dumps(obj) + b"\n"
    except orjson.JSONEncodeError:
        return None  # read from its YAML file instead


def _write_batch(dirs: list[str], files: list[tuple[str, bytes, bytes | None]],
                 cache: _Cache) -> list[tuple[int, OSError]]:
    """Create ``dirs``, then ``files`` in order, then the cache lines of those created (on the writer thread).

    Returns:
        The files refused by name (their cache lines are not written).

    Raises:
        OSError: a failure that is not about one file's name (a full or read-only disk): the run stops.
    """
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    refused = []
    lines = []
    for i, (path, data, line) in enumerate(files):
        try:
            _create(path, data)
        except OSError as e:
            if e.errno not in _NAME_ERRNOS:
                raise OSError(e.errno, e.strerror, path) from e  # os.write's errors do not name the file
            refused.append((i, e))
            continue
        if line is not None:
            lines.append(line)
    cache.append(lines)
    return refused


def dump_yaml(obj: Mapping[str, Any]) -> bytes:
    """An object as git-friendly YAML (sorted keys, block style, literal multi-line strings, no folding), UTF-8.

    Written by :mod:`migration.yamlout` (10× faster than PyYAML's representer); read back by libyaml.
    """
    return yamlout.dump(obj).encode()


def load_yaml(data: bytes | str) -> Any:
    """Parse one YAML document with the safe (C when available) loader."""
    return yaml.load(data, Loader=_Loader)


def _redact_ops(ops: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**op, "value": REDACTED} if "value" in op else dict(op) for op in ops]


def content_digest(files: Mapping[str, str], secrets: Iterable[str]) -> str:
    h = hashlib.sha256()
    lines = [f"{p}\0{sha}\n" for p, sha in files.items()] + [f"{p}\0secret\n" for p in secrets]
    for line in sorted(lines):
        h.update(line.encode())
    return "sha256:" + h.hexdigest()


def _jsonl(value: Mapping[str, Any]) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS) + b"\n"


class SnapshotWriter:
    """Streams objects into a new snapshot directory; use as a context manager.

    On a clean exit the snapshot is committed (bundle encrypted, index written,
    directory renamed into place); on an exception the temporary directory is
    removed and any existing snapshot is left untouched.

    Example::

        with SnapshotWriter(out / "snapshot", secret_key=key) as w:
            for obj in client.list_everything():
                w.write(obj)
    """

    def __init__(self, root: str | os.PathLike[str], *, stage: str = "snapshot",
                 secret_key: SecretKey | None = None, exclude_secrets: bool = False, overwrite: bool = False):
        """Prepare a temporary directory next to ``root``.

        Args:
            root: the snapshot directory to produce.
            stage: ``"snapshot"`` (raw inventory) or ``"transformed"`` (adds the logs).
            secret_key: encrypts the Secret bundle; required unless ``exclude_secrets``.
            exclude_secrets: leave Secrets out entirely (their paths are listed in the index).
            overwrite: replace an existing snapshot at ``root``.

        Raises:
            SecretKeyError: no key and Secrets not excluded — raised before any
                listing, so a long inventory does not fail at its first Secret.
            InventoryError: ``root`` exists and ``overwrite`` is False, or the stage is unknown.
        """
        if stage not in STAGES:
            raise InventoryError(f"unknown snapshot stage {stage!r}; expected one of {', '.join(STAGES)}")
        if not exclude_secrets:
            require_key(secret_key)
        self.root = Path(root)
        self._recover()
        if self.root.exists() and not overwrite:
            raise SnapshotInputError(f"{self.root} already exists", fix="pass --overwrite to replace it")
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            tempfiles.sweep(self.root.parent, keep_old_of=self.root)
            self._tmp = Path(tempfile.mkdtemp(prefix=tempfiles.prefix(self.root.name), dir=self.root.parent))
        except OSError as e:
            raise SnapshotInputError(f"cannot write into {self.root.parent} ({e.strerror or e})",
                                     fix="pass a writable run directory to --out") from e
        self.stage = stage
        self.overwrite = overwrite
        self._key = secret_key
        self._exclude_secrets = exclude_secrets
        self._files: dict[str, str] = {}
        self._secrets: dict[str, dict[str, Any]] = {}
        self._secrets_excluded: list[str] = []
        self._by_kind: Counter[str] = Counter()
        self._by_namespace: Counter[str] = Counter()
        self._logs = {name: (self._tmp / name).open("wb") for name in (PATCHES, EXCLUDED, FINDINGS)} \
            if stage == "transformed" else {}
        self._log_counts: Counter[str] = Counter()
        self._severities: Counter[str] = Counter()
        self._closed = False
        self._dirs: set[str] = set()
        self._refs: dict[str, str] = {}  # hashed path → key: names that cannot be read back from the path
        self._failed: list[dict[str, Any]] = []
        self.failures: list[InventoryError] = []
        # Files go to one writer thread in batches (see _BATCH): YAML is produced on the caller's thread
        # while the previous batch's files are created (file creation releases the GIL).
        self._batch_dirs: list[str] = []
        self._batch: list[tuple[str, bytes, bytes | None]] = []
        self._batch_refs: list[tuple[str, ObjectRef]] = []
        self._pending: collections.deque[tuple[list[tuple[str, ObjectRef]],
                                               concurrent.futures.Future[list[tuple[int, OSError]]]]] = collections.deque()
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="snapshot-write")
        self._cache = _Cache(self._tmp / CACHE)
        self._tmp_prefix = str(self._tmp) + os.sep

    def _recover(self) -> None:
        """Put back the previous snapshot a run killed between its two renames left aside (root missing)."""
        if self.root.exists():
            return
        for old in tempfiles.stale(self.root.parent):
            if old.name.startswith(f".{self.root.name}.old-") and (old / "previous").is_dir():
                os.rename(old / "previous", self.root)
                shutil.rmtree(old, ignore_errors=True)
                return

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def write(self, obj: Mapping[str, Any]) -> str:
        """Write one object (Secrets go to the bundle, or are skipped with ``exclude_secrets``).

        Args:
            obj: a Kubernetes object dict; not modified.

        Returns:
            Its snapshot-relative path.

        Raises:
            InventoryError: this object cannot be stored — its name cannot be a file name, or its path
                was already written. Only this object is left out (it is recorded in the index's
                ``failed`` list and in :attr:`failures`); the caller records it and goes on.
        """
        ref = ObjectRef.of(obj)
        try:
            path = ref.path
        except ObjectNameError as e:
            raise self._fail(ref, None, f"cannot be stored: {e.message}", e.fix) from e
        if path in self._files or path in self._secrets or path in self._secrets_excluded:
            raise self._fail(ref, path, f"{path} written twice", "list each resource at one version only")
        if is_hashed_path(path):
            self._refs[path] = ref.key
        self._by_kind[ref.kind_dir] += 1
        self._by_namespace[path.split("/", 1)[0]] += 1
        if is_secret(obj):
            if self._exclude_secrets:
                self._secrets_excluded.append(path)
            else:
                self._secrets[path] = dict(obj)
            return path
        content = dump_yaml(obj)
        directory = path.rpartition("/")[0]
        if directory not in self._dirs:
            self._dirs.add(directory)
            self._batch_dirs.append(self._tmp_prefix + directory)
        self._batch.append((self._tmp_prefix + path, content, _cache_line(path, obj)))
        self._batch_refs.append((path, ref))
        self._files[path] = hashlib.sha256(content).hexdigest()
        if len(self._batch) >= _BATCH:
            self._hand_over()
        return path

    def _hand_over(self) -> None:
        """Queue the current batch for the writer thread; settle the oldest when too many are queued."""
        if self._batch:
            self._pending.append((self._batch_refs, self._io.submit(_write_batch, self._batch_dirs, self._batch,
                                                                      self._cache)))
            self._batch_dirs, self._batch, self._batch_refs = [], [], []
        while len(self._pending) > _BATCHES_IN_FLIGHT:
            self._settle(*self._pending.popleft())

    def _fail(self, ref: ObjectRef, path: str | None, message: str, fix: str) -> InventoryError:
        error = InventoryError(message, ref=ref, fix=fix)
        self._failed.append({"ref": ref.to_dict(), "path": path, "message": message})
        self.failures.append(error)
        return error

    def _settle(self, refs: list[tuple[str, ObjectRef]],
                future: concurrent.futures.Future[list[tuple[int, OSError]]]) -> None:
        # A write refused because of this one file name (too long for this filesystem, bytes it
        # cannot encode) loses only this object; a full, read-only or failing disk stops the run.
        try:
            refused = future.result()
        except OSError as e:
            where = e.filename or self._tmp
            raise InventoryError(f"cannot write {where}: {e.strerror or e}",
                                 fix="free space or fix the output directory, then re-run") from e
        for i, error in refused:
            self._forget(*refs[i], error)

    def _forget(self, path: str, ref: ObjectRef, e: OSError) -> None:
        """Take back an object whose file the filesystem refused by name, and record it as failed."""
        del self._files[path]
        self._refs.pop(path, None)
        self._by_kind[ref.kind_dir] -= 1
        self._by_namespace[path.split("/", 1)[0]] -= 1
        fix = ("write the run directory on a case-sensitive filesystem (this one made two objects' names one "
               "file)") if e.errno == errno.EEXIST else "report it: akshift should have chosen a portable file name"
        self._fail(ref, path, f"cannot be stored as {path}: {e.strerror or e}", fix)

    def _drain(self) -> None:
        self._hand_over()
        while self._pending:
            self._settle(*self._pending.popleft())

    def _log(self, name: str, entry: Mapping[str, Any]) -> None:
        if not self._logs:
            raise InventoryError(f"{name} is only written in the 'transformed' stage, not '{self.stage}'")
        self._logs[name].write(_jsonl(entry))
        self._log_counts[name] += 1

    def write_outcome(self, outcome: Any, *, source_path: str | None = None) -> str | None:
        """Record one transform outcome: the object, its patch log, findings, or its exclusion.

        Args:
            outcome: a :class:`migration.transforms.TransformOutcome`.
            source_path: the object's path in the raw snapshot, logged for cross-reference.

        Returns:
            The written object's path, or None when the object was excluded.
        """
        secret = outcome.ref.kind == "Secret" and outcome.ref.group == ""
        if not outcome.kept:
            self._log(EXCLUDED, {"ref": outcome.ref.to_dict(), "source": source_path,
                                 "rule": outcome.excluded_by, "reason": outcome.excluded})
            self.write_findings(outcome.findings)  # what the target must provide instead, when a rule says
            return None
        path = self.write(outcome.obj)
        if outcome.patches or outcome.conflicts:
            entry = outcome.patch_log()
            if secret:  # patch values of a Secret may be its data
                for patch in entry["patches"]:
                    patch["ops"] = _redact_ops(patch["ops"])
                for conflict in entry["conflicts"]:
                    conflict["winner_op"], conflict["loser_op"] = _redact_ops(
                        [conflict["winner_op"], conflict["loser_op"]])
            self._log(PATCHES, {**entry, "path": path, "source": source_path})
            self._log_counts["conflicts"] += len(outcome.conflicts)
        self.write_findings(outcome.findings)
        return path

    def write_failure(self, ref: ObjectRef, message: str, *, source_path: str | None = None) -> None:
        """Record an object the stage could not process in excluded.jsonl (``"error": true``)."""
        self._log(EXCLUDED, {"ref": ref.to_dict(), "source": source_path, "rule": None,
                             "reason": message, "error": True})

    def write_findings(self, findings: Iterable[Finding]) -> None:
        """Append findings to findings.jsonl (transformed stage)."""
        for finding in findings:
            self._log(FINDINGS, finding.to_dict())
            self._severities[finding.severity.value] += 1

    def abort(self) -> None:
        """Discard everything written; an existing snapshot at ``root`` is untouched."""
        if self._closed:
            return
        self._closed = True
        for _, fut in self._pending:
            fut.cancel()
        self._io.shutdown(wait=True)
        self._cache.close()
        for f in self._logs.values():
            f.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def commit(self) -> Path:
        """Encrypt the bundle, sort the logs, write the index and move the snapshot into place.

        Returns:
            The snapshot directory.

        Raises:
            InventoryError: ``root`` appeared meanwhile and ``overwrite`` is False.
            SecretKeyError: the bundle could not be encrypted.
        """
        if self._closed:
            raise InventoryError(f"snapshot {self.root} is already committed or aborted")
        try:
            self._drain()
            self._io.shutdown(wait=True)
            self._cache.close()
            for name, f in self._logs.items():
                f.close()
                _sort_jsonl(self._tmp / name)
            if self._secrets:
                assert self._key is not None  # checked in __init__
                (self._tmp / SECRETS_BUNDLE).write_bytes(encrypt_bundle(self._secrets, self._key))
            (self._tmp / INDEX).write_bytes(orjson.dumps(self._index(), option=orjson.OPT_SORT_KEYS
                                                         | orjson.OPT_INDENT_2) + b"\n")
            self._swap()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.root

    def _index(self) -> dict[str, Any]:
        index: dict[str, Any] = {
            "format": FORMAT,
            "stage": self.stage,
            "digest": content_digest(self._files, list(self._secrets) + self._secrets_excluded),
            "counts": {
                "total": sum(self._by_kind.values()),
                "by_kind": dict(sorted((k, n) for k, n in self._by_kind.items() if n)),
                "by_namespace": dict(sorted((k, n) for k, n in self._by_namespace.items() if n)),
            },
            "objects": dict(sorted(self._files.items())),
            "secrets": sorted(self._secrets),
            "secrets_excluded": sorted(self._secrets_excluded),
            "cache": {"file": CACHE, "sha256": self._cache.sha256.hexdigest()},
        }
        if self._refs:  # only hashed paths need it; plain paths invert with ObjectRef.from_path
            index["refs"] = dict(sorted(self._refs.items()))
        if self._failed:
            index["failed"] = sorted(self._failed, key=lambda f: (f["path"] or "", sorted(f["ref"].items())))
        if self.stage == "transformed":
            index["counts"].update({
                "excluded": self._log_counts[EXCLUDED],
                "patched": self._log_counts[PATCHES],
                "conflicts": self._log_counts["conflicts"],
                "findings": dict(sorted(self._severities.items())),
            })
        return index

    def _swap(self) -> None:
        if not self.root.exists():
            os.rename(self._tmp, self.root)
            return
        if not self.overwrite:
            raise InventoryError(f"{self.root} appeared while the snapshot was written",
                                 fix="pass --overwrite to replace it")
        old = Path(tempfile.mkdtemp(prefix=tempfiles.prefix(self.root.name, "old"), dir=self.root.parent))
        os.rename(self.root, old / "previous")
        os.rename(self._tmp, self.root)
        shutil.rmtree(old, ignore_errors=True)


def _check_index(path: Path, index: Mapping[str, Any]) -> None:
    """The index's shape, key by key: a hand-edited or foreign index is bad input naming the key."""
    def bad(key: str, expected: str) -> SnapshotInputError:
        return SnapshotInputError(f"{path}: key '{key}' must be {expected}", fix="re-run the stage that writes it")

    if index.get("stage") not in STAGES:
        raise bad("stage", " or ".join(repr(s) for s in STAGES))
    if not isinstance(index.get("digest"), str):
        raise bad("digest", "a string")
    objects = index.get("objects")
    if not isinstance(objects, dict) or not all(isinstance(v, str) for v in objects.values()):
        raise bad("objects", "an object mapping paths to sha256 strings")
    for key in ("secrets", "secrets_excluded"):
        if not isinstance(index.get(key), list) or not all(isinstance(v, str) for v in index[key]):
            raise bad(key, "a list of paths")
    if not isinstance(index.get("refs", {}), dict):
        raise bad("refs", "an object")
    for p in [*objects, *index["secrets"], *index["secrets_excluded"]]:
        if p.startswith("/") or ".." in p.split("/") or "\0" in p:
            raise bad("objects", f"relative paths inside the snapshot, not {p!r}")


def stage_dir(run_dir: str | os.PathLike[str], stage: str) -> Path:
    """Where a stage's snapshot lives inside a run directory: ``<run>/snapshot``, ``<run>/transformed``.

    Raises:
        InventoryError: unknown stage.
    """
    if stage not in STAGES:
        raise InventoryError(f"unknown snapshot stage {stage!r}; expected one of {', '.join(STAGES)}")
    return Path(run_dir) / stage


def _sort_jsonl(path: Path) -> None:
    lines: list[bytes] = path.read_bytes().splitlines(keepends=True)

    def key(line: bytes) -> tuple[str, str, bytes]:
        entry = orjson.loads(line)
        ref = entry.get("ref") or {}
        return (entry.get("path") or entry.get("source") or "", str(sorted(ref.items())), line)

    ordered = sorted(lines, key=key)
    path.write_bytes(b"".join(ordered))


class Snapshot:
    """A snapshot directory opened for reading; objects are read lazily, one at a time."""

    def __init__(self, root: str | os.PathLike[str]):
        """Open a snapshot and read its index.

        Raises:
            InventoryError: no index.json, or not a snapshot of this format.
        """
        self.root = Path(root)
        index_path = self.root / INDEX
        try:
            self.index: dict[str, Any] = orjson.loads(index_path.read_bytes())
        except FileNotFoundError as e:
            raise SnapshotInputError(f"{self.root} has no {INDEX}: not a snapshot, or an interrupted one",
                                 fix="re-run the stage that writes it") from e
        except orjson.JSONDecodeError as e:
            raise SnapshotInputError(f"{index_path} is not valid JSON ({e})",
                                     fix="re-run the stage that writes it") from e
        except OSError as e:
            raise SnapshotInputError(f"cannot read {index_path}: {e.strerror or e}") from e
        if not isinstance(self.index, dict):
            raise SnapshotInputError(f"{index_path}: expected a JSON object, found {type(self.index).__name__}",
                                     fix="re-run the stage that writes it")
        if self.index.get("format") != FORMAT:
            raise SnapshotInputError(f"{self.root} is a {self.index.get('format')!r} snapshot, expected {FORMAT}",
                                     fix="re-run the stage with this version of akshift")
        _check_index(index_path, self.index)
        self._cache_lock = threading.Lock()
        self._spans: dict[str, tuple[int, int]] | None = None  # path → (offset, length) in the cache
        self._cache_fd = -1
        self._unchanged: frozenset[str] = frozenset()  # files :meth:`verify` found as the index has them

    @property
    def stage(self) -> str:
        return self.index["stage"]

    @property
    def digest(self) -> str:
        return self.index["digest"]

    def paths(self, *, include_secrets: bool = True) -> list[str]:
        """All object paths, sorted (Secrets included when asked, excluded ones never)."""
        paths = list(self.index["objects"])
        if include_secrets:
            paths += self.index["secrets"]
        return sorted(paths)

    def read(self, path: str) -> dict[str, Any]:
        """One non-Secret object by its path.

        Raises:
            SnapshotInputError: the file is missing, unreadable or not one YAML object (naming it).
        """
        if path in self._unchanged:  # checked a moment ago by this Snapshot: not read twice
            cached = self._cached(path)
            if cached is not None:
                return cached
        file = self.root / path
        try:
            data = file.read_bytes()
            if hashlib.sha256(data).hexdigest() == self.index["objects"].get(path):
                cached = self._cached(path)
                if cached is not None:
                    return cached
            obj = load_yaml(data)
        except OSError as e:
            raise SnapshotInputError(f"cannot read {file} ({e.strerror or e})",
                                     fix="re-run the stage that wrote the directory") from e
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
            raise SnapshotInputError(f"{file} is not valid YAML ({str(e).splitlines()[0] if str(e) else e})",
                                     fix="re-run the stage that wrote the directory") from e
        if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
            raise SnapshotInputError(f"{file} is not a Kubernetes object (no kind)",
                                     fix="re-run the stage that wrote the directory")
        return obj

    def _cached(self, path: str) -> dict[str, Any] | None:
        """The object of an unchanged file from the cache; None when the cache does not have it."""
        if self._spans is None:
            with self._cache_lock:
                if self._spans is None:
                    self._spans = self._open_cache()
        span = self._spans.get(path)
        if span is None:
            return None
        try:
            obj = orjson.loads(os.pread(self._cache_fd, span[1], span[0]))
        except (OSError, orjson.JSONDecodeError):
            return None
        return obj if isinstance(obj, dict) and isinstance(obj.get("kind"), str) else None

    def _open_cache(self) -> dict[str, tuple[int, int]]:
        """Scan the cache into spans, checking its sha256; no spans for a missing, changed or foreign cache."""
        entry = self.index.get("cache")
        if not isinstance(entry, dict) or entry.get("file") != CACHE or not isinstance(entry.get("sha256"), str):
            return {}
        try:
            f = open(self.root / CACHE, "rb")  # noqa: SIM115 — kept open for pread, closed with the Snapshot
        except OSError:
            return {}
        spans: dict[str, tuple[int, int]] = {}
        sha256, pos = hashlib.sha256(), 0
        try:
            for line in f:
                sha256.update(line)
                tab = line.find(b"\t")
                if tab < 0 or not line.endswith(b"\n"):
                    raise ValueError(line[:80])
                path = orjson.loads(line[:tab])
                spans[path] = (pos + tab + 1, len(line) - tab - 2)
                pos += len(line)
        except (OSError, ValueError):  # orjson.JSONDecodeError is a ValueError
            f.close()
            return {}
        if sha256.hexdigest() != entry["sha256"]:
            f.close()
            return {}
        self._cache_fd = f.fileno()
        weakref.finalize(self, f.close)
        return spans

    def ref(self, path: str) -> ObjectRef:
        """The object a path of this snapshot holds, hashed file names included (read from the index).

        Raises:
            ObjectNameError: a hashed path this snapshot's index does not list.
        """
        key = self.index.get("refs", {}).get(path)
        return ObjectRef.from_key(key) if key is not None else ObjectRef.from_path(path)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Objects the writer could not store: ``{"ref", "path", "message"}`` each (empty when none)."""
        return list(self.index.get("failed", ()))

    def secrets(self, key: SecretKey | None) -> dict[str, dict[str, Any]]:
        """Decrypt the Secret bundle (one scrypt with a passphrase key).

        Raises:
            SecretKeyError: Secrets are present and ``key`` is None or cannot decrypt them.
        """
        if not self.index["secrets"]:
            return {}
        bundle = self.root / SECRETS_BUNDLE
        key = require_key(key, decrypt=True)
        try:
            data = bundle.read_bytes()
        except OSError as e:
            raise SnapshotInputError(f"cannot read {bundle} ({e.strerror or e}): the index lists Secrets",
                                     fix="re-run the stage that wrote the directory") from e
        try:
            return decrypt_bundle(data, key)
        except SecretKeyError as e:
            raise SecretKeyError(f"{bundle}: {e.message}", fix=e.fix) from e

    def items(self, *, secret_key: SecretKey | None = None,
              include_secrets: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
        """Like :meth:`objects`, with each object's snapshot path.

        Raises:
            SecretKeyError: Secrets are requested and cannot be decrypted (raised before the first object).
        """
        secrets = self.secrets(secret_key) if include_secrets else {}
        return ((path, secrets[path] if path in secrets else self.read(path))
                for path in self.paths(include_secrets=include_secrets))

    def objects(self, *, secret_key: SecretKey | None = None,
                include_secrets: bool = True) -> Iterator[dict[str, Any]]:
        """Yield every object in path order, reading one file at a time.

        Args:
            secret_key: decrypts the Secret bundle; needed when it has Secrets and ``include_secrets``.
            include_secrets: yield Secrets too.

        Yields:
            Object dicts.

        Raises:
            SecretKeyError: Secrets are requested and cannot be decrypted (raised before the first object).
        """
        return (obj for _, obj in self.items(secret_key=secret_key, include_secrets=include_secrets))

    def _log(self, name: str) -> Iterator[dict[str, Any]]:
        path = self.root / name
        if not path.exists():
            return
        with path.open("rb") as f:
            for line in f:
                yield orjson.loads(line)

    def patches(self) -> Iterator[dict[str, Any]]:
        """Entries of patches.jsonl (transformed stage)."""
        return self._log(PATCHES)

    def excluded(self) -> Iterator[dict[str, Any]]:
        """Entries of excluded.jsonl (transformed stage)."""
        return self._log(EXCLUDED)

    def findings(self) -> Iterator[Finding]:
        """Findings from findings.jsonl (transformed stage)."""
        return (Finding.from_dict(entry) for entry in self._log(FINDINGS))

    def check_intact(self, *, allow_modified: bool = False) -> list[str]:
        """Refuse a snapshot whose files are not those its index lists (checked before a stage reads it).

        Args:
            allow_modified: accept files whose content changed (a deliberate hand edit); missing and
                extra files are refused all the same.

        Returns:
            The paths accepted as modified (empty unless ``allow_modified``).

        Raises:
            SnapshotIntegrityError: a file is missing, changed (without ``allow_modified``) or not in the
                index, or the digest does not match (bad input, naming the files).
        """
        problems = self.verify()
        problems += [f"{p}: not in {INDEX} (an extra file)" for p in self.extra_files()]
        changed = [p.rsplit(": ", 1)[0] for p in problems if p.endswith(": changed since the snapshot was written")]
        refused = [p for p in problems if not (allow_modified and p.rsplit(": ", 1)[0] in changed)]
        if allow_modified and changed:
            refused = [p for p in refused if p != "digest does not match the index"]
        if refused:
            shown = "; ".join(refused[:5]) + (f"; and {len(refused) - 5} more" if len(refused) > 5 else "")
            raise SnapshotIntegrityError(
                f"{self.root} does not match its {INDEX}: {shown}",
                fix="re-run the stage that wrote it (or, for a deliberate edit of an object file, pass "
                    "--allow-modified: the edit is recorded in the report)")
        return changed if allow_modified else []

    def extra_files(self) -> list[str]:
        """Files of the directory that the index does not list (its own files apart), sorted."""
        known = set(self.index["objects"]) | {INDEX, SECRETS_BUNDLE, PATCHES, EXCLUDED, FINDINGS, CACHE}
        extra = []
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                rel = os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                if rel not in known:
                    extra.append(rel)
        return sorted(extra)

    def verify(self) -> list[str]:
        """Re-hash every file against the index.

        Returns:
            Problems found (missing or changed files, a wrong digest); empty when intact.
        """
        problems = []
        files = {}
        for path, expected in self.index["objects"].items():
            try:
                actual = hashlib.sha256((self.root / path).read_bytes()).hexdigest()
            except FileNotFoundError:
                problems.append(f"{path}: missing")
                continue
            except OSError as e:
                problems.append(f"{path}: unreadable ({e.strerror or e})")
                continue
            files[path] = actual
            if actual != expected:
                problems.append(f"{path}: changed since the snapshot was written")
        self._unchanged = frozenset(p for p, actual in files.items() if actual == self.index["objects"][p])
        if self.index["secrets"] and not (self.root / SECRETS_BUNDLE).exists():
            problems.append(f"{SECRETS_BUNDLE}: missing")
        digest = content_digest(files, self.index["secrets"] + self.index["secrets_excluded"])
        if not problems and digest != self.digest:
            problems.append("digest does not match the index")
        return problems


__all__ = [
    "CLUSTER_DIR", "EXCLUDED", "FINDINGS", "FORMAT", "INDEX", "PATCHES", "SECRETS_BUNDLE",
    "Snapshot", "SnapshotIntegrityError", "SnapshotWriter", "dump_yaml", "stage_dir", "load_yaml",
]
