"""Read a cluster's ARM description (``az aks show`` JSON, or the ARM REST/SDK form) into one typed value.

Why shaped so: the same ManagedCluster arrives in three spellings — ``az aks
show`` flattens ``properties`` and writes ``dnsServiceIp``/``vnetSubnetId``;
the ARM REST API and the Azure SDK's ``as_dict()`` nest everything under
``properties`` and write ``dnsServiceIP``/``vnetSubnetID``. Checks and the
strategy should not care, so this module unwraps ``properties``, matches keys
case-insensitively, and hands out a frozen :class:`ArmCluster` holding only
the fields akshift decides on. Malformed input is reported once, with every
key that is wrong (:class:`doctor.errors.ArmError`), never as a KeyError deep
inside a check.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from doctor.errors import ArmError, ArmProblem

#: ``servicePrincipalProfile.clientId`` of a cluster that uses managed identity instead.
MSI_CLIENT_ID = "msi"

_SUBNET_ID = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Network/"
    r"virtualNetworks/(?P<vnet>[^/]+)/subnets/(?P<subnet>[^/]+)/?$",
    re.IGNORECASE,
)
_CLUSTER_ID = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class SubnetRef:
    """A subnet named by its resource ID."""

    subscription: str
    resource_group: str
    vnet: str
    subnet: str

    @classmethod
    def parse(cls, resource_id: str) -> SubnetRef | None:
        """Split a subnet resource ID; None when it is not one.

        >>> SubnetRef.parse("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s").vnet
        'v'
        """
        m = _SUBNET_ID.match(resource_id or "")
        return cls(m["sub"], m["rg"], m["vnet"], m["subnet"]) if m else None


@dataclasses.dataclass(frozen=True)
class AgentPool:
    """One entry of ``agentPoolProfiles``."""

    name: str
    mode: str
    os_type: str
    os_sku: str | None = None
    count: int | None = None
    vm_size: str | None = None
    vnet_subnet_id: str | None = None
    pod_subnet_id: str | None = None
    local_dns_mode: str | None = None
    """``localDNSProfile.mode``: Required, Preferred, Disabled; None when absent."""
    orchestrator_version: str | None = None

    @property
    def is_windows(self) -> bool:
        return self.os_type.lower() == "windows"

    @property
    def local_dns_enabled(self) -> bool:
        return (self.local_dns_mode or "").lower() in ("required", "preferred")


@dataclasses.dataclass(frozen=True)
class ArmCluster:
    """The fields of a ManagedCluster that the doctor and the strategy decide on.

    Values are as ARM spells them (``kubenet``, ``overlay``, ``cilium``,
    ``SystemAssigned``); absent optional fields are None.
    """

    source: str
    """Where the description came from (a file name), for messages."""
    name: str
    resource_group: str
    kubernetes_version: str
    network_plugin: str
    network_plugin_mode: str | None
    network_dataplane: str | None
    network_policy: str | None
    pod_cidr: str | None
    service_cidr: str | None
    dns_service_ip: str | None
    outbound_type: str | None
    kube_proxy_mode: str | None
    """``networkProfile.kubeProxyConfig.mode`` (preview API versions only)."""
    identity_type: str | None
    """``identity.type``: SystemAssigned, UserAssigned or None (service principal)."""
    service_principal_client_id: str | None
    """The service principal's client ID; None when ``clientId`` is ``msi`` or absent."""
    oidc_issuer_enabled: bool
    workload_identity_enabled: bool
    pools: tuple[AgentPool, ...]
    location: str = ""
    id: str = ""
    """The cluster's resource ID (``/subscriptions/…/managedClusters/<name>``)."""
    node_resource_group: str = ""
    """``nodeResourceGroup``: where AKS keeps the nodes, and the disks and file shares it provisions; Azure
    deletes it with the cluster. ``""`` when absent."""
    disk_csi_driver: bool | None = None
    """``storageProfile.diskCSIDriver.enabled``; None when absent (AKS enables it by default)."""
    file_csi_driver: bool | None = None
    """``storageProfile.fileCSIDriver.enabled``; None when absent (AKS enables it by default)."""

    @property
    def subscription(self) -> str:
        """The subscription ID from :attr:`id`, ``""`` when unknown."""
        m = _CLUSTER_ID.match(self.id)
        return m["sub"] if m else ""

    @property
    def azure_storage_disabled(self) -> bool:
        """Both Azure storage CSI drivers are switched off, so no volume of this cluster keeps data on Azure Disk
        or Azure Files (the in-tree drivers were migrated to these, AKS 1.26+)."""
        return self.disk_csi_driver is False and self.file_csi_driver is False

    @property
    def uses_service_principal(self) -> bool:
        return self.service_principal_client_id is not None and not self.identity_type

    @property
    def is_kubenet(self) -> bool:
        return self.network_plugin.lower() == "kubenet"

    @property
    def is_overlay(self) -> bool:
        return self.network_plugin.lower() == "azure" and (self.network_plugin_mode or "").lower() == "overlay"

    @property
    def runs_cilium(self) -> bool:
        return (self.network_dataplane or "").lower() == "cilium"

    @property
    def policy(self) -> str:
        """``networkPolicy`` lower-cased, ``none`` when unset."""
        return (self.network_policy or "none").lower()

    @property
    def windows_pools(self) -> tuple[AgentPool, ...]:
        return tuple(p for p in self.pools if p.is_windows)

    @property
    def node_subnets(self) -> tuple[SubnetRef | None, ...]:
        """The node subnet of each pool (None: AKS-managed VNet)."""
        return tuple(SubnetRef.parse(p.vnet_subnet_id) if p.vnet_subnet_id else None for p in self.pools)

    @property
    def uses_pod_subnet(self) -> bool:
        return any(p.pod_subnet_id for p in self.pools)

    @property
    def networking(self) -> str:
        """A short human name: ``kubenet``, ``azure (node subnet)``, ``azure overlay + cilium`` …"""
        if self.is_kubenet:
            return "kubenet"
        plugin = self.network_plugin.lower()
        if plugin == "azure":
            ipam = "overlay" if self.is_overlay else ("pod subnet" if self.uses_pod_subnet else "node subnet")
            name = f"azure {ipam}" if self.is_overlay else f"azure ({ipam})"
        else:
            name = plugin
        return f"{name} + cilium" if self.runs_cilium else name


# --------------------------------------------------------------------------- reading


def load_arm_file(path: str | Path) -> ArmCluster:
    """Read ``az aks show -o json`` output (or an ARM REST/SDK document) from a file.

    Args:
        path: The JSON file.

    Returns:
        The parsed cluster.

    Raises:
        ArmError: The file is missing, not JSON, or lacks required keys; names each key.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArmError(str(p), [ArmProblem("<document>", "no such file; save it with `az aks show -g <rg> -n <name> -o json > current.json`")]) from None
    except OSError as e:
        raise ArmError(str(p), [ArmProblem("<document>", f"cannot read it ({e.strerror})")]) from e
    except UnicodeDecodeError as e:
        raise ArmError(str(p), [ArmProblem("<document>", f"not UTF-8 text (byte {e.start}): not an ARM JSON document")]) from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArmError(str(p), [ArmProblem("<document>", f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}")]) from e
    except RecursionError as e:
        raise ArmError(str(p), [ArmProblem("<document>", "nested too deeply to be an ARM document")]) from e
    return parse_arm(doc, source=str(p))


def parse_arm(doc: Any, *, source: str = "<arm>") -> ArmCluster:
    """Parse one ManagedCluster description.

    Args:
        doc: The decoded JSON: ``az aks show`` output, or the ARM form with ``properties``.
        source: Named in error messages (the file).

    Returns:
        The cluster.

    Raises:
        ArmError: With every problem found, each naming its key path.
    """
    if isinstance(doc, list):
        raise ArmError(source, [ArmProblem("<document>", f"a list of {len(doc)} item(s), not one cluster; "
                                           "use `az aks show` (not `az aks list`)")])
    if not isinstance(doc, Mapping):
        raise ArmError(source, [ArmProblem("<document>", "not a JSON object; expected `az aks show -o json` output")])
    r = _Reader(source)
    top = dict(doc)
    props = _ci(top, "properties")
    if isinstance(props, Mapping):  # ARM REST / SDK form: merge properties over the envelope
        top = {**{k: v for k, v in top.items() if k.lower() != "properties"}, **props}

    net = r.mapping(top, "networkProfile", required=True)
    plugin = (r.string(net, "networkProfile.networkPlugin", required=True) if net else None) or ""
    pools_raw = r.list(top, "agentPoolProfiles", required=True)
    pools = []
    for i, item in enumerate(pools_raw):
        key = f"agentPoolProfiles[{i}]"
        if not isinstance(item, Mapping):
            r.problem(key, "must be an object")
            continue
        local_dns = r.mapping(item, f"{key}.localDNSProfile")
        pools.append(AgentPool(
            name=r.string(item, f"{key}.name", required=True) or f"pool{i}",
            mode=r.string(item, f"{key}.mode") or "User",
            os_type=r.string(item, f"{key}.osType") or "Linux",
            os_sku=r.string(item, f"{key}.osSku"),
            count=r.integer(item, f"{key}.count"),
            vm_size=r.string(item, f"{key}.vmSize"),
            vnet_subnet_id=r.string(item, f"{key}.vnetSubnetId"),
            pod_subnet_id=r.string(item, f"{key}.podSubnetId"),
            local_dns_mode=r.string(local_dns, f"{key}.localDNSProfile.mode") if local_dns else None,
            orchestrator_version=r.string(item, f"{key}.currentOrchestratorVersion") or r.string(item, f"{key}.orchestratorVersion"),
        ))
    if isinstance(pools_raw, list) and not pools_raw:
        r.problem("agentPoolProfiles", "is empty; a cluster has at least one (system) pool")

    identity = r.mapping(top, "identity")
    sp = r.mapping(top, "servicePrincipalProfile")
    sp_client = r.string(sp, "servicePrincipalProfile.clientId") if sp else None
    kube_proxy = r.mapping(net, "networkProfile.kubeProxyConfig") if net else {}
    oidc = r.mapping(top, "oidcIssuerProfile")
    security = r.mapping(top, "securityProfile")
    wi = r.mapping(security, "securityProfile.workloadIdentity") if security else {}
    storage = r.mapping(top, "storageProfile")
    csi = {name: _enabled(r, storage, f"storageProfile.{name}") for name in ("diskCSIDriver", "fileCSIDriver")}
    cluster_id = r.string(top, "id") or ""
    rg = r.string(top, "resourceGroup") or (m["rg"] if (m := _CLUSTER_ID.match(cluster_id)) else "")
    version = r.string(top, "currentKubernetesVersion") or r.string(top, "kubernetesVersion", required=True) or ""
    _check_values(r, net, plugin, version, pools)
    r.raise_if_any()
    return ArmCluster(
        source=source,
        name=r.string(top, "name") or "",
        resource_group=rg,
        location=r.string(top, "location") or "",
        kubernetes_version=version,
        network_plugin=plugin,
        network_plugin_mode=r.string(net, "networkProfile.networkPluginMode"),
        network_dataplane=r.string(net, "networkProfile.networkDataplane"),
        network_policy=r.string(net, "networkProfile.networkPolicy"),
        pod_cidr=r.string(net, "networkProfile.podCidr"),
        service_cidr=r.string(net, "networkProfile.serviceCidr"),
        dns_service_ip=r.string(net, "networkProfile.dnsServiceIp"),
        outbound_type=r.string(net, "networkProfile.outboundType"),
        kube_proxy_mode=r.string(kube_proxy, "networkProfile.kubeProxyConfig.mode") if kube_proxy else None,
        identity_type=(r.string(identity, "identity.type") if identity else None) or None,
        service_principal_client_id=None if (sp_client or MSI_CLIENT_ID).lower() == MSI_CLIENT_ID else sp_client,
        oidc_issuer_enabled=bool(oidc and _ci(oidc, "enabled")),
        workload_identity_enabled=bool(wi and _ci(wi, "enabled")),
        pools=tuple(pools),
        id=cluster_id,
        node_resource_group=r.string(top, "nodeResourceGroup") or "",
        disk_csi_driver=csi["diskCSIDriver"],
        file_csi_driver=csi["fileCSIDriver"],
    )


NETWORK_PLUGINS = ("kubenet", "azure", "none")
_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$")


def _check_values(r: _Reader, net: Mapping[str, Any] | None, plugin: str, version: str,
                  pools: list[AgentPool]) -> None:
    """Values ARM would never return: a plugin AKS does not have, a CIDR or IP that does not parse, a version
    that is not one — each a problem naming its key (a hand-edited or foreign file must not plan a migration)."""
    if plugin and plugin.lower() not in NETWORK_PLUGINS:
        r.problem("networkProfile.networkPlugin", f"{plugin!r} is not an AKS network plugin "
                                                  f"({', '.join(NETWORK_PLUGINS)})")
    for key in ("podCidr", "serviceCidr"):
        value = r.string(net, f"networkProfile.{key}") if net else None
        if value:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                r.problem(f"networkProfile.{key}", f"{value!r} is not a CIDR such as 10.244.0.0/16")
    dns_ip = r.string(net, "networkProfile.dnsServiceIp") if net else None
    if dns_ip:
        try:
            ipaddress.ip_address(dns_ip)
        except ValueError:
            r.problem("networkProfile.dnsServiceIp", f"{dns_ip!r} is not an IP address")
    if version and not _VERSION.match(version):
        r.problem("kubernetesVersion", f"{version!r} is not a Kubernetes version such as 1.30.4")
    for i, pool in enumerate(pools):
        if pool.count is not None and pool.count < 0:
            r.problem(f"agentPoolProfiles[{i}].count", f"{pool.count} is negative")


def _enabled(r: _Reader, parent: Mapping[str, Any] | None, path: str) -> bool | None:
    """``<path>.enabled`` of an optional ``{enabled: bool}`` profile; None when absent."""
    profile = r.mapping(parent, path) if parent else None
    if not profile:
        return None
    value = _ci(profile, "enabled")
    if value is None or isinstance(value, bool):
        return value
    r.problem(f"{path}.enabled", f"must be true or false, got {value!r}")
    return None


def _ci(d: Mapping[str, Any] | None, key: str) -> Any:
    """``d[key]`` matching the key case-insensitively (``dnsServiceIp`` = ``dnsServiceIP``)."""
    if not d:
        return None
    if key in d:
        return d[key]
    low = key.lower()
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


class _Reader:
    """Typed, case-insensitive reads that collect problems instead of raising at the first one."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[ArmProblem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(ArmProblem(key, message))

    def _get(self, d: Mapping[str, Any] | None, path: str, required: bool) -> Any:
        value = _ci(d, path.rsplit(".", 1)[-1].split("]")[-1].lstrip("."))
        if value is None and required:
            self.problem(path, "missing; is this `az aks show` output of a managed cluster?")
        return value

    def string(self, d: Mapping[str, Any] | None, path: str, required: bool = False) -> str | None:
        value = self._get(d, path, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(path, f"must be a string, got {type(value).__name__} {value!r}")
            return None
        return value

    def integer(self, d: Mapping[str, Any] | None, path: str) -> int | None:
        value = self._get(d, path, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"must be an integer, got {value!r}")
            return None
        return value

    def mapping(self, d: Mapping[str, Any] | None, path: str, required: bool = False) -> dict[str, Any]:
        value = self._get(d, path, required)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be an object, got {type(value).__name__}")
            return {}
        return dict(value)

    def list(self, d: Mapping[str, Any] | None, path: str, required: bool = False) -> list[Any]:
        value = self._get(d, path, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"must be a list, got {type(value).__name__}")
            return []
        return value

    def raise_if_any(self) -> None:
        if self.problems:
            raise ArmError(self.source, self.problems)
