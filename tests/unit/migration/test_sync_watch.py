"""`KubeClient.watch` and the sync's restart on an expired resourceVersion, against in-process API servers."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kube.client import ApiResource, KubeClient
from kube.config import KubeConfig
from kube.errors import ApiError
from migration.sync import engine
from migration.sync.journal import SyncJournal
from migration.sync.runner import Syncer, SyncOptions
from migration.transforms import TransformContext

CONFIGMAPS = ApiResource("", "v1", "ConfigMap", "configmaps", True, frozenset({"list", "watch"}))


def stream(*events: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, content=b"".join(orjson.dumps(e) + b"\n" for e in events))


def client(handler: Any) -> KubeClient:
    return KubeClient(KubeConfig(server="https://api.example:443", context="test"),
                      transport=httpx.MockTransport(handler), sleep=lambda s: None)


def cm(name: str, rv: str, data: str = "x") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "resourceVersion": rv}, "data": {"v": data}}


def test_a_watch_asks_for_bookmarks_from_the_version_and_yields_typed_objects() -> None:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return stream({"type": "ADDED", "object": cm("a", "11")},
                      {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}})

    events = list(client(server).watch(CONFIGMAPS, resource_version="10", timeout_seconds=60))
    params = seen[0].url.params
    assert (params["watch"], params["resourceVersion"], params["allowWatchBookmarks"], params["timeoutSeconds"]) \
        == ("1", "10", "true", "60")
    assert seen[0].url.path == "/api/v1/configmaps"
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[0]["object"]["kind"] == "ConfigMap" and events[0]["object"]["apiVersion"] == "v1"


@pytest.mark.parametrize("answer", [
    httpx.Response(410, json={"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}),
    stream({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}),
], ids=["status-410", "error-event-410"])
def test_an_expired_version_is_a_410_the_caller_can_list_again_on(answer: httpx.Response) -> None:
    with pytest.raises(ApiError) as e:
        list(client(lambda r: answer).watch(CONFIGMAPS, resource_version="1"))
    assert e.value.status == 410 and e.value.reason == "Expired"


class Blue:
    """A source whose first watch expires: the sync must list again, reconcile, then watch from the list."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.stop: threading.Event | None = None

    def list_pages(self, res: ApiResource) -> Any:
        self.calls.append("list")
        yield {"metadata": {"resourceVersion": "50"},
               "items": [{**cm("kept", "49"), "apiVersion": "v1", "kind": "ConfigMap"}]}

    def watch(self, res: ApiResource, *, resource_version: str, timeout_seconds: int) -> Any:
        self.calls.append(f"watch@{resource_version}")
        if resource_version == "5":
            raise ApiError(410, "Expired", "too old")
        assert self.stop is not None
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "60"}}}
        self.stop.set()  # the user stops the sync: the next event is not handled
        yield {"type": "ADDED", "object": {**cm("late", "61"), "apiVersion": "v1", "kind": "ConfigMap"}}


def test_a_sync_whose_watch_expired_lists_again_deletes_what_vanished_and_watches_from_the_list(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[str] = []
    deleted: list[str] = []

    class Outcome:
        def __init__(self, action: str) -> None:
            from migration.applier import Action
            self.action, self.status, self.message = Action(action), 200, ""

    def apply(client: Any, obj: dict[str, Any], **kw: Any) -> Outcome:
        applied.append(obj["metadata"]["name"])
        return Outcome("unchanged")

    def delete(key: str, seen: float, count_lag: bool) -> engine.Result:
        deleted.append(key)
        return engine.Result.DELETED

    monkeypatch.setattr("migration.sync.runner.apply_object", apply)
    carried = ["core/ConfigMap/shop/kept", "core/ConfigMap/shop/gone"]
    earlier = SyncJournal(tmp_path, carried=carried)
    earlier.record_version("core/ConfigMap", "5")  # a run that stopped at version 5, long ago
    earlier.close()
    j = SyncJournal(tmp_path, carried=carried)
    blue = Blue()
    syncer = Syncer(blue, None, SyncOptions(out=tmp_path), TransformContext(), j,  # type: ignore[arg-type]
                    carry_secrets=True, known=set(), report=lambda e: None)
    blue.stop = syncer.stop
    monkeypatch.setattr(syncer, "delete", delete)
    syncer.watch(CONFIGMAPS)
    assert blue.calls == ["watch@5", "list", "watch@50"]
    assert applied == ["kept"] and deleted == ["core/ConfigMap/shop/gone"]
    j.close()
    assert SyncJournal(tmp_path, carried=[]).state.versions == {"core/ConfigMap": "60"}


def test_a_watch_that_keeps_failing_shows_in_the_status_until_a_stream_works_again(tmp_path: Path) -> None:
    errors = threading.Event()
    healthy = threading.Event()

    class Flaky:
        def __init__(self) -> None:
            self.attempts = 0

        def watch(self, res: ApiResource, *, resource_version: str, timeout_seconds: int) -> Any:
            self.attempts += 1
            if not healthy.is_set():
                raise ApiError(0, "Unreachable", "blue went away")
            yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "8"}}}
            healthy.clear()
            syncer.stop.set()

    j = SyncJournal(tmp_path, carried=[])
    j.record_version("core/ConfigMap", "7")
    j.close()
    j = SyncJournal(tmp_path, carried=[])
    syncer = Syncer(Flaky(), None, SyncOptions(out=tmp_path), TransformContext(), j,  # type: ignore[arg-type]
                    carry_secrets=True, known=set(),
                    report=lambda e: errors.set() if e["event"] == "watch-error" else None)
    worker = threading.Thread(target=syncer.watch, args=(CONFIGMAPS,))
    worker.start()
    assert errors.wait(5)
    assert syncer.status().failing == ("core/ConfigMap",)
    healthy.set()
    worker.join(10)
    assert not worker.is_alive()
    assert syncer.status().failing == () and syncer.state.versions["core/ConfigMap"] == "8"
