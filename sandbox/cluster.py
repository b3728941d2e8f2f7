"""Start and stop one real Kubernetes cluster on 127.0.0.1: etcd, kube-apiserver, controller-manager, scheduler, kwok.

Why shaped so:

* Every process is a real binary built by ``sandbox/build.py``; nothing is faked
  but the kubelets (kwok plays them, so scheduled pods become Running/Ready and
  Deployments Available).
* Ports are picked free at start and each cluster has its own state directory
  (etcd data, PKI, kubeconfigs, logs), so any number of clusters run side by side.
* A profile that stands for a new AKS cluster (green) gets stand-ins of what AKS installs in kube-system
  (``sandbox/aks/``: CoreDNS, Cilium, azure-cns…), applied at start as AKS's add-on manager would: verify
  checks the source's AKS-managed exclusions against them, as it would against a real AKS target.
* No orphans: each child gets ``PR_SET_PDEATHSIG(SIGKILL)``, so when the owning
  process dies — even by SIGKILL — the kernel kills the control plane too.
  The owner is the test process, or the detached supervisor that
  ``akshift sandbox up`` starts (``sandbox/supervisor.py``).
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from errors import AkshiftError, ErrorKind
from kube.client import KubeClient
from kube.errors import ApiError
from sandbox import build, pki
from sandbox.profiles import ClusterProfile, node_objects

PR_SET_PDEATHSIG = 1


class SandboxError(AkshiftError):
    """A sandbox cluster could not start; the message names the process and its log."""

    kind = ErrorKind.ENVIRONMENT


def spawn_owned(args: list[str], *, signum: signal.Signals = signal.SIGKILL, **popen: Any) -> subprocess.Popen[bytes]:
    """Start a process that the kernel signals when its owner dies (``PR_SET_PDEATHSIG``), even by SIGKILL.

    Through util-linux's ``setpriv --pdeathsig`` when present: a ``preexec_fn`` would force a plain
    fork(), which runs the parent's atfork handlers in the child — and gRPC's (Pulumi loads it into
    test processes) can abort the child before exec. Without preexec_fn, subprocess uses
    vfork/posix_spawn and no handler runs. The owner is the spawning *thread*: spawn from a
    long-lived one.
    """
    setpriv = shutil.which("setpriv")
    if setpriv:
        return subprocess.Popen([setpriv, "--pdeathsig", signum.name.removeprefix("SIG"), "--", *args], **popen)

    def die_with_parent() -> None:  # runs in the child between fork and exec
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signum)

    return subprocess.Popen(args, preexec_fn=die_with_parent, **popen)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str:
    """Absolute path of a sandbox binary from the build cache.

    Raises:
        SandboxError: it has not been built; the message says how to build it.
    """
    for d in build.bin_dirs():
        if (d / name).exists():
            return str(d / name)
    raise SandboxError(f"{name} is not built; run `scripts/setup` (or `python3 sandbox/build.py`)")


def kubeconfig_doc(name: str, server: str, ca: Path, cert: Path, key: Path) -> dict[str, Any]:
    """A kubeconfig with inline data, so it stays valid when copied elsewhere."""
    import base64

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": f"{name}-admin", "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
    }


@dataclasses.dataclass
class LocalCluster:
    """One sandbox cluster. Use as a context manager or call start()/stop().

    Args:
        profile: blue or green shape (pod CIDR, node pools, labels).
        state_dir: private directory for this cluster (created; removed by stop(cleanup=True)).
        nodes: kwok nodes to register (3 to 1,000).
    """

    profile: ClusterProfile
    state_dir: Path
    nodes: int = 3
    audit: bool = False  # write an API audit log (audit.log): lets tests prove which requests a client sent
    # Bearer tokens the API server accepts besides the client certificates (a static token file):
    # token → (user name, groups). Lets tests authenticate as an extra, RBAC-bound identity, the way an
    # exec plugin's tokens are accepted on AKS; RBAC for that identity is the test's to bind.
    tokens: Mapping[str, tuple[str, tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)
    port: int = 0

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.state_dir / "logs" / f"{name}.log", "ab")
        self.procs[name] = spawn_owned(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.state_dir)
        log.close()

    def _check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                tail = (self.state_dir / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
                raise SandboxError(f"{self.name}: {name} exited with {p.returncode}; log "
                                   f"{self.state_dir / 'logs' / (name + '.log')}:\n" + "\n".join(tail))

    def _wait(self, what: str, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if check():
                return
            time.sleep(0.2)
        raise SandboxError(f"{self.name}: timed out after {timeout:.0f}s waiting for {what}; logs in {self.state_dir / 'logs'}")

    def start(self, timeout: float = 120.0) -> LocalCluster:
        """Start every process, register kwok nodes and wait until the cluster is usable.

        Raises:
            SandboxError: a binary is missing, a process died, or readiness timed out.
        """
        if not 3 <= self.nodes <= 1000:
            raise SandboxError(f"{self.name}: nodes must be between 3 and 1000, got {self.nodes}")
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        (self.state_dir / "logs").mkdir(parents=True)
        t0 = time.monotonic()
        p = pki.generate(self.state_dir / "pki")
        etcd_port, peer_port, self.port = free_port(), free_port(), free_port()
        server = self.server
        for who in ("admin", "controller-manager", "scheduler"):
            doc = kubeconfig_doc(self.name, server, p.ca_crt, self.state_dir / "pki" / f"{who}.crt",
                                 self.state_dir / "pki" / f"{who}.key")
            target = self.kubeconfig if who == "admin" else self.state_dir / f"{who}.kubeconfig"
            target.touch(mode=0o600)
            target.write_text(yaml.safe_dump(doc))

        self._spawn("etcd", [
            binary("etcd"), "--name=default", f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}", f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            # A sandbox loses nothing worth an fsync; without it etcd writes are 10× faster on this disk.
            "--unsafe-no-fsync", "--quota-backend-bytes=8589934592", "--log-level=warn",
        ])
        audit_args: list[str] = []
        if self.audit:
            policy = self.state_dir / "audit-policy.yaml"
            policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
                              "rules:\n- level: None\n  userGroups: ['system:nodes']\n"
                              "- level: None\n  users: ['system:kube-scheduler', 'system:kube-controller-manager']\n"
                              "- level: None\n  userGroups: ['system:serviceaccounts:kube-system']\n"
                              "- level: Metadata\n")
            audit_args = [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
                          "--audit-log-mode=blocking"]
        token_args: list[str] = []
        if self.tokens:
            token_file = self.state_dir / "tokens.csv"
            token_file.touch(mode=0o600)
            # token,user,uid,"group1,group2" — kube-apiserver's static token file format
            token_file.write_text("".join(f'{token},{user},{user},"{",".join(groups)}"\n'
                                          for token, (user, groups) in self.tokens.items()))
            token_args = [f"--token-auth-file={token_file}"]
        self._spawn("kube-apiserver", [
            binary("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--tls-cert-file={p.serving_crt}", f"--tls-private-key-file={p.serving_key}", f"--client-ca-file={p.ca_crt}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p.sa_pub}", f"--service-account-signing-key-file={p.sa_key}",
            f"--service-cluster-ip-range={self.profile.service_cidr}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,"
            "DefaultTolerationSeconds,ResourceQuota,PodSecurity,Priority,MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
            "--allow-privileged=true", "--profiling=false", "--event-ttl=30m",
            # Generous in-flight limits: benchmarks drive many concurrent writes from one client.
            "--max-requests-inflight=1000", "--max-mutating-requests-inflight=500",
            *audit_args, *token_args,
        ])
        admin = KubeClient.from_kubeconfig(self.kubeconfig, max_connections=16)
        try:
            self._wait("kube-apiserver /readyz", admin.ready, timeout)
            self._spawn("kube-controller-manager", [
                binary("kube-controller-manager"), f"--kubeconfig={self.state_dir / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.state_dir / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.state_dir / 'controller-manager.kubeconfig'}",
                f"--service-account-private-key-file={p.sa_key}", f"--root-ca-file={p.ca_crt}",
                f"--cluster-signing-cert-file={p.ca_crt}", f"--cluster-signing-key-file={p.ca_key}",
                "--use-service-account-credentials=true", "--leader-elect=false",
                "--bind-address=127.0.0.1", "--secure-port=0",
                "--allocate-node-cidrs=true", f"--cluster-cidr={self.profile.pod_cidr}",
                f"--node-cidr-mask-size={self.profile.node_cidr_mask(self.nodes)}",
                f"--service-cluster-ip-range={self.profile.service_cidr}",
                "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--kube-api-qps=200", "--kube-api-burst=400",
            ])
            self._spawn("kube-scheduler", [
                binary("kube-scheduler"), f"--kubeconfig={self.state_dir / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={self.state_dir / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={self.state_dir / 'scheduler.kubeconfig'}",
                "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
            ])
            kwok_config = ["apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n"
                           "  nodeLeaseParallelism: 4\n  podPlayStageParallelism: 8\n"
                           "  nodePlayStageParallelism: 4\n  podsOnNodeSyncParallelism: 4\n"]
            kwok_config += [f.read_text() for f in sorted(build.asset_dir("kwok").glob("*.yaml"))]
            (self.state_dir / "kwok.yaml").write_text("\n---\n".join(kwok_config))
            self._spawn("kwok", [
                binary("kwok"), f"--kubeconfig={self.kubeconfig}", f"--config={self.state_dir / 'kwok.yaml'}",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--server-address=127.0.0.1:{free_port()}", "--node-lease-duration-seconds=40",
                f"--cidr={self.profile.pod_cidr.split('/')[0]}/24",
            ])
            self._register_nodes(admin)
            self._wait("the default ServiceAccount", lambda: _exists(admin, "/api/v1/namespaces/default/serviceaccounts/default"), timeout)
            self._wait(f"{self.nodes} Ready nodes", lambda: ready_nodes(admin) >= self.nodes, timeout)
            install_aks_kube_system(admin, self.profile)
        finally:
            admin.close()
        self._write_state(time.monotonic() - t0)
        return self

    def _register_nodes(self, client: KubeClient) -> None:
        def create(node: dict[str, Any]) -> None:
            try:
                client.create(node)
            except ApiError as e:
                if e.status != 409:
                    raise
        with cf.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, node_objects(self.profile, self.nodes)))

    def _write_state(self, seconds: float) -> None:
        (self.state_dir / "state.json").write_text(json.dumps({
            "name": self.name, "server": self.server, "kubeconfig": str(self.kubeconfig), "nodes": self.nodes,
            "pod_cidr": self.profile.pod_cidr, "pids": {k: v.pid for k, v in self.procs.items()},
            "start_seconds": round(seconds, 1),
        }, indent=2))

    def stop(self, cleanup: bool = True, timeout: float = 15.0) -> None:
        """Stop the processes in reverse start order (SIGTERM, then SIGKILL) and remove the state dir."""
        for name in reversed(list(self.procs)):
            p = self.procs[name]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()
        if cleanup:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory of each process (for the docs' measurements)."""
        out = {}
        for name, p in self.procs.items():
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[name] = int(line.split()[1]) * 1024
            except FileNotFoundError:
                pass
        return out

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


AKS_DIR = Path(__file__).parent / "aks"
AKS_FIELD_MANAGER = "addon-manager"  # the manager the corpus gives what AKS's add-on manager wrote


def aks_kube_system(profile: ClusterProfile) -> list[dict[str, Any]]:
    """The kube-system stand-ins of what AKS installs on a cluster of this profile (none for blue).

    Raises:
        SandboxError: the profile names a file that is missing or not YAML.
    """
    if profile.aks_kube_system is None:
        return []
    path = AKS_DIR / profile.aks_kube_system
    try:
        return [o for o in yaml.safe_load_all(path.read_text()) if o]
    except (OSError, yaml.YAMLError) as e:
        raise SandboxError(f"{profile.name}: cannot read its AKS stand-ins {path} ({e})") from e


def install_aks_kube_system(client: KubeClient, profile: ClusterProfile) -> None:
    """Create the profile's AKS stand-ins in kube-system (server-side apply, AKS's add-on manager as manager).

    Why: the sandbox's green stands for a new AKS cluster, which holds CoreDNS, Cilium, azure-cns… before
    anything is migrated into it; verify accounts for the source's AKS-managed objects only when the target
    really has its own, so a green without them would make every such exclusion a gap.
    """
    for obj in aks_kube_system(profile):
        client.apply(obj, field_manager=AKS_FIELD_MANAGER)


def _exists(client: KubeClient, path: str) -> bool:
    try:
        client.get(path)
        return True
    except ApiError:
        return False


def ready_nodes(client: KubeClient) -> int:
    nodes = client.get("/api/v1/nodes").get("items", [])
    return sum(
        1 for n in nodes
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in n.get("status", {}).get("conditions", []))
    )
