"""Kubeconfig as kubectl reads it: which files, how they merge, which context, and every bad input as a clear error.

No cluster: these read files written by the tests. The real-server proofs are in tests/cluster/test_kube_auth.py.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from errors import ErrorKind
from kube.config import KubeConfig, kubeconfig_paths
from kube.errors import KubeconfigError

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot-parsed-here\n-----END CERTIFICATE-----\n").decode()


def config_doc(*names: str, current: str | None = None, users: dict[str, Any] | None = None) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context per name (server https://<name>.example:6443)."""
    users = users or {}
    return {
        "apiVersion": "v1", "kind": "Config", **({"current-context": current} if current else {}),
        "clusters": [{"name": n, "cluster": {"server": f"https://{n}.example:6443", "certificate-authority-data": CA}}
                     for n in names],
        "users": [{"name": f"{n}-user", "user": users.get(n, {"token": f"token-of-{n}"})} for n in names],
        "contexts": [{"name": n, "context": {"cluster": n, "user": f"{n}-user"}} for n in names],
    }


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def load(path: Path | None = None, context: str | None = None, **env: str) -> KubeConfig:
    return KubeConfig.load(path, context, environ=env)


# -- which files ----------------------------------------------------------------


def test_an_explicit_path_is_the_only_file_read_even_when_kubeconfig_is_set(tmp_path: Path) -> None:
    a = write(tmp_path / "a", config_doc("a", current="a"))
    b = write(tmp_path / "b", config_doc("b", current="b"))
    assert load(a, KUBECONFIG=str(b)).server == "https://a.example:6443"


def test_kubeconfig_with_one_file_is_read_when_no_path_is_given(tmp_path: Path) -> None:
    b = write(tmp_path / "b", config_doc("b", current="b"))
    cfg = load(KUBECONFIG=str(b))
    assert (cfg.context, cfg.server, cfg.source) == ("b", "https://b.example:6443", str(b))


def test_the_default_file_is_home_kube_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / ".kube" / "config", config_doc("home", current="home"))
    assert load().context == "home"
    assert kubeconfig_paths(None, {}) == ([tmp_path / ".kube" / "config"], True)


def test_a_missing_default_file_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeconfigError) as e:
        load()
    assert str(tmp_path / ".kube" / "config") in str(e.value) and "does not exist" in str(e.value)
    assert "az aks get-credentials" in e.value.fix
    assert e.value.kind is ErrorKind.BAD_INPUT


def test_kubeconfig_entries_that_do_not_exist_are_skipped_as_kubectl_skips_them(tmp_path: Path) -> None:
    b = write(tmp_path / "b", config_doc("b", current="b"))
    assert load(KUBECONFIG=f"{tmp_path / 'missing'}:{b}").context == "b"


def test_kubeconfig_naming_only_missing_files_is_an_error_listing_them(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="none exists") as e:
        load(KUBECONFIG=f"{tmp_path / 'x'}:{tmp_path / 'y'}")
    assert str(tmp_path / "x") in str(e.value) and str(tmp_path / "y") in str(e.value)


# -- how they merge (first wins) -------------------------------------------------


def test_kubeconfig_list_merges_contexts_of_every_file(tmp_path: Path) -> None:
    a = write(tmp_path / "a", config_doc("a", current="a"))
    b = write(tmp_path / "b", config_doc("b"))
    env = {"KUBECONFIG": f"{a}:{b}"}
    assert load(None, "a", **env).server == "https://a.example:6443"
    assert load(None, "b", **env).server == "https://b.example:6443"
    assert load(None, "b", **env).source == str(b)


def test_the_first_file_that_sets_current_context_decides_it(tmp_path: Path) -> None:
    a = write(tmp_path / "a", config_doc("a"))  # no current-context: the next file's counts
    b = write(tmp_path / "b", config_doc("b", current="b"))
    c = write(tmp_path / "c", {**config_doc("c", current="c")})
    assert load(KUBECONFIG=f"{a}:{b}:{c}").context == "b"
    assert load(KUBECONFIG=f"{c}:{b}").context == "c"


def test_the_first_file_that_names_an_entry_defines_it_whole(tmp_path: Path) -> None:
    first = config_doc("x", current="x")
    second = config_doc("x")
    second["clusters"][0]["cluster"] = {"server": "https://second.example", "proxy-url": "http://proxy:3128"}
    second["users"][0]["user"] = {"token": "second-token"}
    a, b = write(tmp_path / "a", first), write(tmp_path / "b", second)
    cfg = load(KUBECONFIG=f"{a}:{b}")
    assert (cfg.server, cfg.proxy_url, cfg.token) == ("https://x.example:6443", "", "token-of-x")
    cfg = load(KUBECONFIG=f"{b}:{a}")
    assert (cfg.server, cfg.proxy_url, cfg.token) == ("https://second.example", "http://proxy:3128", "second-token")


def test_a_context_may_take_its_cluster_and_user_from_other_files(tmp_path: Path) -> None:
    ca_dir = tmp_path / "certs"
    write(ca_dir / "ca.crt", "PEM")
    clusters = write(ca_dir / "clusters.yaml", {"clusters": [
        {"name": "prod", "cluster": {"server": "https://prod.example", "certificate-authority": "ca.crt"}}]})
    users = write(tmp_path / "users.yaml", {"users": [{"name": "me", "user": {"tokenFile": "tok"}}]})
    write(tmp_path / "tok", "t")
    contexts = write(tmp_path / "ctx.yaml", {"current-context": "prod",
                                             "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "me",
                                                                                      "namespace": "shop"}}]})
    cfg = load(KUBECONFIG=f"{contexts}:{clusters}:{users}")
    # relative paths resolve against the file that names them, not the first file
    assert cfg.ca_data == b"PEM"
    assert cfg.token_file == tmp_path / "tok"
    assert (cfg.namespace, cfg.user, cfg.cluster, cfg.source) == ("shop", "me", "prod", str(contexts))


def test_an_empty_file_in_the_list_adds_nothing(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty", "")
    b = write(tmp_path / "b", config_doc("b", current="b"))
    assert load(KUBECONFIG=f"{empty}:{b}").context == "b"


# -- which context ---------------------------------------------------------------


def test_an_explicit_context_wins_over_current_context(tmp_path: Path) -> None:
    f = write(tmp_path / "kc", config_doc("a", "b", current="a"))
    assert load(f).context == "a"
    assert load(f, "b").server == "https://b.example:6443"


def test_no_current_context_and_none_given_asks_for_one(tmp_path: Path) -> None:
    f = write(tmp_path / "kc", config_doc("a", "b"))
    with pytest.raises(KubeconfigError, match="has no current-context") as e:
        load(f)
    assert str(f) in str(e.value)


def test_an_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    f = write(tmp_path / "kc", config_doc("a", "b", current="a"))
    with pytest.raises(KubeconfigError, match=r"context 'nope' not found \(contexts: a, b\)"):
        load(f, "nope")


@pytest.mark.parametrize("section, missing", [("users", "user 'a-user'"), ("clusters", "cluster 'a'")],
                         ids=["missing-user", "missing-cluster"])
def test_a_context_naming_a_missing_user_or_cluster_names_file_context_and_entry(
        tmp_path: Path, section: str, missing: str) -> None:
    doc = config_doc("a", current="a")
    doc[section] = []
    f = write(tmp_path / "kc", doc)
    with pytest.raises(KubeconfigError) as e:
        load(f)
    assert str(f) in str(e.value) and "context 'a'" in str(e.value) and missing in str(e.value)
    assert "which no file defines" in str(e.value)


def test_a_context_without_user_authenticates_by_nothing(tmp_path: Path) -> None:
    doc = config_doc("a", current="a")
    del doc["contexts"][0]["context"]["user"]
    cfg = load(write(tmp_path / "kc", doc))
    assert (cfg.user, cfg.token, cfg.exec) == ("", None, None)


# -- bad input: wrong types, never a traceback, never a secret -------------------------


WRONG = [
    ("users-is-a-number", lambda d: d.update(users=5), "`users` must be a list of {name, user}, found a number"),
    ("clusters-is-a-mapping", lambda d: d.update(clusters={"a": {}}), "`clusters` must be a list"),
    ("entry-without-name", lambda d: d["contexts"].append({"context": {}}), "contexts[1] must be a mapping with a string `name`"),
    ("user-is-a-string", lambda d: d["users"][0].update(user="oops"), "`user` must be a mapping, found a string"),
    ("current-context-is-a-list", lambda d: d.update({"current-context": ["a"]}), "current-context must be a string"),
    ("server-is-a-number", lambda d: d["clusters"][0]["cluster"].update(server=6443), "`server` must be a string"),
    ("server-without-scheme", lambda d: d["clusters"][0]["cluster"].update(server="a.example:6443"), "must be an https:// URL"),
    ("insecure-is-a-string", lambda d: d["clusters"][0]["cluster"].update({"insecure-skip-tls-verify": "yes"}),
     "`insecure-skip-tls-verify` must be true or false"),
    ("ca-data-not-base64", lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": "%%%"}),
     "`certificate-authority-data` is not valid base64"),
    ("ca-file-missing", lambda d: d["clusters"][0]["cluster"].update(
        {"certificate-authority-data": None, "certificate-authority": "nope.crt"}), "`certificate-authority` file"),
    ("token-is-a-number", lambda d: d["users"][0]["user"].update(token=123), "`token` must be a string"),
    ("cert-without-key", lambda d: d["users"][0]["user"].update({"client-certificate-data": CA}),
     "needs both client-certificate and client-key"),
    ("token-file-missing", lambda d: d["users"][0]["user"].update(tokenFile="/nonexistent/token"),
     "tokenFile /nonexistent/token does not exist"),
    ("token-and-exec", lambda d: d["users"][0]["user"].update(
        exec={"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "x"}), "sets both a token and an exec plugin"),
    ("auth-provider", lambda d: d["users"][0].update(user={"auth-provider": {"name": "azure"}}),
     "`auth-provider` plugins (azure, gcp, oidc) were removed"),
    ("proxy-scheme", lambda d: d["clusters"][0]["cluster"].update({"proxy-url": "ftp://p"}), "proxy-url must be"),
    ("context-is-a-list", lambda d: d["contexts"][0].update(context=[]), "`context` must be a mapping, found a list"),
    ("namespace-is-a-number", lambda d: d["contexts"][0]["context"].update(namespace=1), "`namespace` must be a string"),
]


@pytest.mark.parametrize("mutate, expected", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_a_field_of_the_wrong_type_is_bad_input_naming_the_file(tmp_path: Path, mutate: Any, expected: str) -> None:
    doc = config_doc("a", current="a")
    mutate(doc)
    f = write(tmp_path / "kc", doc)
    with pytest.raises(KubeconfigError) as e:
        load(f)
    assert expected in str(e.value)
    assert str(f) in str(e.value)
    assert e.value.kind is ErrorKind.BAD_INPUT
    assert "token-of-a" not in str(e.value) + e.value.fix


@pytest.mark.parametrize("text, expected", [("clusters: [", "is not valid YAML at line"), ("- a\n- b\n", "is a list, not a kubeconfig")],
                         ids=["broken-yaml", "a-list"])
def test_a_file_that_is_not_a_kubeconfig_is_named(tmp_path: Path, text: str, expected: str) -> None:
    f = write(tmp_path / "kc", text)
    with pytest.raises(KubeconfigError, match=expected) as e:
        load(f)
    assert str(f) in str(e.value)


def test_errors_about_a_user_name_its_context_and_never_print_its_secrets(tmp_path: Path) -> None:
    doc = config_doc("a", current="a", users={"a": {"token": "s3cret-token", "password": "hunter2", "client-certificate-data": CA}})
    f = write(tmp_path / "kc", doc)
    with pytest.raises(KubeconfigError) as e:
        load(f)
    text = str(e.value)
    assert "user 'a-user' of context 'a'" in text and str(f) in text
    assert "s3cret-token" not in text and "hunter2" not in text


def test_repr_of_a_config_hides_tokens_passwords_keys_and_exec_env(tmp_path: Path) -> None:
    doc = config_doc("a", "b", current="a", users={
        "a": {"token": "s3cret-token", "client-key-data": base64.b64encode(b"PRIVATE").decode(),
              "client-certificate-data": CA, "password": "hunter2", "username": "me"},
        "b": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "p", "interactiveMode": "Never",
                       "env": [{"name": "CLIENT_SECRET", "value": "env-s3cret"}]}}})
    f = write(tmp_path / "kc", doc)
    text = repr(load(f)) + repr(load(f, "b"))
    for secret in ("s3cret-token", "PRIVATE", "hunter2", "env-s3cret"):
        assert secret not in text


# -- security and transport settings ------------------------------------------------


def test_insecure_skip_tls_verify_is_refused_unless_the_caller_allows_it(tmp_path: Path) -> None:
    doc = config_doc("a", current="a")
    doc["clusters"][0]["cluster"] = {"server": "https://a.example", "insecure-skip-tls-verify": True}
    f = write(tmp_path / "kc", doc)
    with pytest.raises(KubeconfigError, match="insecure-skip-tls-verify: true") as e:
        load(f)
    assert "--insecure-skip-tls-verify" in e.value.fix and e.value.kind is ErrorKind.BAD_INPUT
    cfg = KubeConfig.load(f, allow_insecure=True)
    assert cfg.insecure
    assert cfg.ssl_context().verify_mode.name == "CERT_NONE"


def test_insecure_with_a_certificate_authority_is_refused_as_kubectl_refuses_it(tmp_path: Path) -> None:
    doc = config_doc("a", current="a")
    doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    with pytest.raises(KubeconfigError, match="sets both a certificate authority and insecure"):
        KubeConfig.load(write(tmp_path / "kc", doc), allow_insecure=True)


def test_proxy_url_tls_server_name_and_namespace_are_read(tmp_path: Path) -> None:
    doc = config_doc("a", current="a")
    doc["clusters"][0]["cluster"].update({"proxy-url": "http://proxy.corp:3128", "tls-server-name": "kubernetes.default"})
    doc["contexts"][0]["context"]["namespace"] = "shop"
    cfg = load(write(tmp_path / "kc", doc))
    assert (cfg.proxy_url, cfg.tls_server_name, cfg.namespace) == ("http://proxy.corp:3128", "kubernetes.default", "shop")


# -- exec plugin settings ----------------------------------------------------------


def exec_doc(**fields: Any) -> dict[str, Any]:
    body = {"apiVersion": "client.authentication.k8s.io/v1", "command": "kubelogin", "interactiveMode": "Never", **fields}
    return config_doc("aks", current="aks", users={"aks": {"exec": {k: v for k, v in body.items() if v is not None}}})


def test_an_exec_plugin_is_read_with_every_field(tmp_path: Path) -> None:
    doc = exec_doc(args=["get-token", "--login", "azurecli"], env=[{"name": "AAD_LOGIN_METHOD", "value": "azurecli"}],
                   installHint="install kubelogin: az aks install-cli", provideClusterInfo=True, interactiveMode="IfAvailable")
    doc["clusters"][0]["cluster"]["extensions"] = [
        {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "6dae42f8"}}]
    cfg = load(write(tmp_path / "kc", doc))
    assert cfg.exec is not None
    assert cfg.exec.command == "kubelogin" and cfg.exec.args == ("get-token", "--login", "azurecli")
    assert cfg.exec.env == (("AAD_LOGIN_METHOD", "azurecli"),)
    assert cfg.exec.install_hint == "install kubelogin: az aks install-cli"
    assert (cfg.exec.interactive_mode, cfg.exec.provide_cluster_info) == ("IfAvailable", True)
    assert cfg.exec_cluster_config == {"audience": "6dae42f8"}
    assert cfg.refreshable


def test_a_relative_exec_command_with_a_slash_resolves_against_its_kubeconfig(tmp_path: Path) -> None:
    cfg = load(write(tmp_path / "dir" / "kc", exec_doc(command="./bin/plugin")))
    assert cfg.exec is not None and cfg.exec.command == str(tmp_path / "dir" / "bin" / "plugin")
    assert load(write(tmp_path / "kc2", exec_doc(command="kubelogin"))).exec.command == "kubelogin"  # type: ignore[union-attr]


def test_v1beta1_defaults_interactive_mode_to_if_available(tmp_path: Path) -> None:
    cfg = load(write(tmp_path / "kc", exec_doc(apiVersion="client.authentication.k8s.io/v1beta1", interactiveMode=None)))
    assert cfg.exec is not None and cfg.exec.interactive_mode == "IfAvailable"


@pytest.mark.parametrize("fields, expected", [
    ({"apiVersion": "client.authentication.k8s.io/v1alpha1"}, "v1alpha1' is not supported"),
    ({"apiVersion": None}, "apiVersion '(none)' is not supported"),
    ({"command": None}, "has no command"),
    ({"interactiveMode": None}, "interactiveMode is required with client.authentication.k8s.io/v1"),
    ({"interactiveMode": "Sometimes"}, "interactiveMode 'Sometimes' is not one of Never, IfAvailable, Always"),
    ({"args": "get-token"}, "`args` must be a list"),
    ({"args": ["ok", 1]}, "args must be a list of strings"),
    ({"env": [{"name": "A"}]}, "env[0] must be a mapping of string `name` and string `value`"),
    ({"provideClusterInfo": "yes"}, "`provideClusterInfo` must be true or false"),
], ids=["v1alpha1", "no-api-version", "no-command", "v1-without-mode", "unknown-mode", "args-string", "args-number",
        "env-without-value", "cluster-info-string"])
def test_a_bad_exec_section_is_bad_input_naming_the_user(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    f = write(tmp_path / "kc", exec_doc(**fields))
    with pytest.raises(KubeconfigError) as e:
        load(f)
    assert expected in str(e.value)
    assert "user 'aks-user' of context 'aks'" in str(e.value) and str(f) in str(e.value)
