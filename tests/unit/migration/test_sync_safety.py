"""`akshift sync` applies what `migrate` would, and holds back what `migrate` would (no cluster).

What they pin: an object with a blocker finding is not applied to green
unless ``--accept-blockers`` names its code (it is reported ``blocked`` and
the run is not ok); a Calico policy changed on blue reaches a Cilium green as
its translation (never as the Calico object itself); a translation with a
blocker applies nothing and leaves green's earlier translation alone; a
policy translated into another kind takes the old kind away; a Calico policy
deleted on blue takes its translation with it — only objects akshift carried
and still manages, as for every deletion.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube.client import ApiResource
from kube.objects import ObjectRef
from migration.applier import Action
from migration.policies import calico
from migration.sync.engine import Result
from migration.sync.journal import SyncJournal
from migration.sync.runner import CalicoView, Syncer, SyncOptions, SyncResult
from migration.transforms import TransformContext

from support import FIXTURES as SUPPORT_FIXTURES

FIXTURES = SUPPORT_FIXTURES / "calico"
POLICY_KEY = "crd.projectcalico.org/NetworkPolicy/shop/egress-ports"
K8S_KEY = "networking.k8s.io/NetworkPolicy/shop/egress-ports"
CILIUM_KEY = "cilium.io/CiliumNetworkPolicy/shop/egress-ports"
MANAGED = [{"manager": "akshift", "operation": "Apply"}]


def fixture(path: str) -> Any:
    return yaml.safe_load((FIXTURES / path).read_text())


def pinned(pool: str = "gpupool") -> dict[str, Any]:
    """A Deployment pinned to a node pool green does not have: an unmapped-node-pool blocker."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "train", "namespace": "ml"},
            "spec": {"selector": {"matchLabels": {"app": "train"}}, "template": {
                "metadata": {"labels": {"app": "train"}},
                "spec": {"nodeSelector": {"agentpool": pool}, "containers": [{"name": "c", "image": "x"}]}}}}


class Green:
    """Green as the sync sees it: what was applied (by key), reads, and deletes with a uid precondition."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []

    def apply(self, client: Any, obj: dict[str, Any], **kw: Any) -> Any:
        key = ObjectRef.of(obj).key
        action = Action.UPDATED if key in self.objects else Action.CREATED
        live = copy.deepcopy(obj)
        live["metadata"].update(uid=f"uid-{key}", managedFields=MANAGED)
        self.objects[key] = live

        class Outcome:
            status, message = 200, ""
        o = Outcome()
        o.action = action  # type: ignore[attr-defined]
        return o

    def resources(self, refresh: bool = False) -> dict[str, ApiResource]:
        kinds = [("networking.k8s.io", "v1", "NetworkPolicy"), ("cilium.io", "v2", "CiliumNetworkPolicy")]
        return {k: ApiResource(g, v, k, k.lower() + "s", True, frozenset({"get", "delete"})) for g, v, k in kinds}

    def read(self, stub: dict[str, Any]) -> dict[str, Any] | None:
        return self.objects.get(ObjectRef.of(stub).key)

    def path_of(self, obj: dict[str, Any]) -> str:
        return ObjectRef.of(obj).key

    def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        assert method == "DELETE"
        self.deleted.append(path)
        del self.objects[path]
        return {}


@pytest.fixture
def fake_green(monkeypatch: pytest.MonkeyPatch) -> Green:
    g = Green()
    monkeypatch.setattr("migration.sync.runner.apply_object", g.apply)
    return g


def syncer(tmp_path: Path, fake_green: Green, *, accept: tuple[str, ...] = (), view: CalicoView | None = None,
           events: list[dict[str, Any]] | None = None) -> Syncer:
    ctx = TransformContext(target_node_pools=frozenset({"nodepool1", "userpool"}))
    return Syncer(None, fake_green, SyncOptions(out=tmp_path, accept_blockers=accept), ctx,  # type: ignore[arg-type]
                  SyncJournal(tmp_path, carried=[]), carry_secrets=True, known=set(),
                  report=(events.append if events is not None else lambda e: None), calico=view)


def view() -> CalicoView:
    return CalicoView(calico.TargetFacts(calico_objects=()), {}, {}, frozenset())


# --------------------------------------------------------------------------- the blocker hold-back


def test_an_object_with_a_blocker_is_held_back_reported_and_the_run_is_not_ok(tmp_path: Path, fake_green: Green) -> None:
    events: list[dict[str, Any]] = []
    s = syncer(tmp_path, fake_green, events=events)
    assert s.upsert(pinned(), 0.0, False) is Result.BLOCKED
    assert fake_green.objects == {}
    held = [e for e in events if e["event"] == "blocked"]
    assert held[0]["key"] == "apps/Deployment/ml/train"
    assert "unmapped-node-pool" in held[0]["message"] and "--accept-blockers unmapped-node-pool" in held[0]["message"]
    assert s.state.counts == {"blocked": 1} and "apps/Deployment/ml/train" not in s.state.carried
    assert not SyncResult(s.state, (), 1.0, True).ok
    s.journal.close()


def test_an_accepted_blocker_code_lets_the_object_through_and_its_finding_does_not_fail_the_run(
        tmp_path: Path, fake_green: Green) -> None:
    s = syncer(tmp_path, fake_green, accept=("unmapped-node-pool",))
    assert s.upsert(pinned(), 0.0, False) is Result.CREATED
    assert "apps/Deployment/ml/train" in fake_green.objects
    assert [f.code for f in s.findings] == ["unmapped-node-pool"]
    assert SyncResult(s.state, tuple(s.findings), 1.0, True, ("unmapped-node-pool",)).ok
    assert not SyncResult(s.state, tuple(s.findings), 1.0, True).ok
    s.journal.close()


def test_an_object_without_blockers_is_applied_as_before(tmp_path: Path, fake_green: Green) -> None:
    s = syncer(tmp_path, fake_green)
    assert s.upsert(pinned("userpool"), 0.0, False) is Result.CREATED
    s.journal.close()


# --------------------------------------------------------------------------- Calico → Cilium


def test_a_calico_policy_reaches_green_as_its_translation_not_as_itself(tmp_path: Path, fake_green: Green) -> None:
    s = syncer(tmp_path, fake_green, view=view())
    assert s.upsert(fixture("ports/numbers-ranges-and-names.raw.yaml"), 0.0, False) is Result.CREATED
    assert list(fake_green.objects) == [K8S_KEY]
    assert fake_green.objects[K8S_KEY] == {**fixture("ports/numbers-ranges-and-names.translated.yaml")[0],
                                      "metadata": fake_green.objects[K8S_KEY]["metadata"]}
    assert K8S_KEY in s.state.carried and POLICY_KEY not in s.state.carried
    s.journal.close()


def test_a_calico_policy_that_does_not_map_applies_nothing_and_keeps_greens_earlier_translation(
        tmp_path: Path, fake_green: Green) -> None:
    events: list[dict[str, Any]] = []
    s = syncer(tmp_path, fake_green, view=view(), events=events)
    policy = fixture("ports/numbers-ranges-and-names.raw.yaml")
    s.upsert(policy, 0.0, False)
    before = copy.deepcopy(fake_green.objects)
    changed = copy.deepcopy(policy)
    changed["spec"]["egress"][0]["source"] = {"ports": [53]}  # a source port: no one-to-one form
    assert s.upsert(changed, 1.0, False) is Result.BLOCKED
    assert fake_green.objects == before and fake_green.deleted == []
    assert any(e["event"] == "finding" and e["finding"]["code"] == calico.CODE_UNTRANSLATABLE for e in events)
    assert any(e["event"] == "blocked" and e["key"] == POLICY_KEY for e in events)
    s.journal.close()


def test_a_policy_translated_into_another_kind_takes_the_old_kind_off_green(tmp_path: Path, fake_green: Green) -> None:
    s = syncer(tmp_path, fake_green, view=view())
    policy = fixture("ports/numbers-ranges-and-names.raw.yaml")
    s.upsert(policy, 0.0, False)
    assert list(fake_green.objects) == [K8S_KEY]
    icmp = copy.deepcopy(policy)
    icmp["spec"]["egress"].append({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}})  # needs Cilium
    s.upsert(icmp, 1.0, False)
    assert list(fake_green.objects) == [CILIUM_KEY] and fake_green.deleted == [K8S_KEY]
    s.journal.close()


def test_a_calico_policy_deleted_on_blue_takes_its_translation_off_green(tmp_path: Path, fake_green: Green) -> None:
    s = syncer(tmp_path, fake_green, view=view())
    s.upsert(fixture("ports/numbers-ranges-and-names.raw.yaml"), 0.0, False)
    assert s.delete(POLICY_KEY, 1.0, count_lag=False) is Result.DELETED
    assert fake_green.objects == {} and fake_green.deleted == [K8S_KEY]
    s.journal.close()


def test_a_translation_migrate_made_is_deleted_with_its_policy_even_by_a_new_sync_process(
        tmp_path: Path, fake_green: Green) -> None:
    policy = fixture("ports/numbers-ranges-and-names.raw.yaml")
    translated = fixture("ports/numbers-ranges-and-names.translated.yaml")[0]
    fake_green.apply(None, translated)  # applied by migrate: in transformed/, so carried
    known = CalicoView(calico.TargetFacts(calico_objects=(policy,)), {POLICY_KEY: policy}, {POLICY_KEY: frozenset({K8S_KEY})},
                       frozenset({POLICY_KEY}))
    ctx = TransformContext()
    s = Syncer(None, fake_green, SyncOptions(out=tmp_path), ctx, SyncJournal(tmp_path, carried=[K8S_KEY]),  # type: ignore[arg-type]
               carry_secrets=True, known=set(), report=lambda e: None, calico=known)
    s.delete(POLICY_KEY, 1.0, count_lag=False)
    assert fake_green.deleted == [K8S_KEY]
    s.journal.close()


def test_a_green_object_of_the_translations_name_that_akshift_never_carried_is_kept(
        tmp_path: Path, fake_green: Green) -> None:
    policy = fixture("ports/numbers-ranges-and-names.raw.yaml")
    fake_green.apply(None, fixture("ports/numbers-ranges-and-names.translated.yaml")[0])  # someone else's, not carried
    known = CalicoView(calico.TargetFacts(calico_objects=(policy,)), {POLICY_KEY: policy}, {}, frozenset())
    s = Syncer(None, fake_green, SyncOptions(out=tmp_path), TransformContext(),  # type: ignore[arg-type]
               SyncJournal(tmp_path, carried=[]), carry_secrets=True, known=set(), report=lambda e: None, calico=known)
    s.delete(POLICY_KEY, 1.0, count_lag=False)
    assert fake_green.deleted == [] and K8S_KEY in fake_green.objects
    s.journal.close()


def test_a_calico_policy_deleted_while_no_sync_ran_takes_its_translation_off_green_at_the_next_list(
        tmp_path: Path, fake_green: Green) -> None:
    policy = fixture("ports/numbers-ranges-and-names.raw.yaml")
    fake_green.apply(None, fixture("ports/numbers-ranges-and-names.translated.yaml")[0])
    known = CalicoView(calico.TargetFacts(calico_objects=(policy,)), {POLICY_KEY: policy},
                       {POLICY_KEY: frozenset({K8S_KEY})}, frozenset({POLICY_KEY}))

    class Blue:
        def list_pages(self, res: ApiResource) -> Any:
            yield {"metadata": {"resourceVersion": "9"}, "items": []}  # the policy is gone from blue

    s = Syncer(Blue(), fake_green, SyncOptions(out=tmp_path), TransformContext(),  # type: ignore[arg-type]
               SyncJournal(tmp_path, carried=[K8S_KEY]), carry_secrets=True, known=set(), report=lambda e: None,
               calico=known)
    s.catch_up(ApiResource(calico.CALICO_GROUP, "v1", "NetworkPolicy", "networkpolicies", True,
                           frozenset({"list", "watch"})))
    assert fake_green.deleted == [K8S_KEY] and POLICY_KEY not in known.objects
    s.journal.close()
