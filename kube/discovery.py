"""Which resource types to read from the source, and reading them fast: discovery filter + concurrent paginated lists.

Why shaped so: a migration must see every served, listable type — CRDs'
custom resources included — without knowing them in advance, so the list of
types comes from discovery, one preferred version per (group, kind). Listing
is concurrent across types (a thread pool over one pooled client) and each
list is paginated (limit/continue), so memory stays bounded by a few pages
whatever the cluster's size: workers hand whole pages to the single consumer
through a bounded queue.
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


def iter_objects(
    client: KubeClient,
    types: list[ApiResource],
    *,
    namespaces: list[str] | None = None,
    label_selector: str | None = None,
    concurrency: int = 8,
    page_size: int = 500,
    errors: list[ListError] | None = None,
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
    """
    jobs: list[tuple[ApiResource, str | None]] = []
    for res in types:
        if res.namespaced and namespaces:
            jobs += [(res, ns) for ns in namespaces]
        else:
            jobs.append((res, None))
    # A few pages in flight keep the writer busy; more only hold memory (32 pages of 500 objects
    # took the 50,000-object inventory to 432 MiB).
    pages: queue.Queue[Any] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def work(job: tuple[ApiResource, str | None]) -> None:
        res, ns = job
        try:
            for page in client.list_pages(res, namespace=ns, limit=page_size, label_selector=label_selector):
                if stop.is_set():
                    return
                pages.put((res, page.get("items", [])))
        except ApiError as e:
            pages.put((res, ListError(f"cannot list {res.plural}.{res.group or 'core'}"
                                           f"{' in ' + ns if ns else ''}: {e}; check the reader's RBAC",
                                           ref=f"{res.api_version}/{res.kind}")))

    with cf.ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="inventory") as pool:
        futures = [pool.submit(work, j) for j in jobs]

        def closer() -> None:
            cf.wait(futures)
            pages.put(_DONE)

        threading.Thread(target=closer, daemon=True).start()
        try:
            while (item := pages.get()) is not _DONE:
                res, items = item
                if isinstance(items, ListError):
                    if errors is None:
                        raise items
                    errors.append(items)
                    continue
                for obj in items:
                    obj.setdefault("apiVersion", res.api_version)
                    obj.setdefault("kind", res.kind)
                    yield res, obj
        finally:
            stop.set()
            while not pages.empty():  # unblock workers waiting on a full queue
                try:
                    pages.get_nowait()
                except queue.Empty:
                    break
