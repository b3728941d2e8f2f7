"""What a valid stack will really run, in words: the defaults and fallbacks resolved.

Why it exists: several keys are intent, not outcome — ``dns.nodeCache: auto``
picks LocalDNS, NodeLocal DNSCache or nothing; an unset
``kubernetesVersion`` is AKS's default; ``outboundType`` decides which egress
resources exist. A reviewer reading ``akshift config validate`` must see the
outcome (the issue that prompted this: a test stack "ran LocalDNS" that was
never installed). Pure, no Pulumi, so the CLI answers without it.
"""
from __future__ import annotations

from stacks import capabilities, versions
from stacks.model import ExistingCluster, NetworkingMode, NewCluster, NodeDnsCache, StackConfig

_MODE_WORDS = {
    NetworkingMode.OVERLAY_CILIUM: "Azure CNI Overlay with the AKS-managed Cilium dataplane (no kube-proxy)",
    NetworkingMode.OVERLAY: "Azure CNI Overlay with the Azure dataplane (kube-proxy)",
    NetworkingMode.PODSUBNET_CILIUM: "Azure CNI with pods in network.podSubnet and the Cilium dataplane",
    NetworkingMode.BYO_CILIUM: "no AKS CNI; Cilium OSS installed by the stack (kube-proxy replacement)",
    NetworkingMode.KUBENET: "kubenet (adopted live cluster; move it with `akshift strategy`)",
}


def node_dns_line(cfg: StackConfig) -> str:
    """The node DNS path each pool really gets."""
    if isinstance(cfg.cluster, ExistingCluster):
        cache = NodeDnsCache.NODELOCALDNS if cfg.dns.node_cache is NodeDnsCache.NODELOCALDNS else NodeDnsCache.NONE
        return ("NodeLocal DNSCache DaemonSet" if cache is NodeDnsCache.NODELOCALDNS else
                "none (pods query CoreDNS; LocalDNS belongs to the pools of whoever created the cluster)")
    cache = capabilities.resolve_node_dns_cache(cfg.dns.node_cache, cfg.networking.mode,
                                                cfg.cluster.kubernetes_version, cfg.node_pools)
    linux = [p.name for p in cfg.node_pools if p.os_type == "Linux"]
    windows = [p.name for p in cfg.node_pools if p.os_type == "Windows"]
    if cache is NodeDnsCache.LOCALDNS:
        text = f"AKS LocalDNS ({cfg.dns.local_dns_mode}) on pools {', '.join(linux)}"
    else:
        variant = "Cilium local redirect policy" if cfg.networking.mode.runs_cilium else "iptables"
        what = (f"NodeLocal DNSCache DaemonSet ({variant})" if cache is NodeDnsCache.NODELOCALDNS
                else "no node cache: pods query CoreDNS directly")
        text = f"{what}; LocalDNS sent Disabled on pools {', '.join(linux)}"
    if cfg.dns.node_cache is NodeDnsCache.AUTO:
        text += " (dns.nodeCache auto)"
    if windows:
        text += f"; Windows pools {', '.join(windows)}: CoreDNS only"
    return text


def baseline_lines(c: NewCluster) -> list[tuple[str, str]]:
    """The production baseline a new cluster gets: sign-in, API server exposure, monitoring, add-ons."""
    entra = c.entra_id
    if entra.enabled:
        access = (f"Entra ID with {'Azure RBAC' if entra.azure_rbac else 'Kubernetes RBAC'}; local accounts "
                  f"{'disabled' if c.disable_local_accounts else 'ENABLED (certificate users are cluster admins)'}; "
                  f"kubeconfig output: kubelogin exec (--login {entra.kubelogin_login})")
    else:
        access = "local accounts only: the kubeconfig output holds a certificate as powerful as the admin's"
    api = c.api_server
    exposure = ("private cluster (private endpoint in the VNet)" if api.private_cluster else
                f"public, limited to {', '.join(map(str, api.authorized_ip_ranges))}" if api.authorized_ip_ranges else
                "public to the internet (no authorized IP ranges)")
    mon = c.monitoring
    if mon is None:
        monitoring = "none (no workspace, no Container Insights, no resource logs)"
    else:
        parts = [f"Log Analytics workspace ({mon.retention_days} days)"]
        if mon.container_insights:
            parts.append("Container Insights")
        if mon.diagnostic_categories:
            parts.append("logs " + ", ".join(mon.diagnostic_categories))
        monitoring = "; ".join(parts)
    addons = [name for name, on in (("Defender", c.defender), ("Azure Policy", c.azure_policy),
                                    ("Image Cleaner", c.image_cleaner.enabled),
                                    ("Key Vault secrets provider", c.key_vault_secrets_provider.enabled)) if on]
    return [("access", access), ("API server", exposure), ("monitoring", monitoring),
            ("security add-ons", ", ".join(addons) or "none")]


def describe(cfg: StackConfig) -> list[tuple[str, str]]:
    """``(topic, what really runs)`` for a valid stack, in review order.

    Args:
        cfg: A configuration :func:`stacks.load` accepted.

    Returns:
        Lines such as ``("node DNS", "AKS LocalDNS (Required) on pools system, apps")``.
    """
    c = cfg.cluster
    out: list[tuple[str, str]] = []
    if isinstance(c, ExistingCluster):
        out.append(("kubernetes", f"{c.kubernetes_version} (checked against the live cluster before deploying)"))
    elif c.kubernetes_version is None:
        minor = versions.aks_default(versions.today())
        out.append(("kubernetes", f"AKS's default (about {minor[0]}.{minor[1]} today); upgrade channel {c.upgrade_channel}"))
    else:
        row = versions.release(versions.minor_of(c.kubernetes_version))
        until = row.lts_end if row and c.support_plan == versions.LTS_PLAN else (row.end_of_life if row else None)
        drift = (f"; upgrade channel {c.upgrade_channel} moves the live version ahead on its own and the stack keeps it"
                 if c.upgrade_channel in ("patch", "stable", "rapid") else "")
        out.append(("kubernetes", f"{c.kubernetes_version}, supported until {until} ({c.support_plan}){drift}"))
    n = cfg.networking
    pods = f"pods {n.pod_cidr}" if n.pod_cidr is not None else "pods in network.podSubnet"
    out.append(("networking", f"{_MODE_WORDS[n.mode]}; policy {n.effective_network_policy}; {pods}, services "
                              f"{n.service_cidr}"))
    if not isinstance(c, ExistingCluster) and cfg.network is not None:
        if n.outbound_type == "userAssignedNATGateway" and cfg.network.nat_gateway is not None:
            nat = cfg.network.nat_gateway
            egress = (f"NAT gateway with {nat.public_ip_count} static public IP(s) on the node"
                      f"{' and pod' if cfg.network.pod_subnet else ''} subnet")
        elif n.outbound_type == "userDefinedRouting" and cfg.network.route_table is not None:
            egress = f"route table: 0.0.0.0/0 to the firewall at {cfg.network.route_table.firewall_ip}"
        else:
            egress = "the cluster load balancer's outbound rules (SNAT)"
        out.append(("egress", egress + "; no default outbound access"))
    out.append(("node DNS", node_dns_line(cfg)))
    if not isinstance(c, ExistingCluster):
        out += baseline_lines(c)
    if not isinstance(c, ExistingCluster) and cfg.resource_group is not None:
        group = cfg.disk_copies.group_for(cfg.resource_group)
        out.append(("disk copies", f"resource group {group}, protect {'on' if cfg.disk_copies.protect else 'off'} "
                                   "(`akshift volumes --target-resource-group` reads output diskCopyResourceGroup)"))
    out.append(("protect", "on: `pulumi destroy` and replacements are refused" if c.protect else "off (disposable)"))
    return out
