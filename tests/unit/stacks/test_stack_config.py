"""The stack configuration: shipped stacks are valid, and each bad input is named with what to do.

Each case of :data:`CASES` mutates the shipped ``test`` stack in one way and
states the key path and the words the problem must carry. The loader, the
rules, the JSON schema, the node-DNS resolution and the networking-mode guard
are all pure, so nothing here needs Pulumi.
"""
from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest

import stacks
from stacks import capabilities, guards, versions
from stacks.model import NetworkingMode, NodeDnsCache, Secret
from stacks.schema import SCHEMA_FILE, render_schema, stack_file_schema

from support import ROOT
from support.stack_files import DELETE, mutate, stack_config

TRAFFIC = {"profileName": "shop-switch", "endpoints": [{"name": "blue", "target": "20.1.2.3"},
                                                     {"name": "green", "target": "green.shop.example.com"}],
           "weights": {"blue": 100, "green": 0}}


def problems(config: dict[str, Any], **kwargs: Any) -> list[stacks.Problem]:
    return stacks.problems_of(config, **kwargs)


WINDOWS_POOL = {"name": "win", "osType": "Windows", "vmSize": "Standard_D4ds_v5", "count": 1}
PODSUBNET = {
    "networking.mode": "podsubnet-cilium",
    "networking.podCidr": DELETE,
    "network.podSubnet": {"name": "snet-aks-pods", "cidr": "10.20.64.0/18"},
}
SERVICE_PRINCIPAL = {
    "mode": "servicePrincipal",
    "allowServicePrincipal": True,
    "clientId": "11111111-1111-1111-1111-111111111111",
    "objectId": "22222222-2222-2222-2222-222222222222",
    "secretExpiresOn": "2027-03-01",
}

# id → (changes to the shipped test stack, expected key path, words the message must contain)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    # --- address plan
    "pod CIDR overlapping the VNet": ({"networking.podCidr": "10.20.0.0/16"}, "networking.podCidr", "overlaps network.addressSpace 10.20.0.0/16; the pod range must be outside the VNet"),
    "service CIDR overlapping the VNet": ({"networking.serviceCidr": "10.20.128.0/17", "networking.dnsServiceIP": "10.20.128.10"}, "networking.serviceCidr", "overlaps network.addressSpace"),
    "service CIDR overlapping the pod CIDR": ({"networking.serviceCidr": "10.244.0.0/20", "networking.dnsServiceIP": "10.244.0.10"}, "networking.serviceCidr", "overlaps networking.podCidr 10.244.0.0/16; give services and pods separate ranges"),
    "node subnet outside the VNet": ({"network.nodeSubnet.cidr": "10.30.0.0/24"}, "network.nodeSubnet.cidr", "is outside network.addressSpace 10.20.0.0/16; pick a subnet range inside it"),
    "pod subnet overlapping the node subnet": ({**PODSUBNET, "network.podSubnet.cidr": "10.20.0.0/23"}, "network.podSubnet.cidr", "overlaps network.nodeSubnet.cidr"),
    "DNS service IP outside the service CIDR": ({"networking.dnsServiceIP": "10.99.0.10"}, "networking.dnsServiceIP", "outside networking.serviceCidr 10.21.0.0/16; use an address inside it, conventionally 10.21.0.10"),
    "DNS service IP on the kubernetes service address": ({"networking.dnsServiceIP": "10.21.0.1"}, "networking.dnsServiceIP", "taken by the kubernetes API service"),
    "DNS service IP on the network address": ({"networking.dnsServiceIP": "10.21.0.0"}, "networking.dnsServiceIP", "network or broadcast address"),
    "VNet in 172.31.0.0/16": ({"network.addressSpace": "172.31.0.0/16", "network.nodeSubnet.cidr": "172.31.0.0/22"}, "network.addressSpace", "overlaps 172.31.0.0/16 (used by AKS internally); pick a range outside 169.254.0.0/16, 172.30.0.0/16"),
    "VNet in 172.30.0.0/16": ({"network.addressSpace": "172.30.0.0/16", "network.nodeSubnet.cidr": "172.30.0.0/22"}, "network.addressSpace", "overlaps 172.30.0.0/16"),
    "pod CIDR in link-local space": ({"networking.podCidr": "169.254.0.0/16"}, "networking.podCidr", "overlaps 169.254.0.0/16 (link-local"),
    "service CIDR in TEST-NET-1": ({"networking.serviceCidr": "192.0.2.0/24", "networking.dnsServiceIP": "192.0.2.10"}, "networking.serviceCidr", "overlaps 192.0.2.0/24"),
    "service CIDR wider than Kubernetes allows": ({"networking.serviceCidr": "10.64.0.0/10", "networking.dnsServiceIP": "10.64.0.10"}, "networking.serviceCidr", "larger than Kubernetes allows (at most a /12)"),
    "pod CIDR smaller than one node block": ({"networking.podCidr": "10.244.0.0/25"}, "networking.podCidr", "smaller than one node's /24 pod block"),
    "CIDR with host bits": ({"network.addressSpace": "10.20.0.1/16"}, "network.addressSpace", "has host bits set; did you mean 10.20.0.0/16?"),
    "IPv6 CIDR": ({"networking.podCidr": "fd00::/48"}, "networking.podCidr", "is IPv6; only IPv4"),
    "CIDR without a prefix": ({"networking.serviceCidr": "10.21.0.0"}, "networking.serviceCidr", "is not a CIDR"),
    "DNS service IP that is not an address": ({"networking.dnsServiceIP": "ten.0.0.10"}, "networking.dnsServiceIP", "not an IPv4 address"),
    # --- capacity
    "node subnet too small for the pools": ({"network.nodeSubnet.cidr": "10.20.0.0/29"}, "network.nodeSubnet.cidr", "has 3 usable addresses but the pools may run 6 nodes (max nodes + upgrade surge); use a /28 or larger"),
    "pod subnet too small for max nodes × max pods": ({**PODSUBNET, "network.podSubnet.cidr": "10.20.64.0/24"}, "network.podSubnet.cidr", "max nodes × max pods needs 660 (2×110 + 4×110); use a /22 or larger"),
    "pod CIDR with too few node blocks": ({"networking.podCidr": "10.244.0.0/22"}, "networking.podCidr", "gives 4 per-node /24 blocks but the pools may run 6 nodes; use a /21 or larger"),
    # --- modes
    "Cilium dataplane with Calico policy": ({"networking.networkPolicy": "calico"}, "networking.networkPolicy", "requires networkPolicy cilium"),
    "Cilium dataplane with no policy engine": ({"networking.networkPolicy": "none"}, "networking.networkPolicy", "requires networkPolicy cilium"),
    "Cilium policy on the Azure dataplane": ({"networking.mode": "overlay"}, "networking.networkPolicy", "networkPolicy cilium needs the Cilium dataplane; use mode overlay-cilium"),
    "Calico policy with Cilium OSS": ({"networking.mode": "byo-cilium", "networking.networkPolicy": "calico"}, "networking.networkPolicy", "Cilium OSS enforces NetworkPolicy itself"),
    "pod-subnet mode without a pod subnet": ({"networking.mode": "podsubnet-cilium", "networking.podCidr": DELETE}, "network.podSubnet", "gives pods addresses from a dedicated subnet; add network.podSubnet"),
    "pod-subnet mode with a pod CIDR": ({**PODSUBNET, "networking.podCidr": "10.244.0.0/16"}, "networking.podCidr", "not used by networking mode podsubnet-cilium"),
    "pod subnet in overlay mode": ({"network.podSubnet": {"name": "pods", "cidr": "10.20.64.0/18"}}, "network.podSubnet", "only used by networking mode podsubnet-cilium; remove it"),
    "overlay mode without a pod CIDR": ({"networking.podCidr": DELETE}, "networking.podCidr", "required by networking mode overlay-cilium"),
    "kube-proxy settings with Cilium": ({"networking.kubeProxy": {"mode": "IPVS"}}, "networking.kubeProxy", "runs without kube-proxy (Cilium replaces it)"),
    "kube-proxy settings the API version cannot express": ({"networking.mode": "overlay", "networking.networkPolicy": "calico", "networking.kubeProxy": {"mode": "NFTABLES"}}, "networking.kubeProxy", "has no kubeProxyConfig (preview API versions only)"),
    "IPVS scheduler without IPVS": ({"networking.mode": "overlay", "networking.networkPolicy": "calico", "networking.kubeProxy": {"mode": "IPTABLES", "ipvsScheduler": "RoundRobin"}}, "networking.kubeProxy.ipvsScheduler", "only applies to kube-proxy mode IPVS"),
    "Cilium chart settings without byo-cilium": ({"networking.cilium": {"version": "1.18.9"}}, "networking.cilium", "only used by mode byo-cilium"),
    "unknown networking mode": ({"networking.mode": "azure-cni"}, "networking.mode", "'azure-cni' is not allowed; use 'overlay-cilium', 'overlay', 'podsubnet-cilium', 'byo-cilium' or 'kubenet'"),
    "Windows pool with the Cilium dataplane": ({"nodePools[2]": WINDOWS_POOL}, "nodePools[2].osType", "Windows nodes are not supported with the Cilium dataplane"),
    "Windows pool with Cilium OSS": ({"networking.mode": "byo-cilium", "networking.networkPolicy": DELETE, "nodePools[2]": WINDOWS_POOL}, "nodePools[2].osType", "not supported with the Cilium dataplane (mode byo-cilium)"),
    # --- names and lengths
    "cluster name starting with a hyphen": ({"cluster.name": "-aks"}, "cluster.name", "'-aks' is not a valid cluster name: 1-63"),
    "cluster name longer than 63": ({"cluster.name": "a" * 64}, "cluster.name", "is not a valid cluster name"),
    "DNS prefix longer than 54": ({"cluster.dnsPrefix": "a" * 55}, "cluster.dnsPrefix", "is not a valid DNS prefix: 1-54"),
    "resource group ending with a dot": ({"resourceGroup": "rg-akshift."}, "resourceGroup", "not ending with '.'"),
    "one-character VNet name": ({"network.vnetName": "v"}, "network.vnetName", "is not a valid VNet name: 2-64"),
    "subnet name with a space": ({"network.nodeSubnet.name": "aks nodes"}, "network.nodeSubnet.name", "is not a valid subnet name"),
    "node pool name with capitals": ({"nodePools[1].name": "Apps"}, "nodePools[1].name", "is not a valid node pool name: 1-12 lowercase"),
    "node pool name longer than 12": ({"nodePools[1].name": "applications1"}, "nodePools[1].name", "is not a valid node pool name"),
    "Windows pool name longer than 6": ({"networking.mode": "overlay", "networking.networkPolicy": "calico", "nodePools[2]": {**WINDOWS_POOL, "name": "windows"}}, "nodePools[2].name", "too long for a Windows pool (at most 6 characters)"),
    "duplicate pool names": ({"nodePools[1].name": "system"}, "nodePools[1].name", "'system' is already used by nodePools[0]"),
    "VM size that is not one": ({"nodePools[1].vmSize": "D4ds_v5"}, "nodePools[1].vmSize", "is not an Azure VM size, such as Standard_D4ds_v5"),
    "region with spaces": ({"location": "West Europe"}, "location", "is not an Azure region name"),
    "Kubernetes version YAML reads as a number": ({"cluster.kubernetesVersion": 1.3}, "cluster.kubernetesVersion", "must be a quoted string such as \"1.34\""),
    "Kubernetes version that is not one": ({"cluster.kubernetesVersion": "latest"}, "cluster.kubernetesVersion", "is not a Kubernetes version"),
    "taint without an effect": ({"nodePools[1].nodeTaints": ["dedicated=gpu"]}, "nodePools[1].nodeTaints[0]", "is not a taint key=value:Effect"),
    "zone 4": ({"nodePools[1].zones": ["1", 4]}, "nodePools[1].zones[1]", "4 is not an availability zone"),
    "max surge above 100%": ({"nodePools[1].maxSurge": "150%"}, "nodePools[1].maxSurge", "is not a max surge"),
    "Windows OS SKU on a Linux pool": ({"nodePools[1].osSku": "Windows2022"}, "nodePools[1].osSku", "does not match osType Linux"),
    # --- node counts
    "minCount above maxCount": ({"nodePools[1].autoscaling": {"minCount": 5, "maxCount": 3}}, "nodePools[1].autoscaling.minCount", "minCount 5 is above maxCount 3; lower minCount or raise maxCount"),
    "count and autoscaling together": ({"nodePools[1].count": 2}, "nodePools[1].count", "set either count or autoscaling, not both"),
    "neither count nor autoscaling": ({"nodePools[1].autoscaling": DELETE}, "nodePools[1].count", "set count (fixed size) or autoscaling"),
    "System pool with zero nodes": ({"nodePools[0].count": 0}, "nodePools[0].count", "keep at least 1 node"),
    "System pool autoscaling from zero": ({"nodePools[0].count": DELETE, "nodePools[0].autoscaling": {"minCount": 0, "maxCount": 3}}, "nodePools[0].autoscaling.minCount", "keep at least 1 node"),
    "maxCount above the AKS limit": ({"nodePools[1].autoscaling.maxCount": 1001}, "nodePools[1].autoscaling.maxCount", "must be at most 1000; got 1001"),
    "negative count": ({"nodePools[0].count": -1}, "nodePools[0].count", "must be at least 0; got -1"),
    "maxPods above 250": ({"nodePools[1].maxPods": 300}, "nodePools[1].maxPods", "must be at most 250; got 300"),
    "first pool not a System pool": ({"nodePools[0].mode": "User"}, "nodePools[0].mode", "the first pool is created with the cluster and must be a System pool"),
    "Windows System pool": ({"networking.mode": "overlay", "networking.networkPolicy": "calico", "nodePools[0].osType": "Windows", "nodePools[0].name": "sys"}, "nodePools[0].osType", "System pools must run Linux"),
    "no node pools": ({"nodePools": []}, "nodePools", "needs at least 1 item(s); add one"),
    # --- cluster, DNS, identity, tags
    "maintenance window without an upgrade channel": ({"cluster.upgradeChannel": "none", "cluster.maintenance": {"autoUpgrade": {"dayOfWeek": "Sunday", "startTime": "02:00"}}}, "cluster.maintenance.autoUpgrade", "has no effect with upgradeChannel none"),
    "node OS window with an unmanaged channel": ({"cluster.nodeOsUpgradeChannel": "Unmanaged", "cluster.maintenance": {"nodeOs": {"dayOfWeek": "Sunday", "startTime": "02:00"}}}, "cluster.maintenance.nodeOs", "has no effect with nodeOsUpgradeChannel Unmanaged"),
    "maintenance window shorter than 4 hours": ({"cluster.maintenance": {"autoUpgrade": {"dayOfWeek": "Sunday", "startTime": "02:00", "durationHours": 2}}}, "cluster.maintenance.autoUpgrade.durationHours", "must be at least 4; got 2"),
    "maintenance start time that is not a time": ({"cluster.maintenance": {"autoUpgrade": {"dayOfWeek": "Sunday", "startTime": "2am"}}}, "cluster.maintenance.autoUpgrade.startTime", "is not a 24-hour time HH:MM"),
    "LocalDNS with Cilium OSS": ({"networking.mode": "byo-cilium", "networking.networkPolicy": DELETE, "dns.nodeCache": "localdns"}, "dns.nodeCache", "LocalDNS is not available: byo-cilium runs a CNI AKS does not manage"),
    "LocalDNS on an old Kubernetes": ({"cluster.kubernetesVersion": "1.31", "dns.nodeCache": "localdns"}, "dns.nodeCache", "Kubernetes 1.31 is older than 1.33"),
    "NodeLocal DNSCache with AKS-managed Cilium": ({"dns.nodeCache": "nodelocaldns"}, "dns.nodeCache", "NodeLocal DNSCache is not possible: overlay-cilium uses AKS-managed Cilium"),
    "service principal without the explicit flag": ({"identity": {**SERVICE_PRINCIPAL, "allowServicePrincipal": False}, "servicePrincipalClientSecret": {"secure": "v1:abc"}}, "identity.allowServicePrincipal", "secrets expire (typically after a year) and then PersistentVolume and LoadBalancer creation fail silently"),
    "service principal without a secret": ({"identity": SERVICE_PRINCIPAL}, "servicePrincipalClientSecret", "required with identity.mode servicePrincipal"),
    "service principal secret in plain text": ({"identity": SERVICE_PRINCIPAL, "servicePrincipalClientSecret": "hunter2"}, "servicePrincipalClientSecret", "stored in plain text; store it encrypted with `pulumi config set --secret"),
    "client secret with managed identities": ({"servicePrincipalClientSecret": {"secure": "v1:abc"}}, "servicePrincipalClientSecret", "only used with identity.mode servicePrincipal"),
    "client ID that is not a GUID": ({"identity": {**SERVICE_PRINCIPAL, "clientId": "my-app"}, "servicePrincipalClientSecret": {"secure": "v1:abc"}}, "identity.clientId", "is not a GUID"),
    "ACR scope that is not a resource ID": ({"identity.acrPullScopes": ["myregistry.azurecr.io"]}, "identity.acrPullScopes[0]", "is not a full Azure resource ID"),
    "tag using akshift's prefix": ({"tags.akshift-stack": "x"}, "tags.akshift-stack", "are set by akshift; rename the tag"),
    "tag name with a slash": ({"tags.team/name": "x"}, "tags.team/name", "without < > % & \\ ? /"),
    # --- what AKS accepts (issue 15): each rule of stacks/rules.py with the key it names
    "Kubernetes version out of community support": ({"cluster.kubernetesVersion": "1.34"}, "cluster.kubernetesVersion", "1.34 left AKS community support on 2026-11-30; use one of \"1.35\", \"1.36\", \"1.37\", or keep it until 2027-11-30 with long-term support (cluster.skuTier Premium and cluster.supportPlan AKSLongTermSupport)"),
    "Kubernetes version past its LTS too": ({"cluster.kubernetesVersion": "1.31", "cluster.skuTier": "Premium", "cluster.supportPlan": "AKSLongTermSupport"}, "cluster.kubernetesVersion", "1.31 left AKS support on 2026-11-30 (LTS included)"),
    "Kubernetes version newer than the table": ({"cluster.kubernetesVersion": "1.40"}, "cluster.kubernetesVersion", "newer than every version in akshift's supported-versions table (reviewed 2026-12-01)"),
    "long-term support without Premium": ({"cluster.kubernetesVersion": "1.34", "cluster.supportPlan": "AKSLongTermSupport"}, "cluster.supportPlan", "AKSLongTermSupport needs cluster.skuTier Premium (it is Free)"),
    "node-image channel with another node OS channel": ({"cluster.upgradeChannel": "node-image", "cluster.nodeOsUpgradeChannel": "SecurityPatch"}, "cluster.nodeOsUpgradeChannel", "upgradeChannel node-image needs nodeOsUpgradeChannel NodeImage (it is SecurityPatch)"),
    "System pool with maxPods below 30": ({"nodePools[0].maxPods": 20}, "nodePools[0].maxPods", "20 is below 30, the least AKS accepts for a System pool"),
    "System pool on a B-series VM": ({"nodePools[0].vmSize": "Standard_B4ms"}, "nodePools[0].vmSize", "Standard_B4ms is a B-series (burstable) size: too small for a System pool"),
    "System pool under 4 vCPUs": ({"nodePools[0].vmSize": "Standard_D2ds_v5"}, "nodePools[0].vmSize", "Standard_D2ds_v5 has 2 vCPU(s), fewer than 4: too small for a System pool"),
    "LocalDNS pool under 4 vCPUs": ({"nodePools[1].vmSize": "Standard_E8-2ds_v5"}, "nodePools[1].vmSize", "Standard_E8-2ds_v5 has 2 vCPU(s), fewer than 4: AKS does not run LocalDNS there"),
    "LocalDNS pool on a B-series VM": ({"nodePools[1].vmSize": "Standard_B8ms"}, "nodePools[1].vmSize", "is a B-series (burstable) size: AKS does not run LocalDNS there"),
    "LocalDNS Preferred before 1.37": ({"dns.localDnsMode": "Preferred"}, "dns.localDnsMode", "Preferred only validates the LocalDNS configuration before Kubernetes 1.37; nodes would run without a DNS cache. Use Required"),
    "Windows Server 2019 on 1.36": ({"networking.mode": "overlay", "networking.networkPolicy": "calico", "cluster.kubernetesVersion": "1.35", "nodePools[2]": {**WINDOWS_POOL, "osSku": "Windows2019"}}, "nodePools[2].osSku", "Windows2019 is retired for Kubernetes 1.35 (last: 1.32)"),
    "default Windows SKU retired for the version": ({"networking.mode": "overlay", "networking.networkPolicy": "calico", "nodePools[2]": WINDOWS_POOL}, "nodePools[2].osSku", "Windows2022 (the default osSku) is retired for Kubernetes 1.36 (last: 1.34)"),
    "managed NAT gateway on the stack's own VNet": ({"networking.outboundType": "managedNATGateway"}, "networking.outboundType", "AKS creates a managed NAT gateway only in a VNet it manages, and this stack declares its own VNet"),
    "user-assigned NAT gateway without one": ({"networking.outboundType": "userAssignedNATGateway"}, "network.natGateway", "outboundType userAssignedNATGateway needs the NAT gateway on the node subnet; add network.natGateway"),
    "NAT gateway with the load balancer outbound type": ({"network.natGateway": {"publicIpCount": 1}}, "network.natGateway", "only used with outboundType userAssignedNATGateway (it is loadBalancer)"),
    "user-defined routing without a route table": ({"networking.outboundType": "userDefinedRouting"}, "network.routeTable", "outboundType userDefinedRouting needs a route to the firewall"),
    "route table with the load balancer outbound type": ({"network.routeTable": {"firewallIp": "10.99.0.4"}}, "network.routeTable", "only used with outboundType userDefinedRouting"),
    "firewall inside the node subnet": ({"networking.outboundType": "userDefinedRouting", "network.routeTable": {"firewallIp": "10.20.0.4"}}, "network.routeTable.firewallIp", "is inside the node subnet"),
    "too many NAT gateway IPs": ({"networking.outboundType": "userAssignedNATGateway", "network.natGateway": {"publicIpCount": 17}}, "network.natGateway.publicIpCount", "must be at most 16"),
    "kubenet with Cilium policy": ({"networking.mode": "kubenet"}, "networking.networkPolicy", "kubenet clusters run networkPolicy none or calico"),
    "disk copies in the node resource group": ({"cluster.nodeResourceGroup": "rg-nodes", "diskCopies": {"resourceGroup": "rg-nodes"}}, "diskCopies.resourceGroup", "is the same group as cluster.nodeResourceGroup, which AKS deletes with the cluster"),
    "disk copies in an AKS-named node group": ({"diskCopies": {"resourceGroup": "MC_rg_aks_westeurope"}}, "diskCopies.resourceGroup", "looks like an AKS node resource group"),
    "disk copies in the cluster's group": ({"diskCopies": {"resourceGroup": "rg-akshift-test"}}, "diskCopies.resourceGroup", "is the same group as resourceGroup (the cluster's group)"),
    # --- the production baseline (issue 15 item 6): combinations AKS refuses, by key
    "local accounts disabled without Entra ID": ({"cluster.entraId": {"enabled": False}}, "cluster.disableLocalAccounts", "AKS disables local accounts only on clusters with Entra ID integration"),
    "local accounts disabled and nobody granted": ({"cluster.entraId": {"grantDeployer": False}}, "cluster.entraId.adminGroupObjectIds", "with local accounts disabled nobody could reach the cluster"),
    "Kubernetes RBAC with no admin group": ({"cluster.entraId": {"azureRbac": False}}, "cluster.entraId.adminGroupObjectIds", "nobody could reach the cluster"),
    "admin groups without Entra ID": ({"cluster.disableLocalAccounts": False, "cluster.entraId": {"enabled": False, "adminGroupObjectIds": ["11111111-1111-1111-1111-111111111111"]}}, "cluster.entraId.adminGroupObjectIds", "only used with Entra ID integration"),
    "admin group that is not a GUID": ({"cluster.entraId": {"adminGroupObjectIds": ["platform-team"]}}, "cluster.entraId.adminGroupObjectIds[0]", "is not a GUID"),
    "private cluster with authorized IP ranges": ({"cluster.apiServer": {"privateCluster": True, "authorizedIpRanges": ["198.51.100.0/24"]}}, "cluster.apiServer.authorizedIpRanges", "AKS refuses authorized IP ranges on a private cluster"),
    "authorized range that is the internet": ({"cluster.apiServer": {"authorizedIpRanges": ["0.0.0.0/0"]}}, "cluster.apiServer.authorizedIpRanges[0]", "authorizes the whole internet"),
    "authorized range that is private": ({"cluster.apiServer": {"authorizedIpRanges": ["10.0.0.0/8"]}}, "cluster.apiServer.authorizedIpRanges[0]", "is a private range, but the API server's public endpoint only sees public source addresses"),
    "more authorized ranges than AKS takes": ({"cluster.apiServer": {"authorizedIpRanges": [f"198.{i // 256}.{i % 256}.0/24" for i in range(201)]}}, "cluster.apiServer.authorizedIpRanges", "AKS takes at most 200"),
    "Defender without a workspace": ({"cluster.defender": True}, "cluster.defender", "Defender for Containers sends its findings to a Log Analytics workspace; add cluster.monitoring"),
    "a workspace that receives nothing": ({"cluster.monitoring": {"containerInsights": False, "diagnosticCategories": []}}, "cluster.monitoring.diagnosticCategories", "the workspace would receive nothing"),
    "a log category AKS does not have": ({"cluster.monitoring": {"diagnosticCategories": ["kube-audit", "etcd"]}}, "cluster.monitoring.diagnosticCategories[1]", "'etcd' is not allowed"),
    "workspace retention under 30 days": ({"cluster.monitoring": {"retentionDays": 7}}, "cluster.monitoring.retentionDays", "must be at least 30; got 7"),
    "image cleaner more often than daily": ({"cluster.imageCleaner": {"enabled": True, "intervalHours": 12}}, "cluster.imageCleaner.intervalHours", "must be at least 24; got 12"),
    "Key Vault rotation interval that is not a duration": ({"cluster.keyVaultSecretsProvider": {"enabled": True, "rotationPollInterval": "2 minutes"}}, "cluster.keyVaultSecretsProvider.rotationPollInterval", "is not a duration such as \"2m\""),
    "autoscaler profile without an autoscaled pool": ({"cluster.autoscalerProfile": {"expander": "least-waste"}, "nodePools[1].autoscaling": DELETE, "nodePools[1].count": 2}, "cluster.autoscalerProfile", "has no effect: no pool has autoscaling"),
    "autoscaler expander AKS does not have": ({"cluster.autoscalerProfile": {"expander": "cheapest"}}, "cluster.autoscalerProfile.expander", "'cheapest' is not allowed"),
    "baseline keys on an existing cluster": ({"cluster.mode": "existing", "cluster.kubeconfig": "k", "cluster.kubernetesVersion": "1.36", "cluster.defender": True}, "cluster.defender", "unknown key"),
    # --- the traffic switch (issue 16): what Azure would refuse, by key
    "traffic weight above 100": ({"traffic": {**TRAFFIC, "weights": {"blue": 150, "green": 0}}}, "traffic.weights.blue", "150 is not a percentage"),
    "traffic endpoint names repeat": ({"traffic": {**TRAFFIC, "endpoints": [{"name": "blue", "target": "a.example.com"}, {"name": "Blue", "target": "b.example.com"}], "weights": {"blue": 100, "Blue": 0}}}, "traffic.endpoints", "endpoint names repeat (Azure compares them ignoring case): Blue, blue"),
    "traffic endpoint neither host nor resource ID": ({"traffic": {**TRAFFIC, "endpoints": [{"name": "blue", "target": "not a host!"}, {"name": "green", "target": "green.example.com"}]}}, "traffic.endpoints[0].target", "a host name or IPv4 address"),
    "traffic endpoint that is not a public IP": ({"traffic": {**TRAFFIC, "endpoints": [{"name": "blue", "targetResourceId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks/d"}, {"name": "green", "target": "green.example.com"}]}}, "traffic.endpoints[0].targetResourceId", "must be the resource ID of a public IP address"),
    "traffic weights for an unknown endpoint": ({"traffic": {**TRAFFIC, "weights": {"blue": 100, "green": 0, "purple": 0}}}, "traffic.weights.purple", "weight for unknown endpoint purple"),
    "traffic with every weight 0": ({"traffic": {**TRAFFIC, "weights": {"blue": 0, "green": 0}}}, "traffic.weights", "every weight is 0"),
    # --- shape
    "unknown top-level key": ({"netwrok": {}}, "netwrok", "unknown key akshift:netwrok; remove it (did you mean akshift:network?)"),
    "unknown nested key": ({"networking.podCdir": "10.244.0.0/16"}, "networking.podCdir", "unknown key; remove it (did you mean podCidr?)"),
    "missing required key": ({"location": DELETE}, "location", "missing; add akshift:location to the stack file"),
    "missing nested key": ({"cluster.name": DELETE}, "cluster.name", "missing; this key is required"),
    "unknown cluster mode": ({"cluster.mode": "imported"}, "cluster.mode", "'imported' is not supported; use one of 'new', 'existing'"),
    "unknown identity mode": ({"identity.mode": "workload"}, "identity.mode", "'workload' is not supported"),
    "protect that is not a boolean": ({"cluster.protect": "maybe"}, "cluster.protect", "Input should be a valid boolean"),
}


REVIEW_DAY = datetime.date(2026, 12, 1)


@pytest.fixture
def on_review_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judge versions on the day stacks/versions.py was reviewed, so the table's messages are stable."""
    monkeypatch.setattr(versions, "today", lambda: REVIEW_DAY)


@pytest.mark.usefixtures("on_review_day")
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_bad_input_names_its_key_and_says_what_to_do(case: str) -> None:
    changes, key, words = CASES[case]
    found = problems(mutate(stack_config(), changes))
    matching = [p for p in found if p.key == key]
    assert matching, f"no problem for {key}; got: {[p.line() for p in found]}"
    assert any(words in p.message for p in matching), [p.line() for p in matching]


@pytest.mark.parametrize("name", ["test", "prod"])
def test_shipped_stack_files_are_valid(name: str) -> None:
    # Judged on the real date on purpose: when a pinned version leaves AKS support, this fails and says so.
    cfg = stacks.load(stack_config(name))
    assert cfg.networking.mode is NetworkingMode.OVERLAY_CILIUM
    assert cfg.identity.mode == "managed"


def test_prod_stack_is_zone_redundant_protected_and_maintained() -> None:
    cfg = stacks.load(stack_config("prod"))
    system = cfg.node_pools[0]
    assert system.mode == "System" and system.zones == ("1", "2", "3") and system.autoscaling is not None
    assert all(p.autoscaling is not None for p in cfg.node_pools[1:])
    assert cfg.cluster.protect and cfg.cluster.sku_tier == "Standard"
    assert cfg.cluster.maintenance.auto_upgrade and cfg.cluster.maintenance.node_os


def test_test_stack_is_small_and_single_zone() -> None:
    cfg = stacks.load(stack_config("test"))
    assert {z for p in cfg.node_pools for z in p.zones} == {"1"}
    assert cfg.max_nodes <= 5 and not cfg.cluster.protect


def test_a_broken_stack_reports_every_problem_at_once_across_sections() -> None:
    broken = mutate(stack_config(), {
        "nodePools[1].vmSize": "D4",  # shape error: node pool rules cannot run
        "networking.podCidr": "10.20.0.0/16",  # rule error in sections that parsed
        "cluster.upgradeChannel": "weekly",  # shape error in another section
        "tags.akshift-x": "y",
    })
    keys = [p.key for p in problems(broken)]
    assert keys.count("nodePools[1].vmSize") == 1
    assert "networking.podCidr" in keys and "cluster.upgradeChannel" in keys and "tags.akshift-x" in keys


def test_rules_needing_a_broken_section_are_skipped_not_crashed() -> None:
    broken = mutate(stack_config(), {"network": "not a mapping"})
    found = problems(broken)
    assert [p.key for p in found] == ["network"]


def test_the_config_error_lists_one_line_per_problem() -> None:
    with pytest.raises(stacks.ConfigError) as info:
        stacks.load(mutate(stack_config(), {"networking.dnsServiceIP": "10.99.0.10", "nodePools[0].count": 0}))
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems) == 2
    assert all(re.match(r"^[\w.\[\]]+: ", line) for line in lines)


def test_keys_of_other_namespaces_are_left_to_pulumi() -> None:
    config = {**stack_config(), "azure-native:subscriptionId": "x", "pulumi:tags": {"a": "b"}}
    assert problems(config) == []


# --------------------------------------------------------------------------- engine input


def test_engine_config_with_json_encoded_objects_loads_like_the_stack_file() -> None:
    engine = {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in stack_config("prod").items()}
    assert stacks.load(stacks.decode_engine_config(engine)) == stacks.load(stack_config("prod"))


def test_engine_secrets_count_as_encrypted_only_when_pulumi_holds_them_as_secrets() -> None:
    config = mutate(stack_config(), {"identity": SERVICE_PRINCIPAL, "servicePrincipalClientSecret": "s3cr3t"})
    key = "akshift:servicePrincipalClientSecret"
    cfg = stacks.load(config, secret_keys={key})
    assert cfg.service_principal_client_secret == Secret("s3cr3t", encrypted=True)
    assert "s3cr3t" not in repr(cfg.service_principal_client_secret)
    assert [p.key for p in problems(config, secret_keys=set())] == ["servicePrincipalClientSecret"]


def test_decoding_keeps_scalars_and_broken_json_as_strings() -> None:
    assert stacks.decode_engine_config({"a:b": "westeurope", "a:c": "{not json", "a:d": "[1]"}) == {
        "a:b": "westeurope", "a:c": "{not json", "a:d": [1]}


# --------------------------------------------------------------------------- files


def test_missing_stack_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(stacks.ConfigError, match="no such file"):
        stacks.load_stack_file(tmp_path / "Pulumi.nope.yaml")


def test_malformed_yaml_is_a_config_error_with_the_line(tmp_path: Path) -> None:
    f = tmp_path / "Pulumi.bad.yaml"
    f.write_text("config:\n  akshift:location: [westeurope\n")
    with pytest.raises(stacks.ConfigError, match=r"not valid YAML at line \d+"):
        stacks.load_stack_file(f)


def test_stack_file_without_config_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "Pulumi.empty.yaml"
    f.write_text("encryptionsalt: abc\n")
    with pytest.raises(stacks.ConfigError, match="has no `config:` mapping"):
        stacks.load_stack_file(f)


# --------------------------------------------------------------------------- schema


def test_exported_schema_file_matches_the_model() -> None:
    assert SCHEMA_FILE.read_text() == render_schema(), "run `akshift config schema --write`"


def test_schema_describes_every_akshift_key_and_allows_other_namespaces() -> None:
    schema = stack_file_schema()
    config = schema["properties"]["config"]
    assert set(config["properties"]) == {f"akshift:{k}" for k in stacks.model.SECTION_KEYS.values()}
    assert "akshift:cluster" in config["required"]
    # the sections of a new cluster: required unless cluster.mode is existing
    assert config["if"]["properties"]["akshift:cluster"]["properties"]["mode"] == {"const": "existing"}
    assert set(config["else"]["required"]) == {"akshift:location", "akshift:resourceGroup", "akshift:network",
                                               "akshift:nodePools"}
    assert config["additionalProperties"] is False
    (pattern,) = config["patternProperties"]
    assert re.match(pattern, "azure-native:location") and not re.match(pattern, "akshift:netwrok")


@pytest.mark.parametrize("name", ["test", "prod"])
def test_shipped_stack_files_point_editors_at_the_schema(name: str) -> None:
    first = (ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema=./{SCHEMA_FILE.name}"


# --------------------------------------------------------------------------- derived decisions


@pytest.mark.parametrize(
    ("requested", "mode", "version", "expected"),
    [
        ("auto", "overlay-cilium", "1.34", "localdns"),
        ("auto", "podsubnet-cilium", "1.33", "localdns"),
        ("auto", "overlay", "1.34", "localdns"),
        ("auto", "byo-cilium", "1.34", "nodelocaldns"),
        ("auto", "overlay", "1.31", "nodelocaldns"),
        ("auto", "overlay-cilium", "1.31", "none"),
        ("none", "overlay-cilium", "1.34", "none"),
        ("nodelocaldns", "overlay", "1.34", "nodelocaldns"),
    ],
)
def test_auto_node_dns_cache_prefers_localdns_then_node_local_dns(requested: str, mode: str, version: str, expected: str) -> None:
    got = capabilities.resolve_node_dns_cache(NodeDnsCache(requested), NetworkingMode(mode), version)
    assert got is NodeDnsCache(expected)


def test_replacement_guard_passes_what_the_live_cluster_already_runs() -> None:
    wanted = {"network_profile.network_dataplane": guards.Wanted("networking.mode", "cilium"),
              "network_profile.network_policy": guards.Wanted("networking.networkPolicy", "none")}
    live = {"network_profile": {"network_dataplane": "Cilium", "network_policy": None}}
    assert guards.replacement_problems(wanted, live, "aks") == []


def test_replacement_guard_refuses_a_change_and_points_to_the_migration_path() -> None:
    wanted = {"network_profile.network_plugin": guards.Wanted("networking.mode", "azure")}
    (problem,) = guards.replacement_problems(wanted, {"network_profile": {"network_plugin": "kubenet"}}, "aks")
    assert problem.key == "networking.mode"
    assert "replace (delete and recreate) the cluster" in problem.message
    assert "pulumi stack init" in problem.message and "akshift migrate" in problem.message
    assert "akshift strategy --execute" in problem.message


@pytest.mark.parametrize(("wanted", "live", "auto", "ignore", "refused"), [
    ("1.36", None, True, False, None),
    (None, "1.36.3", True, True, None),
    ("1.36", "1.36.3", True, True, None),
    ("1.36", "1.37.1", True, True, None),
    ("1.36", "1.37.1", False, False, "cannot downgrade"),
    ("1.36.2", "1.36.3", False, False, "cannot downgrade"),
    ("1.36.4", "1.36.3", False, False, None),
    ("1.37", "1.36.3", False, False, None),
    ("1.37", "1.35.9", True, False, "one minor version at a time"),
], ids=["new cluster", "left to AKS", "same minor", "channel moved ahead", "lower without a channel",
        "lower patch without a channel", "patch upgrade", "minor upgrade", "two minors up"])
def test_version_drift_is_kept_and_upgrades_go_one_minor_at_a_time(
        wanted: str | None, live: str | None, auto: bool, ignore: bool, refused: str | None) -> None:
    got_ignore, found = guards.version_decision(wanted, live, auto_upgrade=auto, key="cluster.kubernetesVersion")
    assert got_ignore is ignore
    assert [p.key for p in found] == (["cluster.kubernetesVersion"] if refused else [])
    assert refused is None or refused in found[0].message


def test_capacity_counts_upgrade_surge_rounded_up() -> None:
    cfg = stacks.load(stack_config("prod"))
    apps = cfg.node_pools[1]
    assert (apps.max_nodes, apps.surge_nodes, apps.peak_nodes) == (30, 10, 40)  # 33% of 30 → 9.9 → 10


# --------------------------------------------------------------------------- bound to Azure's enums


def _literal_values(model: type, field: str) -> set[str]:
    import typing

    def walk(t: Any) -> set[str]:
        if typing.get_origin(t) is typing.Literal:
            return set(typing.get_args(t))
        return set().union(*(walk(a) for a in typing.get_args(t))) if typing.get_args(t) else set()

    return walk(model.model_fields[field].annotation)


#: Every model field whose allowed values AKS defines, and the enum of the API version we deploy with.
ENUM_BOUND = [
    ("NewCluster", "sku_tier", "ManagedClusterSKUTier"),
    ("NewCluster", "upgrade_channel", "UpgradeChannel"),
    ("NewCluster", "node_os_upgrade_channel", "NodeOSUpgradeChannel"),
    ("NewCluster", "support_plan", "KubernetesSupportPlan"),
    ("NetworkingConfig", "outbound_type", "OutboundType"),
    ("NetworkingConfig", "network_policy", "NetworkPolicy"),
    ("NodePool", "mode", "AgentPoolMode"),
    ("NodePool", "os_type", "OSType"),
    ("NodePool", "os_sku", "OSSKU"),
    ("NodePool", "os_disk_type", "OSDiskType"),
    ("DnsConfig", "local_dns_mode", "LocalDNSMode"),
    ("MaintenanceWindow", "day_of_week", "WeekDay"),
    ("AutoscalerProfile", "expander", "Expander"),
]


@pytest.mark.parametrize(("model", "field", "sdk_enum"), ENUM_BOUND, ids=[f"{m}.{f}" for m, f, _ in ENUM_BOUND])
def test_every_value_the_model_allows_is_in_the_api_versions_enum(model: str, field: str, sdk_enum: str) -> None:
    from azure.mgmt.containerservice import models as sdk

    allowed = _literal_values(getattr(stacks.model, model), field)
    assert allowed, f"{model}.{field} is not a Literal any more; bind its new type here"
    assert allowed <= {e.value for e in getattr(sdk, sdk_enum)}


def test_every_networking_mode_maps_to_plugin_values_the_api_has() -> None:
    from azure.mgmt.containerservice import models as sdk

    from components import profiles

    for mode in NetworkingMode:
        pod_cidr = None if mode.uses_pod_subnet else "10.244.0.0/16"
        profile = profiles.network_profile(stacks.model.NetworkingConfig.model_validate({"mode": mode.value, "podCidr": pod_cidr}))
        assert profile["network_plugin"] in {e.value for e in sdk.NetworkPlugin}, mode
        assert profile.get("network_dataplane", "azure") in {e.value for e in sdk.NetworkDataplane}, mode
        assert profile.get("network_plugin_mode", "overlay") in {e.value for e in sdk.NetworkPluginMode}, mode


def test_a_traffic_section_on_a_stack_without_a_resource_group_must_name_one() -> None:
    config = mutate(stack_config("sandbox"), {"traffic": TRAFFIC})
    found = problems(config)
    assert [p.line() for p in found if p.key.startswith("traffic")] == [
        "traffic.resourceGroup: required when the stack has no resourceGroup (cluster.mode existing): name the group "
        "the profile lives in"]
    assert not [p for p in problems(mutate(config, {"traffic.resourceGroup": "rg-shop-edge"})) if p.key.startswith("traffic")]


# --------------------------------------------------------------------------- the rename guard (stacks.guards)

CREATED_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/RG-Shop/providers/"
              "Microsoft.ContainerService/managedClusters/aks-shop")


@pytest.mark.parametrize(("created", "group", "name", "intent", "keys"), [
    (CREATED_ID, "rg-shop", "AKS-SHOP", False, []),  # Azure names ignore case; ARM IDs come in either case
    (None, "rg-shop", "aks-shop", False, []),  # first deployment, or a stack that never created a cluster
    (CREATED_ID, "rg-shop", "aks-shop-2", False, ["cluster.name", "cluster.deleteCreatedCluster"]),
    (CREATED_ID, "rg-shop-2", "aks-shop", False, ["resourceGroup", "cluster.deleteCreatedCluster"]),
    (CREATED_ID, "rg-shop", "aks-shop-2", True, []),  # the deletion named
    (CREATED_ID, "rg-shop", "aks-shop", True, ["cluster.deleteCreatedCluster"]),  # a leftover intent
    (None, "rg-shop", "aks-shop", True, ["cluster.deleteCreatedCluster"]),
    ("not-an-arm-id", "rg-shop", "aks-shop", False, ["cluster.name", "resourceGroup", "cluster.deleteCreatedCluster"]),
], ids=["same cluster", "nothing created", "renamed", "group renamed", "renamed with intent", "leftover intent",
        "intent before any cluster", "unreadable clusterId"])
def test_the_rename_guard_refuses_only_a_deletion_nobody_named(created: str | None, group: str, name: str,
                                                               intent: bool, keys: list[str]) -> None:
    problems = guards.created_cluster_problems(created, resource_group=group, cluster=name, delete_intent=intent,
                                               stack="prod")
    assert [list(p.keys) for p in problems] == ([keys] if keys else [])


OTHER_SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"


@pytest.mark.parametrize(("now", "intent", "keys"), [
    ("00000000-0000-0000-0000-000000000000", False, []),
    ("00000000-0000-0000-0000-000000000000".upper(), False, []),  # GUIDs come in either case
    (OTHER_SUBSCRIPTION, False, ["azure-native:subscriptionId", "cluster.deleteCreatedCluster"]),
    (OTHER_SUBSCRIPTION, True, []),  # the deletion named
], ids=["same subscription", "same, other case", "other subscription", "other subscription with intent"])
def test_the_rename_guard_refuses_a_deployment_to_another_subscription(now: str, intent: bool,
                                                                       keys: list[str]) -> None:
    problems = guards.created_cluster_problems(CREATED_ID, resource_group="rg-shop", cluster="aks-shop",
                                               delete_intent=intent, stack="prod", subscription=lambda: now)
    assert [list(p.keys) for p in problems] == ([keys] if keys else [])
    if keys:
        assert "subscription 00000000-0000-0000-0000-000000000000" in problems[0].message
        assert f"goes to subscription {OTHER_SUBSCRIPTION}" in problems[0].message
        assert "az account set --subscription 00000000-0000-0000-0000-000000000000" in problems[0].message


def test_a_renamed_cluster_is_refused_without_asking_azure_for_the_subscription() -> None:
    def no_azure() -> str:
        raise AssertionError("asked Azure")

    problems = guards.created_cluster_problems(CREATED_ID, resource_group="rg-shop", cluster="aks-shop-2",
                                               delete_intent=False, stack="prod", subscription=no_azure)
    assert [list(p.keys) for p in problems] == [["cluster.name", "cluster.deleteCreatedCluster"]]
