"""Pure builders of the in-cluster add-ons: Cilium OSS Helm values and NodeLocal DNSCache objects.

Why it exists: the add-ons a networking mode needs are data (Helm values,
Kubernetes manifests). Building them here as plain dicts keeps
:mod:`components.cilium` and :mod:`components.node_local_dns` to a few lines of
resource wiring, and lets tests read the Corefile and DaemonSet without Pulumi.

NodeLocal DNSCache comes in two variants (after the upstream manifest,
kubernetes/kubernetes ``cluster/addons/dns/nodelocaldns``, and Cilium's
"Node-local DNS cache" Local Redirect Policy guide):

* ``iptables`` — kube-proxy in iptables mode (networking mode ``overlay``):
  node-cache runs in the host network, binds the link-local IP *and* the
  kube-dns service IP, and installs NOTRACK rules so queries skip conntrack.
* ``cilium-lrp`` — Cilium with kube-proxy replacement (``byo-cilium``): eBPF
  handles service IPs before iptables, so interception is done by a
  ``CiliumLocalRedirectPolicy`` steering the kube-dns service to the node's
  cache pod, which runs in the pod network and binds 0.0.0.0.

Nothing here imports Pulumi; values wired from other resources (the API server
host) are passed through untouched.
"""
from __future__ import annotations

from typing import Any, Literal

from stacks.model import NetworkingConfig

Variant = Literal["iptables", "cilium-lrp"]

NAMESPACE = "kube-system"
APP_LABEL = {"k8s-app": "node-local-dns"}
UPSTREAM_SERVICE = "kube-dns-upstream"


def cilium_values(networking: NetworkingConfig, api_server_host: Any, *, local_redirect_policies: bool) -> dict[str, Any]:
    """Helm values for Cilium OSS on an AKS cluster created with ``networkPlugin: none``.

    Args:
        networking: The ``networking`` section (mode byo-cilium, podCidr set).
        api_server_host: The cluster's API server FQDN (may be an Output). With
            kube-proxy replacement Cilium cannot reach the API through the
            ``kubernetes`` service it is about to implement, so it needs the host.
        local_redirect_policies: Enable CiliumLocalRedirectPolicy (for NodeLocal DNSCache).

    Returns:
        The values mapping.
    """
    return {
        "aksbyocni": {"enabled": True},
        "kubeProxyReplacement": True,
        "k8sServiceHost": api_server_host,
        "k8sServicePort": 443,
        "ipam": {
            "mode": "cluster-pool",
            "operator": {
                "clusterPoolIPv4PodCIDRList": [str(networking.pod_cidr)],
                # One /24 per node, the same arithmetic stacks.rules checks the pod CIDR against.
                "clusterPoolIPv4MaskSize": 24,
            },
        },
        "localRedirectPolicies": {"enabled": local_redirect_policies},
        "operator": {"replicas": 2},
        "hubble": {"enabled": True, "relay": {"enabled": True}},
    }


def corefile(variant: Variant, *, local_ip: str, kube_dns_ip: str, cluster_domain: str = "cluster.local") -> str:
    """The node-cache Corefile.

    ``__PILLAR__CLUSTER__DNS__`` and ``__PILLAR__UPSTREAM__SERVERS__`` stay as
    they are: node-cache fills them in at start-up from ``-upstreamsvc`` and the
    node's resolv.conf.

    Args:
        variant: ``iptables`` or ``cilium-lrp``.
        local_ip: The link-local address of the cache (iptables variant).
        kube_dns_ip: ``networking.dnsServiceIP``.
        cluster_domain: The cluster DNS domain.

    Returns:
        Corefile text.
    """
    bind = f"{local_ip} {kube_dns_ip}" if variant == "iptables" else "0.0.0.0"
    health = f"{local_ip}:8080" if variant == "iptables" else ":8080"

    def zone(name: str, cache: str, forward: str, extra: str = "") -> str:
        return (
            f"{name}:53 {{\n"
            "    errors\n"
            f"    {cache}\n"
            "    reload\n"
            "    loop\n"
            f"    bind {bind}\n"
            f"    {forward}\n"
            "    prometheus :9253\n"
            f"{extra}"
            "}\n"
        )

    to_cluster = "forward . __PILLAR__CLUSTER__DNS__ {\n        force_tcp\n    }"
    return "".join(
        [
            zone(
                cluster_domain,
                "cache {\n        success 9984 30\n        denial 9984 5\n    }",
                to_cluster,
                f"    health {health}\n",
            ),
            zone("in-addr.arpa", "cache 30", to_cluster),
            zone("ip6.arpa", "cache 30", to_cluster),
            zone(".", "cache 30", "forward . __PILLAR__UPSTREAM__SERVERS__"),
        ]
    )


def node_local_dns_objects(
    variant: Variant,
    *,
    kube_dns_ip: str,
    image: str,
    local_ip: str = "169.254.20.10",
    cluster_domain: str = "cluster.local",
) -> list[dict[str, Any]]:
    """The Kubernetes objects of NodeLocal DNSCache, in apply order.

    Args:
        variant: ``iptables`` or ``cilium-lrp`` (see the module docstring).
        kube_dns_ip: ``networking.dnsServiceIP``.
        image: ``dns.nodeLocalDnsImage``.
        local_ip: The link-local address the cache listens on (iptables variant).
        cluster_domain: The cluster DNS domain.

    Returns:
        Manifests as dicts (apiVersion, kind, metadata, and spec or data).
    """
    meta = lambda name, **extra: {"name": name, "namespace": NAMESPACE, **extra}  # noqa: E731
    iptables = variant == "iptables"
    args = ["-localip", f"{local_ip},{kube_dns_ip}" if iptables else kube_dns_ip, "-conf", "/etc/Corefile",
            "-upstreamsvc", UPSTREAM_SERVICE]
    if not iptables:
        args += ["-skipteardown=true", "-setupinterface=false", "-setupiptables=false"]
    probe: dict[str, Any] = {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 60, "timeoutSeconds": 5}
    if iptables:
        probe["httpGet"]["host"] = local_ip
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta("node-local-dns", labels={"kubernetes.io/cluster-service": "true"}),
        },
        {
            # A second service in front of CoreDNS: the cache forwards here, so its own
            # queries are not intercepted by itself (iptables NOTRACK rules / the LRP).
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(UPSTREAM_SERVICE, labels={"k8s-app": "kube-dns"}),
            "spec": {
                "selector": {"k8s-app": "kube-dns"},
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("node-local-dns"),
            "data": {"Corefile": corefile(variant, local_ip=local_ip, kube_dns_ip=kube_dns_ip, cluster_domain=cluster_domain)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": meta("node-local-dns", labels=dict(APP_LABEL)),
            "spec": {
                "selector": {"matchLabels": dict(APP_LABEL)},
                "updateStrategy": {"rollingUpdate": {"maxUnavailable": "10%"}},
                "template": {
                    "metadata": {"labels": dict(APP_LABEL), "annotations": {"prometheus.io/port": "9253", "prometheus.io/scrape": "true"}},
                    "spec": {
                        "priorityClassName": "system-node-critical",
                        "serviceAccountName": "node-local-dns",
                        "hostNetwork": iptables,
                        "dnsPolicy": "Default",
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                        "tolerations": [
                            {"key": "CriticalAddonsOnly", "operator": "Exists"},
                            {"effect": "NoExecute", "operator": "Exists"},
                            {"effect": "NoSchedule", "operator": "Exists"},
                        ],
                        "containers": [
                            {
                                "name": "node-cache",
                                "image": image,
                                "args": args,
                                "resources": {"requests": {"cpu": "25m", "memory": "5Mi"}},
                                "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
                                "ports": [
                                    {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                                    {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                                    {"containerPort": 9253, "name": "metrics", "protocol": "TCP"},
                                ],
                                "livenessProbe": probe,
                                "volumeMounts": [
                                    {"mountPath": "/run/xtables.lock", "name": "xtables-lock", "readOnly": False},
                                    {"name": "config-volume", "mountPath": "/etc/coredns"},
                                    {"name": "kube-dns-config", "mountPath": "/etc/kube-dns"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                            {"name": "kube-dns-config", "configMap": {"name": "kube-dns", "optional": True}},
                            {
                                "name": "config-volume",
                                "configMap": {"name": "node-local-dns", "items": [{"key": "Corefile", "path": "Corefile.base"}]},
                            },
                        ],
                    },
                },
            },
        },
    ]
    if not iptables:
        objects.append(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumLocalRedirectPolicy",
                "metadata": meta("node-local-dns"),
                "spec": {
                    "redirectFrontend": {"serviceMatcher": {"serviceName": "kube-dns", "namespace": NAMESPACE}},
                    "redirectBackend": {
                        "localEndpointSelector": {"matchLabels": dict(APP_LABEL)},
                        "toPorts": [
                            {"port": "53", "name": "dns", "protocol": "UDP"},
                            {"port": "53", "name": "dns-tcp", "protocol": "TCP"},
                        ],
                    },
                },
            }
        )
    return objects
