"""Which resource types to read from the source, and reading them fast: discovery filter + concurrent paginated lists.

Why shaped so: a migration must see every served, listable type — CRDs'
custom resources included — without knowing them in advance, so the list of
types comes from discovery, one preferred version per (group, kind). Listing
is concurrent across types (a thread pool over one pooled client) and each
list is paginated (limit/continue). Memory is bounded by *bytes* in flight, not
by a count of pages: a worker asks for its next page only while the pages
in flight weigh less than a budget (:class:`ByteBudget`), so
many small types' lists stay in flight while a few large ones wait. A queue of
four pages (the bound before) stalled the workers at a 10 ms round trip (8.0 s
against kubectl's 4.3 s for 10,000 objects, issue 11).
"""
from __future__ import annotations

import concurrent.futures as cf
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from errors import ErrorKind
from kube.client import ApiResource, KubeClient
from kube.errors import ApiError, KubeError, ListError


class FilterError(KubeError):
    """A ``--kind`` or ``--selector`` filter that names no type or does not parse (bad input, before any listing)."""

    kind = ErrorKind.BAD_INPUT


_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}")
_VALUE = re.compile(rf"({_NAME})?")
_REQUIREMENT = re.compile(r"\s*(?P<neg>!)?\s*(?P<key>[^\s!=<>(),]+)\s*"
                          r"(?:(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s(),]*)"
                          r"|\s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?\s*$")


def check_selector(selector: str) -> None:
    """Refuse a label selector the API server would not parse (rather than 400 on every list).

    >>> check_selector("app=web,tier in (a, b),!legacy,env!=dev")
    >>> check_selector("app==")
    >>> check_selector("app=web)")
    Traceback (most recent call last):
    kube.discovery.FilterError: --selector 'app=web)': 'app=web)' is not a label requirement (key, !key, key=value, key!=value, key in (a,b), key notin (a,b))

    Raises:
        FilterError: a requirement does not parse, or a key or value is not a valid label.
    """
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for part in parts:
        m = _REQUIREMENT.fullmatch(part)
        if depth != 0 or not part.strip() or m is None or (m["neg"] and (m["op"] or m["setop"])) \
                or (m["setop"] and not (m["values"] or "").strip()):
            raise FilterError(f"--selector {selector!r}: {part.strip()!r} is not a label requirement (key, !key, "
                              "key=value, key!=value, key in (a,b), key notin (a,b))")
        if not _KEY.fullmatch(m["key"]):
            raise FilterError(f"--selector {selector!r}: {m['key']!r} is not a valid label key")
        values = [m["value"]] if m["op"] else [v.strip() for v in (m["values"] or "").split(",")] if m["setop"] else []
        if m["op"] in (">", "<") and not re.fullmatch(r"-?[0-9]+", values[0]):
            raise FilterError(f"--selector {selector!r}: {m['key']}{m['op']} needs an integer")
        for v in values:
            if not _VALUE.fullmatch(v):
                raise FilterError(f"--selector {selector!r}: {v!r} is not a valid label value")

# Types that are views of other types or pure runtime state: listing them would
# double-count objects (events.k8s.io Events are the core Events) or cost time
# for nothing a migration can carry (the API computes them).
NOT_INVENTORIED = frozenset({
    ("events.k8s.io", "Event"),          # same objects as core Event
    ("", "ComponentStatus"),             # computed, deprecated
    ("", "Binding"),                     # create-only subresource-like type
    ("authentication.k8s.io", "TokenReview"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "LocalSubjectAccessReview"),
})


def matches_kind(res: ApiResource, wanted: Iterable[str]) -> bool:
    """Does a ``--kind`` filter entry name this type? Accepts Kind, plural, or plural.group.

    >>> r = ApiResource("apps", "v1", "Deployment", "deployments", True, frozenset({"list"}))
    >>> [matches_kind(r, [w]) for w in ("Deployment", "deployments", "deployments.apps", "deploy.apps", "Pod")]
    [True, True, True, False, False]
    """
    names = {res.kind.lower(), res.plural, f"{res.plural}.{res.group}" if res.group else res.plural,
             f"{res.kind.lower()}.{res.group}" if res.group else res.kind.lower()}
    return any(w.lower() in names for w in wanted)


def listable_types(client: KubeClient, kinds: list[str] | None = None) -> list[ApiResource]:
    """One preferred version of every served, listable type, optionally filtered by kind.

    Raises:
        ApiError: discovery itself failed (unreachable or unauthorized cluster).
        FilterError: a ``kinds`` entry names no served, listable type (a typo would empty the run).
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for res in client.resources(refresh=True).values():
        key = (res.group, res.kind)
        if key in seen or key in NOT_INVENTORIED or "list" not in res.verbs:
            continue
        seen.add(key)
        if kinds and not matches_kind(res, kinds):
            continue
        out.append(res)
    unknown = [k for k in kinds or () if not any(matches_kind(r, [k]) for r in out)]
    if unknown:
        raise FilterError(f"--kind {', '.join(unknown)}: no served, listable type of the cluster has this name",
                          fix="use a Kind (Deployment), a plural (deployments) or plural.group (deployments.apps)")
    return sorted(out, key=lambda r: (r.group, r.kind))


_DONE = object()

#: Bytes of JSON list pages in flight (asked for, fetched, not yet consumed) above which workers wait.
#: Enough to hide a 30 ms round trip several times over (the writer takes a few MB/s), and small enough
#: for the 50,000-object inventory to stay well under 500 MB: decoded, a page weighs several times its
#: JSON. Measured at 14,808 objects and 10 ms (machine shared): with 1 MiB the writer waited for objects
#: 1.9-4.0 s, with 4 and 16 MiB 0.3-1.3 s (the 4-page queue: 1.0-1.3 s); 16 MiB cost 30 MiB more RSS.
MAX_BYTES_IN_FLIGHT = 8 * 2**20


class ByteBudget:
    """The bytes of list pages in flight, and the wait for room below a limit.

    A worker reserves what its next page will likely weigh (its list's last page) *before* it sends
    the request, and corrects the reservation to the page's real size when it arrives; the consumer
    gives the bytes back once it has taken every object of the page. So what is held at once is the
    limit plus at most the first page of each list being read (its size unknown until it arrives). A
    budget with nothing in flight always admits, so a page larger than the whole limit still gets
    through.

    Args:
        limit: bytes (of JSON, as received) above which :meth:`reserve` blocks.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    def reserve(self, n: int, stop: threading.Event) -> None:
        """Wait until ``n`` more bytes fit (or nothing is in flight), then count them; return at once on ``stop``."""
        with self._cond:
            while self.used and self.used + n > self.limit and not stop.is_set():
                self._cond.wait(0.1)
            self._add(n)

    def take(self, n: int) -> None:
        """Count ``n`` more bytes in flight (negative: a reservation that was too large)."""
        with self._cond:
            self._add(n)

    def give(self, n: int) -> None:
        """``n`` bytes are no longer in flight (a page consumed, a reservation unused): make room."""
        with self._cond:
            self._add(-n)

    def _add(self, n: int) -> None:
        self.used += n
        self.peak = max(self.peak, self.used)
        if n < 0:
            self._cond.notify_all()


def iter_objects(
    client: KubeClient,
    types: list[ApiResource],
    *,
    namespaces: list[str] | None = None,
    label_selector: str | None = None,
    concurrency: int = 8,
    page_size: int = 500,
    errors: list[ListError] | None = None,
    max_bytes: int = MAX_BYTES_IN_FLIGHT,
    budget: ByteBudget | None = None,
) -> Iterator[tuple[ApiResource, dict[str, Any]]]:
    """Yield (type, object) for every object of ``types``, listing types concurrently.

    A type that fails to list (403 on one CRD, a broken aggregated API) is
    recorded in ``errors`` and the others proceed; nothing is dropped silently.

    Args:
        client: source cluster client (only GETs are sent).
        types: from :func:`listable_types`.
        namespaces: limit namespaced types to these; cluster-scoped types are still listed.
        label_selector: passed to the API as ``labelSelector``.
        concurrency: lists in flight at once.
        page_size: ``limit`` per list call.
        errors: collects one :class:`ListError` per failed type.
        max_bytes: bytes of pages in flight (asked for, or fetched and not yet consumed) above which no
            further page is asked for.
        budget: the :class:`ByteBudget` to count them in (a new one of ``max_bytes`` when None; pass one to
            read its ``peak``).
    """
    jobs: list[tuple[ApiResource, str | None]] = []
    for res in types:
        if res.namespaced and namespaces:
            jobs += [(res, ns) for ns in namespaces]
        else:
            jobs.append((res, None))
    budget = budget if budget is not None else ByteBudget(max_bytes)
    pages: queue.Queue[Any] = queue.Queue()  # unbounded: the budget bounds what is in it
    stop = threading.Event()

    def work(job: tuple[ApiResource, str | None]) -> None:
        res, ns = job
        meta: dict[str, Any] = {}
        expect = 0  # what the next page will likely weigh: this list's last page (unknown for the first)
        try:
            listing = client.list_pages(res, namespace=ns, limit=page_size, label_selector=label_selector, meta=meta)
            while True:
                budget.reserve(expect, stop)
                try:
                    page = None if stop.is_set() else next(listing, None)  # next() sends the request
                except BaseException:
                    budget.give(expect)
                    raise
                if page is None:
                    budget.give(expect)
                    return
                size = int(meta.get("bytes", 0))
                budget.take(size - expect)
                pages.put((res, page.get("items", []), size))
                expect = size
        except ApiError as e:
            pages.put((res, ListError(f"cannot list {res.plural}.{res.group or 'core'}"
                                           f"{' in ' + ns if ns else ''}: {e}; check the reader's RBAC",
                                           ref=f"{res.api_version}/{res.kind}"), 0))

    with cf.ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="inventory") as pool:
        futures = [pool.submit(work, j) for j in jobs]

        def closer() -> None:
            cf.wait(futures)
            pages.put(_DONE)

        threading.Thread(target=closer, daemon=True).start()
        try:
            while (item := pages.get()) is not _DONE:
                res, items, size = item
                if isinstance(items, ListError):
                    if errors is None:
                        raise items
                    errors.append(items)
                    continue
                for obj in items:
                    obj.setdefault("apiVersion", res.api_version)
                    obj.setdefault("kind", res.kind)
                    yield res, obj
                del items, item
                budget.give(size)
        finally:
            stop.set()  # workers waiting for room return; those mid-request return after it
