"""Snapshot format and Secret encryption: paths, YAML, index and digest, re-runs, no plain-text Secrets."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pyrage
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kube.errors import ObjectNameError
from kube.objects import MAX_PLAIN_NAME, ObjectRef, file_stem
from migration import snapshot
from migration.errors import InventoryError, SecretKeyError
from migration.report import Status
from migration.secrets import (
    NO_KEY_HELP,
    PASSPHRASE_ENV,
    SecretKey,
    decrypt_bundle,
    encrypt_bundle,
    load_secret_key,
    require_key,
)
from migration.snapshot import Snapshot, SnapshotWriter, dump_yaml, load_yaml
from migration.transforms import TransformContext, transform

from support import builders as b

PASSWORD_B64 = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk"  # base64 of the plain text below
PASSWORD = b"super-secret-password"


@pytest.fixture(scope="module")
def identity_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path_factory.mktemp("keys") / "key.txt"
    path.write_text(f"# created: 2024-05-02T09:14:00Z\n# public key: {identity.to_public()}\n{identity}\n")
    return path


@pytest.fixture(scope="module")
def key(identity_file: Path) -> SecretKey:
    return SecretKey.from_identity_file(identity_file)


def _objects() -> list[dict[str, Any]]:
    return [
        b.namespace("shop"),
        b.deployment(),
        b.config_map(data={"script.sh": "#!/bin/sh\necho hello\n", "mode": "prod"}),
        b.secret(data={"password": PASSWORD_B64},
                 annotations={"kubectl.kubernetes.io/last-applied-configuration": PASSWORD.decode()}),
        b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:aggregate-to-view"),
        b.crd(),
    ]


def _write(root: Path, objs: list[dict[str, Any]], key: SecretKey | None, **kw: Any) -> Path:
    with SnapshotWriter(root, secret_key=key, **kw) as w:
        for o in objs:
            w.write(o)
    return root


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(b.deployment(), "shop/apps.Deployment/web.yaml", id="namespaced-group"),
    pytest.param(b.config_map(), "shop/core.ConfigMap/settings.yaml", id="core-group"),
    pytest.param(b.namespace(), "_cluster/core.Namespace/shop.yaml", id="cluster-scoped"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:node"),
                 "_cluster/rbac.authorization.k8s.io.ClusterRole/system_node~324d7600023a69586e0e.yaml",
                 id="colon-in-name-is-hashed"),
    pytest.param(b.config_map("a" * 120), f"shop/core.ConfigMap/{'a' * 120}.yaml", id="longest-plain-name"),
])
def test_object_path_is_deterministic(obj: dict[str, Any], expected: str) -> None:
    assert ObjectRef.of(obj).path == expected


@pytest.mark.parametrize("name", ["..", "a/b", ""])
def test_names_that_would_escape_the_snapshot_are_refused(name: str) -> None:
    with pytest.raises(ObjectNameError, match="cannot be used as a file name"):
        _ = ObjectRef.of(b.config_map(name)).path


def test_yaml_is_sorted_block_style_with_literal_multiline_strings() -> None:
    text = dump_yaml(b.config_map(data={"script.sh": "#!/bin/sh\necho hi\n", "a": "x" * 300})).decode()
    assert text.index("apiVersion") < text.index("data") < text.index("kind") < text.index("metadata")
    assert "script.sh: |\n    #!/bin/sh\n    echo hi\n" in text
    assert "a: " + "x" * 300 + "\n" in text  # never folded
    assert "{" not in text


def test_snapshot_round_trips_every_object_in_path_order(tmp_path: Path, key: SecretKey) -> None:
    objs = _objects()
    snap = Snapshot(_write(tmp_path / "snapshot", objs, key))
    read = list(snap.objects(secret_key=key))
    assert sorted(ObjectRef.of(o).path for o in objs) == [ObjectRef.of(o).path for o in read]
    assert sorted(read, key=lambda o: ObjectRef.of(o).path) == sorted(objs, key=lambda o: ObjectRef.of(o).path)
    assert snap.verify() == []


def test_secret_data_never_reaches_the_disk_in_plain_text(tmp_path: Path, key: SecretKey) -> None:
    root = _write(tmp_path / "snapshot", _objects(), key)
    assert not (root / "shop/core.Secret/db.yaml").exists()
    for f in root.rglob("*"):
        if f.is_file():
            content = f.read_bytes()
            assert PASSWORD_B64.encode() not in content and PASSWORD not in content, f
    assert Snapshot(root).index["secrets"] == ["shop/core.Secret/db.yaml"]


def test_index_counts_kinds_and_namespaces(tmp_path: Path, key: SecretKey) -> None:
    index = Snapshot(_write(tmp_path / "s", _objects(), key)).index
    assert index["counts"]["total"] == 6
    assert index["counts"]["by_kind"]["core.Secret"] == 1
    assert index["counts"]["by_kind"]["apps.Deployment"] == 1
    assert index["counts"]["by_namespace"] == {"_cluster": 3, "shop": 3}


def test_digest_does_not_depend_on_write_order_but_on_content(tmp_path: Path, key: SecretKey) -> None:
    objs = _objects()
    shuffled = objs[:]
    random.Random(7).shuffle(shuffled)
    first = Snapshot(_write(tmp_path / "a", objs, key)).digest
    assert Snapshot(_write(tmp_path / "b", shuffled, key)).digest == first
    changed = [*objs[:1], b.deployment(spec=b.pod_spec(b.container(image="nginx:1.28"))), *objs[2:]]
    assert Snapshot(_write(tmp_path / "c", changed, key)).digest != first


def test_verify_reports_tampered_and_missing_files(tmp_path: Path, key: SecretKey) -> None:
    root = _write(tmp_path / "s", _objects(), key)
    (root / "shop/apps.Deployment/web.yaml").write_text("tampered: true\n")
    (root / "shop/core.ConfigMap/settings.yaml").unlink()
    assert sorted(Snapshot(root).verify()) == ["shop/apps.Deployment/web.yaml: changed since the snapshot was written",
                                               "shop/core.ConfigMap/settings.yaml: missing"]


def test_existing_snapshot_is_refused_without_overwrite(tmp_path: Path, key: SecretKey) -> None:
    root = _write(tmp_path / "s", _objects(), key)
    with pytest.raises(InventoryError, match="pass --overwrite"):
        SnapshotWriter(root, secret_key=key)


def test_overwrite_replaces_the_snapshot_whole(tmp_path: Path, key: SecretKey) -> None:
    root = _write(tmp_path / "s", _objects(), key)
    _write(root, [b.namespace("ml")], key, overwrite=True)
    assert Snapshot(root).paths() == ["_cluster/core.Namespace/ml.yaml"]
    assert not (root / "shop").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary or old directories left


def test_a_failed_run_leaves_the_previous_snapshot_untouched(tmp_path: Path, key: SecretKey) -> None:
    root = _write(tmp_path / "s", _objects(), key)
    digest = Snapshot(root).digest
    with pytest.raises(RuntimeError), SnapshotWriter(root, secret_key=key, overwrite=True) as w:
        w.write(b.namespace("ml"))
        raise RuntimeError("listing failed half way")
    assert Snapshot(root).digest == digest
    assert [p.name for p in tmp_path.iterdir()] == ["s"]


def test_writing_the_same_object_twice_is_an_error(tmp_path: Path, key: SecretKey) -> None:
    with pytest.raises(InventoryError, match="written twice"), SnapshotWriter(tmp_path / "s", secret_key=key) as w:
        w.write(b.deployment())
        w.write(b.deployment())


def test_writer_without_key_fails_before_listing_with_the_how_to(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError) as info:
        SnapshotWriter(tmp_path / "s")
    assert str(info.value) == NO_KEY_HELP
    assert not (tmp_path / "s").exists()


def test_excluded_secrets_are_listed_but_not_stored(tmp_path: Path) -> None:
    snap = Snapshot(_write(tmp_path / "s", _objects(), None, exclude_secrets=True))
    assert snap.index["secrets_excluded"] == ["shop/core.Secret/db.yaml"]
    assert not (snap.root / "secrets.age").exists()
    assert all(o["kind"] != "Secret" for o in snap.objects())


def test_reading_secrets_needs_the_identity(tmp_path: Path, key: SecretKey) -> None:
    snap = Snapshot(_write(tmp_path / "s", _objects(), key))
    with pytest.raises(SecretKeyError, match="--age-recipient"):
        snap.objects()
    assert len(list(snap.objects(include_secrets=False))) == 5


def test_transformed_stage_writes_patch_log_exclusions_and_findings(tmp_path: Path, key: SecretKey) -> None:
    raw = [b.live(b.service(type="LoadBalancer", loadBalancerIP="20.61.4.18")),
           b.owned_by(b.pod("web-abc"), "ReplicaSet", "web-1"),
           b.live(b.secret("token", type="kubernetes.io/service-account-token",
                           data={"token": PASSWORD_B64},
                           annotations={"kubernetes.io/service-account.name": "ci",
                                        "kubernetes.io/service-account.uid": "u1"}))]
    ctx = TransformContext()
    with SnapshotWriter(tmp_path / "transformed", stage="transformed", secret_key=key) as w:
        for o in raw:
            w.write_outcome(transform(o, ctx), source_path=ObjectRef.of(o).path)
    snap = Snapshot(tmp_path / "transformed")
    assert [e["reason"] for e in snap.excluded()] == ["owned by ReplicaSet web-1, whose controller recreates it "
                                                      "on the target"]
    patches = {e["path"]: e for e in snap.patches()}
    assert {p["rule"] for p in patches["shop/core.Service/web.yaml"]["patches"]} == {"metadata", "service"}
    assert {f.code for f in snap.findings()} == {"static-public-ip", "service-account-token-reissued"}
    assert snap.index["counts"]["excluded"] == 1 and snap.index["counts"]["findings"] == {"info": 1, "warning": 1}
    assert PASSWORD_B64.encode() not in (snap.root / "patches.jsonl").read_bytes()
    assert snap.secrets(key)["shop/core.Secret/token.yaml"]["metadata"]["annotations"] == {
        "kubernetes.io/service-account.name": "ci"}


def test_patch_values_of_secrets_are_redacted(tmp_path: Path, key: SecretKey) -> None:
    from migration.transforms import RegisteredRule, TransformResult
    from migration.transforms.base import replace

    class Rotate:
        def applies_to(self, obj: dict[str, Any], ctx: TransformContext) -> bool:
            return True

        def run(self, obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
            return TransformResult.patch([replace(PASSWORD_B64, "data", "password")])

    outcome = transform(b.secret(), TransformContext(), (RegisteredRule("rotate", 1, Rotate()),))
    with SnapshotWriter(tmp_path / "t", stage="transformed", secret_key=key) as w:
        w.write_outcome(outcome)
    [entry] = Snapshot(tmp_path / "t").patches()
    assert entry["patches"][0]["ops"] == [{"op": "replace", "path": "/data/password", "value": "<redacted>"}]


# --------------------------------------------------------------------------
# Keys.
# --------------------------------------------------------------------------

def test_bundle_round_trips_with_an_identity_file(key: SecretKey) -> None:
    secrets = {"shop/core.Secret/db.yaml": b.secret()}
    data = encrypt_bundle(secrets, key)
    assert PASSWORD_B64.encode() not in data and b"aHVudGVyMg" not in data
    assert decrypt_bundle(data, key) == secrets


def test_recipient_only_key_encrypts_but_cannot_decrypt(identity_file: Path, key: SecretKey) -> None:
    public = identity_file.read_text().split("public key: ")[1].split()[0]
    writer = load_secret_key(recipients=[public], environ={})
    data = encrypt_bundle({"p": b.secret()}, writer)
    with pytest.raises(SecretKeyError, match="can encrypt but not decrypt"):
        decrypt_bundle(data, writer)
    assert decrypt_bundle(data, key) == {"p": b.secret()}


def test_wrong_identity_is_a_secret_key_error(key: SecretKey, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    with pytest.raises(SecretKeyError, match="use the identity or passphrase the snapshot was written with"):
        decrypt_bundle(encrypt_bundle({}, key), SecretKey.from_identity_file(other))


@pytest.mark.parametrize(("content", "message"), [
    pytest.param("# only a comment\n", "holds no age identity", id="empty"),
    pytest.param("AGE-SECRET-KEY-1NOTAKEY\n", "line 1 of", id="garbage"),
])
def test_bad_identity_file_is_explained_without_echoing_it(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "key.txt"
    path.write_text(content)
    with pytest.raises(SecretKeyError, match=message) as info:
        SecretKey.from_identity_file(path)
    assert "NOTAKEY" not in str(info.value)


def test_invalid_recipient_is_refused() -> None:
    with pytest.raises(SecretKeyError, match="not an age recipient"):
        load_secret_key(recipients=["age1nope"], environ={})


def test_no_key_configured_means_none_and_require_explains() -> None:
    assert load_secret_key(environ={}) is None
    with pytest.raises(SecretKeyError, match="--exclude-secrets"):
        require_key(None)


def test_passphrase_and_age_keys_together_are_refused(identity_file: Path) -> None:
    with pytest.raises(SecretKeyError, match=f"unset {PASSPHRASE_ENV}"):
        load_secret_key(identity_file=identity_file, environ={PASSPHRASE_ENV: "pw"})


def test_key_repr_never_shows_the_passphrase() -> None:
    assert "hunter2" not in repr(SecretKey.from_passphrase("hunter2"))


@pytest.mark.timeout(120)
def test_passphrase_from_the_environment_round_trips_a_whole_snapshot_with_one_scrypt_each_way(
        tmp_path: Path) -> None:
    # Slow by design (scrypt): one encryption at commit, one decryption when reading.
    key = load_secret_key(environ={PASSPHRASE_ENV: "correct horse battery staple"})
    secrets = [b.secret(f"s{i}") for i in range(200)]
    snap = Snapshot(_write(tmp_path / "s", secrets, key))
    assert orjson.loads((snap.root / "index.json").read_bytes())["secrets"][0] == "shop/core.Secret/s0.yaml"
    assert (snap.root / "secrets.age").read_bytes().startswith(b"age-encryption.org/v1")
    assert len(list(snap.objects(secret_key=key))) == 200


def test_yaml_round_trip_preserves_types() -> None:
    obj = b.config_map(data={"n": "012", "yes": "yes", "empty": "", "multi": "a\nb"})
    obj["binaryData"] = None
    assert load_yaml(dump_yaml(obj)) == obj


# --------------------------------------------------------------------------
# The transform stage, file to file.
# --------------------------------------------------------------------------

def test_transform_stage_turns_a_raw_snapshot_into_a_transformed_one(tmp_path: Path, key: SecretKey) -> None:
    from migration.snapshot import stage_dir
    from migration.transforms import transform_snapshot

    # The Pod's ReplicaSet is in the snapshot, owned by the Deployment: both are recreated on the target.
    raw = [b.live(b.deployment()), b.owned_by(b.obj("apps/v1", "ReplicaSet", "web-1", "shop", spec={}), "Deployment", "web"),
           b.owned_by(b.pod("web-abc"), "ReplicaSet", "web-1"),
           b.service("external-db", selector={}), b.obj("v1", "Endpoints", "external-db", "shop"),
           b.obj("v1", "Endpoints", "web", "shop"), b.service("web"), b.live(b.secret())]
    source = Snapshot(_write(stage_dir(tmp_path, "snapshot"), raw, key))
    results = transform_snapshot(source, stage_dir(tmp_path, "transformed"), TransformContext(), secret_key=key)

    out = Snapshot(tmp_path / "transformed")
    assert out.stage == "transformed"
    assert results.counts() == {Status.OK: 5, Status.EXCLUDED: 3}
    kept = {ObjectRef.of(o).path for o in out.objects(secret_key=key)}
    assert "shop/core.Endpoints/external-db.yaml" in kept  # selector-less: user data
    assert "shop/core.Endpoints/web.yaml" not in kept  # the endpoints controller's
    assert all("uid" not in o["metadata"] for o in out.objects(secret_key=key))


def test_transform_stage_records_rule_failures_and_goes_on(tmp_path: Path, key: SecretKey) -> None:
    from migration.transforms import transform_snapshot

    broken = b.service("broken")
    broken["spec"]["ports"] = "not-a-list"
    source = Snapshot(_write(tmp_path / "snapshot", [broken, b.config_map()], key))
    results = transform_snapshot(source, tmp_path / "transformed", TransformContext(), secret_key=key)
    assert results.counts() == {Status.OK: 1, Status.FAILED: 1}
    [entry] = Snapshot(tmp_path / "transformed").excluded()
    assert entry["error"] is True and "rule service failed" in entry["reason"]


class _EmptyTarget:
    """A target holding nothing (verify only reads it)."""

    def read(self, obj: dict[str, Any]) -> None:
        return None


def test_verify_counts_an_object_the_transform_failed_on_as_a_gap_not_an_exclusion(tmp_path: Path,
                                                                                    key: SecretKey) -> None:
    from migration import stages
    from migration.transforms import transform_snapshot

    broken = b.service("broken")
    broken["spec"]["ports"] = "not-a-list"
    _write(tmp_path / "snapshot", [broken], key)
    transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed", TransformContext(), secret_key=key)
    report = stages.verify(_EmptyTarget(), tmp_path / "snapshot", tmp_path / "transformed",  # type: ignore[arg-type]
                           secret_key=key, ready_timeout=0)
    assert report.unaccounted == ["shop/core.Service/broken.yaml"] and not report.ok
    [result] = list(report.results)
    assert result.status is Status.FAILED and result.message.startswith("not transformed: ")


# --------------------------------------------------------------------------
# Any legal name: long, with ':' or capitals (RBAC), unicode.
# --------------------------------------------------------------------------

LONGEST_DNS_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters, the legal maximum
LEGAL_AWKWARD_NAMES = [
    pytest.param(b.config_map(LONGEST_DNS_NAME), id="253-character-dns-subdomain"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRole",
                       "system:controller:" + "persistent-volume-binder:" * 14), id="long-rbac-name-with-colons"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
                       "cert-manager-cainjector:leaderelection"), id="rbac-name-with-colon"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "Role", "Équipe-données:lecture", "shop"),
                 id="unicode-rbac-name"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "Admin"), id="capital-letters"),
    pytest.param(b.obj("rbac.authorization.k8s.io/v1", "ClusterRole", "ops\\team*?<>|\"x"), id="ntfs-forbidden"),
    pytest.param(b.config_map("con"), id="windows-device-name"),
]


@pytest.mark.parametrize("obj", LEGAL_AWKWARD_NAMES)
def test_a_legal_name_gets_a_short_portable_deterministic_file_name(obj: dict[str, Any]) -> None:
    ref = ObjectRef.of(obj)
    file_name = ref.path.rpartition("/")[2]
    assert ref.path == ObjectRef.of(dict(obj)).path  # deterministic
    assert ref.hashed
    assert len(file_name.encode()) <= 143  # eCryptfs, the shortest limit in common use
    assert set(file_name) <= set("abcdefghijklmnopqrstuvwxyz0123456789.-_~")
    assert file_name.endswith(".yaml") and file_name != ".yaml"


def test_hashed_file_names_of_different_names_differ_even_with_the_same_readable_prefix() -> None:
    a, b_ = "x" * 200 + "-one", "x" * 200 + "-two"
    assert file_stem(a) != file_stem(b_)
    assert file_stem("Admin") != file_stem("admin") and file_stem("admin") == "admin"  # case-insensitive filesystems


def test_a_name_one_byte_past_the_plain_budget_is_hashed() -> None:
    assert not ObjectRef.of(b.config_map("a" * MAX_PLAIN_NAME)).hashed
    assert ObjectRef.of(b.config_map("a" * (MAX_PLAIN_NAME + 1))).hashed


def test_from_path_inverts_plain_paths_and_refuses_to_guess_a_hashed_name() -> None:
    plain = ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "view")
    assert ObjectRef.from_path(plain.path) == plain
    hashed = ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "system:node")
    with pytest.raises(ObjectNameError, match="hashed file name"):
        ObjectRef.from_path(hashed.path)


@pytest.mark.parametrize("path", ["shop/web.yaml", "shop/apps.Deployment/web", "nope"])
def test_from_path_names_a_path_that_is_not_a_snapshot_path(path: str) -> None:
    with pytest.raises(ObjectNameError, match="not a snapshot path"):
        ObjectRef.from_path(path)


def test_snapshot_stores_and_reads_back_every_legal_name_with_its_real_name_inside(
        tmp_path: Path, key: SecretKey) -> None:
    objs = [p.values[0] for p in LEGAL_AWKWARD_NAMES] + [
        b.secret("sh.helm.release.v1." + "r" * 200 + ".v1", type="helm.sh/release.v1"), b.deployment()]
    snap = Snapshot(_write(tmp_path / "snapshot", objs, key))
    assert snap.verify() == []
    assert {snap.ref(p) for p in snap.paths()} == {ObjectRef.of(o) for o in objs}
    read = {ObjectRef.of(o): o for o in snap.objects(secret_key=key)}
    assert read == {ObjectRef.of(o): o for o in objs}
    # The index maps exactly the hashed paths back to their objects; plain paths need no entry.
    assert set(snap.index["refs"]) == {ObjectRef.of(o).path for o in objs if ObjectRef.of(o).hashed}
    assert "failed" not in snap.index


def test_hashed_paths_are_the_same_whatever_the_write_order(tmp_path: Path, key: SecretKey) -> None:
    objs = [p.values[0] for p in LEGAL_AWKWARD_NAMES]
    one = Snapshot(_write(tmp_path / "one", objs, key))
    two = Snapshot(_write(tmp_path / "two", list(reversed(objs)), key))
    assert one.index["objects"] == two.index["objects"] and one.digest == two.digest


def test_an_object_that_cannot_be_stored_is_an_error_for_it_alone(tmp_path: Path, key: SecretKey) -> None:
    bad = b.config_map("..")
    with SnapshotWriter(tmp_path / "snapshot", secret_key=key) as w:
        w.write(b.deployment())
        with pytest.raises(InventoryError, match="cannot be stored") as info:
            w.write(bad)
        w.write(b.config_map(LONGEST_DNS_NAME))
    assert info.value.ref == ObjectRef.of(bad) and w.failures == [info.value]
    snap = Snapshot(tmp_path / "snapshot")
    assert snap.failed == [{"ref": ObjectRef.of(bad).to_dict(), "path": None, "message": info.value.message}]
    assert snap.index["counts"]["total"] == 2 and snap.verify() == []


class _MirrorTarget:
    """A target holding exactly the objects verify looks for (each read answers the desired object)."""

    def read(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj


def test_verify_and_the_report_name_an_object_the_inventory_could_not_store(tmp_path: Path, key: SecretKey,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from migration import stages
    from migration.transforms import transform_snapshot

    refused = ObjectRef.of(b.config_map("refused")).path
    real = snapshot._create

    def create(path: str, data: bytes) -> None:  # a write error for this one file (the disk refuses its name)
        if path.endswith(refused):
            raise OSError(errno.ENAMETOOLONG, "File name too long")
        real(path, data)

    unstorable = b.config_map("..")
    with monkeypatch.context() as m:
        m.setattr(snapshot, "_create", create)
        with SnapshotWriter(tmp_path / "snapshot", secret_key=key) as w:
            for o in (b.namespace(), b.config_map("refused"), unstorable, b.config_map("kept")):
                try:
                    w.write(o)
                except InventoryError:
                    pass  # the inventory stage records it and goes on, as here
    raw = Snapshot(tmp_path / "snapshot")
    assert len(raw.failed) == 2
    transform_snapshot(raw, tmp_path / "transformed", TransformContext(), secret_key=key)
    report = stages.verify(_MirrorTarget(), tmp_path / "snapshot", tmp_path / "transformed",  # type: ignore[arg-type]
                           secret_key=key, ready_timeout=0)

    assert not report.ok
    assert sorted(report.unaccounted) == sorted([refused, str(ObjectRef.of(unstorable))])
    failed = {str(r.ref): r.message for r in report.results if r.status is Status.FAILED}
    assert set(failed) == {str(ObjectRef.of(b.config_map("refused"))), str(ObjectRef.of(unstorable))}
    assert "File name too long" in failed[str(ObjectRef.of(b.config_map("refused")))]
    assert all(m.startswith("not carried: the inventory could not store it") for m in failed.values())
    # The objects that were stored are accounted for as before: verify measured them, not nothing.
    assert {str(r.ref) for r in report.results if r.status is Status.OK} == {
        str(ObjectRef.of(b.config_map("kept"))), str(ObjectRef.of(b.namespace()))}

    stages.write_report(tmp_path, [], report.results, "akshift migration report")
    markdown = (tmp_path / "report.md").read_text()
    as_json = orjson.loads((tmp_path / "report.json").read_bytes())
    for name, message in failed.items():
        assert f"`{name}`" in markdown and "could not store it" in markdown
        assert {"object": name, "status": "failed", "message": message} \
            .items() <= next(o for o in as_json["results"]["objects"] if o["object"] == name).items()
    assert as_json["summary"]["problems"] is True


def test_verify_names_an_object_the_transform_stage_could_not_store(tmp_path: Path, key: SecretKey,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from migration import stages
    from migration.transforms import transform_snapshot

    _write(tmp_path / "snapshot", [b.namespace(), b.config_map("refused")], key)
    refused = ObjectRef.of(b.config_map("refused")).path
    real = snapshot._create

    def create(path: str, data: bytes) -> None:  # only the transformed copy is refused
        if path.endswith(refused) and "transformed" in path:
            raise OSError(errno.ENAMETOOLONG, "File name too long")
        real(path, data)

    with monkeypatch.context() as m:
        m.setattr(snapshot, "_create", create)
        transform_snapshot(Snapshot(tmp_path / "snapshot"), tmp_path / "transformed", TransformContext(),
                           secret_key=key)
    assert [f["path"] for f in Snapshot(tmp_path / "transformed").failed] == [refused]
    report = stages.verify(_MirrorTarget(), tmp_path / "snapshot", tmp_path / "transformed",  # type: ignore[arg-type]
                           secret_key=key, ready_timeout=0)
    assert report.unaccounted == [refused] and not report.ok
    [result] = [r for r in report.results if r.status is Status.FAILED]
    assert result.ref == ObjectRef.of(b.config_map("refused"))
    assert result.message.startswith("not carried: the transform stage could not store it") \
        and "File name too long" in result.message


def test_a_file_name_the_filesystem_refuses_loses_that_object_only(tmp_path: Path, key: SecretKey,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    refused = ObjectRef.of(b.config_map("refused")).path
    real = snapshot._create

    def create(path: str, data: bytes) -> None:
        if path.endswith(refused):
            raise OSError(errno.ENAMETOOLONG, "File name too long")
        real(path, data)

    monkeypatch.setattr(snapshot, "_create", create)
    with SnapshotWriter(tmp_path / "snapshot", secret_key=key) as w:
        for o in (b.config_map("refused"), b.deployment(), b.config_map("kept")):
            w.write(o)
    snap = Snapshot(tmp_path / "snapshot")
    assert refused not in snap.index["objects"] and len(snap.index["objects"]) == 2
    assert [f["path"] for f in snap.failed] == [refused] and "File name too long" in snap.failed[0]["message"]
    assert snap.index["counts"]["by_kind"] == {"apps.Deployment": 1, "core.ConfigMap": 1}
    assert snap.verify() == []


def test_two_objects_a_filesystem_makes_one_file_lose_the_second_only(tmp_path: Path, key: SecretKey,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A case-folding filesystem (macOS, Windows shares) makes ``Admin`` and ``admin`` one file: the second
    object is reported, never written over the first (whose digest the index keeps)."""
    folded = {ObjectRef.of(b.config_map("second")).path: ObjectRef.of(b.config_map("first")).path}
    real = snapshot._create

    def create(path: str, data: bytes) -> None:  # <tmp_path>/.snapshot.tmp-<pid>-<random>/<path in the snapshot>
        temporary, rel = path[len(str(tmp_path)) + 1:].split("/", 1)
        real(f"{tmp_path}/{temporary}/{folded.get(rel, rel)}", data)

    monkeypatch.setattr(snapshot, "_create", create)
    with SnapshotWriter(tmp_path / "snapshot", secret_key=key) as w:
        for o in (b.config_map("first"), b.config_map("second"), b.deployment()):
            w.write(o)
    snap = Snapshot(tmp_path / "snapshot")
    assert [f["path"] for f in snap.failed] == [ObjectRef.of(b.config_map("second")).path]
    assert "File exists" in snap.failed[0]["message"]
    assert any("case-sensitive filesystem" in e.fix for e in w.failures)
    assert snap.verify() == [] and snap.read(ObjectRef.of(b.config_map("first")).path)["metadata"]["name"] == "first"


def test_a_full_disk_stops_the_snapshot_instead_of_dropping_objects(tmp_path: Path, key: SecretKey,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def create(path: str, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(snapshot, "_create", create)
    with pytest.raises(InventoryError, match="No space left"):
        with SnapshotWriter(tmp_path / "snapshot", secret_key=key) as w:
            w.write(b.deployment())
    assert not (tmp_path / "snapshot").exists()


def test_transform_stage_carries_hashed_names_and_keeps_their_paths(tmp_path: Path, key: SecretKey) -> None:
    from migration.transforms.stage import transform_snapshot

    objs = [b.namespace(), b.obj("rbac.authorization.k8s.io/v1", "Role", "Équipe:lecture", "shop", rules=[]),
            b.config_map(LONGEST_DNS_NAME)]
    raw = Snapshot(_write(tmp_path / "snapshot", objs, key))
    results = transform_snapshot(raw, tmp_path / "transformed", TransformContext(), secret_key=key)
    out = Snapshot(tmp_path / "transformed")
    assert {r.status for r in results} == {Status.OK}
    assert set(out.index["refs"]) == set(raw.index["refs"]) and len(raw.index["refs"]) == 2
    assert {ObjectRef.of(o) for o in out.objects(secret_key=key)} == {ObjectRef.of(o) for o in objs}


# --------------------------------------------------------------------------
# The JSON cache: the YAML files' content read without libyaml, never instead of an edit.
# --------------------------------------------------------------------------

# What the API serves (JSON: no NaN, no infinity); a YAML file may hold more, and then the client sends
# what orjson makes of it, as the cache holds it.
_JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
                 | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_JSON = st.recursive(_JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(), inner, max_size=4), max_leaves=25)


@settings(max_examples=800, deadline=None)
@given(st.text(min_size=1), st.dictionaries(st.text(), _JSON, max_size=6))
def test_a_cache_line_holds_what_the_yaml_file_reads_back_as(path: str, obj: dict[str, Any]) -> None:
    line = snapshot._cache_line(path, obj)
    assert line is not None and line.endswith(b"\n") and line.count(b"\n") == 1
    head, _, body = line.partition(b"\t")
    assert orjson.loads(head) == path
    assert orjson.loads(body) == load_yaml(dump_yaml(obj)) == obj


def test_an_integer_json_cannot_carry_is_read_from_its_yaml_file(tmp_path: Path, key: SecretKey) -> None:
    big = b.config_map("big")
    big["metadata"]["generation"] = 2**70
    root = _write(tmp_path / "s", [big, b.config_map("small")], key)
    assert b'"small"' in (root / snapshot.CACHE).read_bytes() and b'"big"' not in (root / snapshot.CACHE).read_bytes()
    assert Snapshot(root).read(ObjectRef.of(big).path) == big


def test_an_unchanged_file_is_read_from_the_cache_without_parsing_its_yaml(tmp_path: Path, key: SecretKey,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    objs = _objects()
    root = _write(tmp_path / "s", objs, key)

    def no_yaml(data: bytes | str) -> Any:
        raise AssertionError(f"parsed YAML: {data[:60]!r}")

    monkeypatch.setattr(snapshot, "load_yaml", no_yaml)
    read = list(Snapshot(root).objects(secret_key=key))
    assert sorted(read, key=lambda o: ObjectRef.of(o).path) == sorted(objs, key=lambda o: ObjectRef.of(o).path)


def test_a_hand_edited_file_is_read_from_its_yaml_not_from_the_cache(tmp_path: Path, key: SecretKey) -> None:
    root = _write(tmp_path / "s", _objects(), key)
    f = root / "shop/core.ConfigMap/settings.yaml"
    f.write_bytes(f.read_bytes().replace(b"mode: prod", b"mode: edited"))
    snap = Snapshot(root)
    assert snap.check_intact(allow_modified=True) == ["shop/core.ConfigMap/settings.yaml"]
    assert snap.read("shop/core.ConfigMap/settings.yaml")["data"]["mode"] == "edited"


def _tamper_cache(root: Path) -> None:
    cache = root / snapshot.CACHE
    assert b'"mode":"prod"' in cache.read_bytes()
    cache.write_bytes(cache.read_bytes().replace(b'"mode":"prod"', b'"mode":"evil"'))


def _drop_cache(root: Path) -> None:
    (root / snapshot.CACHE).unlink()


def _cache_of_a_version_without_one(root: Path) -> None:
    index = orjson.loads((root / "index.json").read_bytes())
    del index["cache"]
    (root / "index.json").write_bytes(orjson.dumps(index))
    _drop_cache(root)


@pytest.mark.parametrize("spoil", [_tamper_cache, _drop_cache, _cache_of_a_version_without_one])
def test_a_changed_or_missing_cache_only_makes_reading_slower(tmp_path: Path, key: SecretKey, spoil: Any) -> None:
    objs = _objects()
    root = _write(tmp_path / "s", objs, key)
    spoil(root)
    snap = Snapshot(root)
    assert snap.check_intact() == [] and snap.extra_files() == []
    assert snap.read("shop/core.ConfigMap/settings.yaml")["data"]["mode"] == "prod"
    assert sorted(snap.objects(secret_key=key), key=lambda o: ObjectRef.of(o).path) == \
        sorted(objs, key=lambda o: ObjectRef.of(o).path)
