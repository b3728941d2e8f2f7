"""The typed shape of one stack's configuration: what a ``stacks/Pulumi.<stack>.yaml`` may say.

Why it is shaped so:

* One frozen pydantic model with ``extra="forbid"`` everywhere, so a misspelt
  key is an error and not a silently ignored default. Keys are camelCase in the
  stack file (as in ARM) and snake_case in Python.
* Each top-level key of the ``akshift:`` namespace (``akshift:network``,
  ``akshift:nodePools`` …) is one field of :class:`StackConfig`. The loader
  validates the sections one by one so a type error in one section does not hide
  the cross-section problems of the others (see :mod:`stacks.loader`).
* This module checks shapes, formats and single-value ranges only. Rules that
  relate several values (CIDR overlaps, capacity, mode compatibility) live in
  :mod:`stacks.rules`, where each can name every key it involves.
* ``cluster`` is a discriminated union on ``cluster.mode``: ``new`` (this
  program creates the AKS cluster) or ``existing`` (a cluster it did not
  create, reached through a kubeconfig file or another stack's output; the
  program manages add-ons and migrated workloads on it). Sections that only
  make sense for a new cluster (``network``, ``nodePools``) are optional in the
  model, and so are ``location`` and ``resourceGroup``; a rule requires them
  for ``mode: new`` and refuses them for ``existing`` (:mod:`stacks.rules`),
  naming the key either way.
* ``workloads`` names a transformed snapshot (``akshift transform``) the stack
  declares on its cluster, and the digest ``akshift promote`` pinned.

Nothing here imports Pulumi: ``akshift config validate`` uses this model
without it.
"""
from __future__ import annotations

import datetime as _dt
import enum
import re
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from stacks import cidr as _cidr

# --------------------------------------------------------------------------- value types


def _cidr_value(value: Any) -> IPv4Network:
    if isinstance(value, IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a CIDR string; write it like 10.20.0.0/16")
    return _cidr.parse_network(value)


def _ip_value(value: Any) -> IPv4Address:
    if isinstance(value, IPv4Address):
        return value
    try:
        return IPv4Address(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address; write it like 10.0.0.10") from None


Cidr = Annotated[
    IPv4Network,
    PlainValidator(_cidr_value),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$",
            "description": "IPv4 CIDR without host bits, e.g. 10.20.0.0/16",
        }
    ),
]

IPv4 = Annotated[
    IPv4Address,
    PlainValidator(_ip_value),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "ipv4"}),
]


class _Named:
    """A string format checked against ``pattern``; the error says what is ``expected``.

    Used as ``Annotated[str, _Named(...)]`` so that every format is a real type alias (for mypy and
    readers). It follows annotated-types' GroupedMetadata protocol, which pydantic expands into the
    validator and the JSON-schema entry it yields.
    """

    __is_annotated_types_grouped_metadata__ = True

    def __init__(self, pattern: str, expected: str) -> None:
        self.pattern = pattern
        self.expected = expected
        self._compiled = re.compile(pattern)

    def _check(self, value: str) -> str:
        if not self._compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {self.expected}")
        return value

    def __iter__(self) -> Iterator[object]:
        yield AfterValidator(self._check)
        yield WithJsonSchema({"type": "string", "pattern": f"^{self.pattern}$", "description": self.expected})


def _version_string(value: Any) -> Any:
    if isinstance(value, (int, float)):
        raise ValueError(f"{value!r} must be a quoted string such as \"1.34\" (YAML reads 1.30 as the number 1.3)")
    return value


# Azure naming rules (learn.microsoft.com "Naming rules and restrictions for Azure resources").
ResourceGroupName = Annotated[str, _Named(
    r"[-\w.()]{0,89}[-\w()]",
    "a valid resource group name: 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending with '.'",
)]
ClusterName = Annotated[str, _Named(
    r"[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?",
    "a valid cluster name: 1-63 letters, digits, '_' or '-', starting and ending with a letter or digit",
)]
DnsPrefix = Annotated[str, _Named(
    r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,52}[a-zA-Z0-9])?",
    "a valid DNS prefix: 1-54 letters, digits or '-', starting and ending with a letter or digit",
)]
VnetName = Annotated[str, _Named(
    r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}[a-zA-Z0-9_]",
    "a valid VNet name: 2-64 letters, digits, '_', '.' or '-', starting with a letter or digit, "
    "ending with a letter, digit or '_'",
)]
SubnetName = Annotated[str, _Named(
    r"[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,78}[a-zA-Z0-9_])?",
    "a valid subnet name: 1-80 letters, digits, '_', '.' or '-', starting with a letter or digit, "
    "ending with a letter, digit or '_'",
)]
NodeResourceGroupName = Annotated[str, _Named(
    r"[-\w.()]{0,79}[-\w()]",
    "a valid node resource group name: 1-80 letters, digits, '_', '-', '.', '(' or ')', not ending with '.'",
)]
# Linux pools: up to 12 characters; Windows pools: up to 6 (checked in stacks.rules, it needs osType).
PoolName = Annotated[str, _Named(r"[a-z][a-z0-9]{0,11}", "a valid node pool name: 1-12 lowercase letters or digits, starting with a letter")]
AzureRegion = Annotated[str, _Named(r"[a-z][a-z0-9]{2,39}", "an Azure region name, such as westeurope or eastus2 (lowercase, no spaces)")]
VmSize = Annotated[str, _Named(r"Standard_[A-Za-z0-9_]+(?:-[0-9]+[A-Za-z0-9_]*)?", "an Azure VM size, such as Standard_D4ds_v5")]
KubernetesVersion = Annotated[
    str,
    _Named(r"1\.\d{1,2}(?:\.\d{1,3})?", 'a Kubernetes version, such as "1.34" or "1.34.2"'),
    BeforeValidator(_version_string),
]
Uuid = Annotated[str, _Named(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "a GUID, such as 00000000-0000-0000-0000-000000000000",
)]
ArmId = Annotated[str, _Named(
    r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+(?:/[^/]+/[^/]+)*",
    "a full Azure resource ID starting with /subscriptions/<id>/resourceGroups/",
)]
Taint = Annotated[str, _Named(
    r"[^=:\s]+=[^=:\s]*:(?:NoSchedule|PreferNoSchedule|NoExecute)",
    "a taint key=value:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute",
)]
ClockTime = Annotated[str, _Named(r"(?:[01]\d|2[0-3]):[0-5]\d", 'a 24-hour time HH:MM, such as "02:00"')]
UtcOffset = Annotated[str, _Named(r"[+-](?:0\d|1[0-4]):[0-5]\d", 'an offset from UTC, such as "+00:00" or "-05:00"')]
HelmVersion = Annotated[str, _Named(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?", "a chart version, such as 1.18.9")]
ImageRef = Annotated[str, _Named(
    r"[a-z0-9.-]+(?::\d+)?/[a-z0-9./_-]+:[A-Za-z0-9._-]+",
    "an image reference with a tag, such as registry.k8s.io/dns/k8s-dns-node-cache:1.26.8",
)]


def _zone(value: Any) -> str:
    text = str(value)
    if text not in {"1", "2", "3"}:
        raise ValueError(f"{value!r} is not an availability zone; use \"1\", \"2\" or \"3\"")
    return text


Zone = Annotated[str, BeforeValidator(_zone), WithJsonSchema({"type": "string", "enum": ["1", "2", "3"]})]


def _max_surge(value: Any) -> str:
    text = str(value).strip()
    m = re.fullmatch(r"([1-9]\d*)(%?)", text)
    if not m or (m.group(2) and int(m.group(1)) > 100):
        raise ValueError(f"{value!r} is not a max surge; use a node count such as 1 or a percentage such as 33%")
    return text


MaxSurge = Annotated[
    str,
    BeforeValidator(_max_surge),
    WithJsonSchema({"type": ["string", "integer"], "description": "node count (1) or percentage (33%)"}),
]


class Secret:
    """A configuration value that must be stored encrypted (``pulumi config set --secret``).

    ``encrypted`` says whether Pulumi holds it as a secret; ``value`` is the
    plaintext when the Pulumi engine decrypted it for a deployment, and None
    when read from a stack file (where only ciphertext is present).
    """

    __slots__ = ("value", "encrypted")

    def __init__(self, value: str | None, encrypted: bool) -> None:
        self.value = value
        self.encrypted = encrypted

    def __repr__(self) -> str:
        return f"Secret(encrypted={self.encrypted}, value={'***' if self.value else None})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.value, self.encrypted) == (other.value, other.encrypted)

    def __hash__(self) -> int:
        return hash((self.value, self.encrypted))


def _secret_value(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str):
        return Secret(None, encrypted=True)  # ciphertext in a stack file
    if isinstance(value, str) and value:
        return Secret(value, encrypted=False)
    raise ValueError("expected a secret; set it with `pulumi config set --secret <key> <value>`")


SecretValue = Annotated[
    Secret,
    PlainValidator(_secret_value),
    PlainSerializer(lambda s: {"secure": "<redacted>"}),
    WithJsonSchema(
        {
            "description": "set with `pulumi config set --secret`",
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"secure": {"type": "string"}},
                    "required": ["secure"],
                    "additionalProperties": False,
                },
                {"type": "string"},
            ],
        }
    ),
]

# --------------------------------------------------------------------------- enums


class NetworkingMode(str, enum.Enum):
    """How pods get addresses and which dataplane moves their packets."""

    OVERLAY_CILIUM = "overlay-cilium"
    """Azure CNI Overlay + Cilium dataplane (eBPF, no kube-proxy). The default."""
    OVERLAY = "overlay"
    """Azure CNI Overlay + Azure dataplane (kube-proxy), optional Calico policy."""
    PODSUBNET_CILIUM = "podsubnet-cilium"
    """Azure CNI with pods in a dedicated VNet subnet + Cilium dataplane."""
    BYO_CILIUM = "byo-cilium"
    """networkPlugin none; Cilium OSS installed by Helm with kube-proxy replacement."""
    KUBENET = "kubenet"
    """The retired kubenet plugin: only to adopt a live kubenet cluster into a stack (``cluster.adopt``),
    so that it can be updated in place (`akshift strategy --execute`) instead of replaced."""

    @property
    def managed_cilium(self) -> bool:
        """AKS runs and manages Cilium (Azure CNI powered by Cilium)."""
        return self in (NetworkingMode.OVERLAY_CILIUM, NetworkingMode.PODSUBNET_CILIUM)

    @property
    def runs_cilium(self) -> bool:
        """Cilium is the dataplane, managed by AKS or by us."""
        return self.managed_cilium or self is NetworkingMode.BYO_CILIUM

    @property
    def uses_pod_cidr(self) -> bool:
        """Pods get addresses from a private CIDR outside the VNet (overlay or Cilium cluster-pool)."""
        return self is not NetworkingMode.PODSUBNET_CILIUM

    @property
    def uses_pod_subnet(self) -> bool:
        """Pods get VNet addresses from a dedicated subnet."""
        return self is NetworkingMode.PODSUBNET_CILIUM

    @property
    def runs_kube_proxy(self) -> bool:
        """kube-proxy forwards Services (no Cilium kube-proxy replacement)."""
        return self in (NetworkingMode.OVERLAY, NetworkingMode.KUBENET)


class NodeDnsCache(str, enum.Enum):
    """Which per-node DNS cache the stack asks for (``dns.nodeCache``)."""

    AUTO = "auto"
    LOCALDNS = "localdns"
    NODELOCALDNS = "nodelocaldns"
    NONE = "none"


# --------------------------------------------------------------------------- sections


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )


class MaintenanceWindow(_Section):
    """A weekly window in which AKS may upgrade (``aksManaged*Schedule`` maintenance configuration)."""

    day_of_week: Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    start_time: ClockTime
    duration_hours: int = Field(default=4, ge=4, le=24)
    """AKS requires at least 4 hours."""
    utc_offset: UtcOffset = "+00:00"
    interval_weeks: int = Field(default=1, ge=1, le=4)


class Maintenance(_Section):
    """When AKS may apply upgrades chosen by the upgrade channels."""

    auto_upgrade: MaintenanceWindow | None = None
    """Window for Kubernetes version upgrades (``cluster.upgradeChannel``)."""
    node_os: MaintenanceWindow | None = None
    """Window for node image / OS upgrades (``cluster.nodeOsUpgradeChannel``)."""


#: Resource log categories of an AKS cluster (Microsoft.ContainerService/managedClusters diagnostic settings).
DiagnosticCategory = Literal[
    "kube-apiserver", "kube-audit", "kube-audit-admin", "kube-controller-manager", "kube-scheduler",
    "cluster-autoscaler", "cloud-controller-manager", "guard", "csi-azuredisk-controller",
    "csi-azurefile-controller", "csi-snapshot-controller",
]
KubeloginMode = Literal["azurecli", "workloadidentity", "spn", "msi", "azd", "devicecode", "interactive"]
PollInterval = Annotated[str, _Named(r"[1-9]\d*[smh]", 'a duration such as "2m", "30s" or "1h"')]


class EntraIdConfig(_Section):
    """Entra ID (AAD) integration: users sign in with Entra ID; Azure RBAC decides what they may do."""

    enabled: bool = True
    """Off only for a cluster reached with client certificates (then the kubeconfig output is the cluster
    user's, which without Entra ID is as powerful as the admin's)."""
    azure_rbac: bool = True
    """Authorize Kubernetes requests with Azure role assignments (``enableAzureRBAC``)."""
    admin_group_object_ids: tuple[Uuid, ...] = ()
    """Entra ID groups that get cluster-admin (``adminGroupObjectIDs``)."""
    tenant_id: Uuid | None = None
    """Tenant of the users; the subscription's tenant when unset."""
    grant_deployer: bool = True
    """Grant the identity running `pulumi up` "Azure Kubernetes Service RBAC Cluster Admin" on the cluster,
    so the program can install its add-ons once local accounts are off."""
    kubelogin_login: KubeloginMode = "azurecli"
    """How the exported kubeconfig's kubelogin exec plugin signs in (``kubelogin get-token --login``):
    azurecli for people, workloadidentity/spn/msi for CI; ``AAD_LOGIN_METHOD`` overrides it per run."""


class ApiServerConfig(_Section):
    """Who can reach the API server: authorized public IP ranges, or a private cluster."""

    authorized_ip_ranges: tuple[Cidr, ...] = ()
    """Public ranges allowed to reach the API server (at most 200); empty: the internet."""
    private_cluster: bool = False
    """A private endpoint in the node VNet instead of a public API server; `pulumi up` and every kubeconfig
    user must then run from a network that reaches the VNet."""


class MonitoringConfig(_Section):
    """A Log Analytics workspace the stack declares, Container Insights and the cluster's resource logs into it."""

    retention_days: int = Field(default=30, ge=30, le=730)
    """Days the workspace keeps data (30 are included in the ingestion price; more cost extra)."""
    daily_quota_gb: float | None = Field(default=None, gt=0)
    """Cap on daily ingestion (GB); unset: no cap. Data past the cap is dropped until the next day."""
    container_insights: bool = True
    """The monitoring add-on (``omsagent``, managed-identity auth) with its data collection rule."""
    diagnostic_categories: tuple[DiagnosticCategory, ...] = ("kube-audit-admin", "guard", "cluster-autoscaler",
                                                              "kube-controller-manager")
    """Control-plane resource logs sent to the workspace; kube-audit and kube-apiserver are the costly ones."""


class ImageCleanerConfig(_Section):
    """Image Cleaner removes unused, vulnerable images from the nodes."""

    enabled: bool = False
    interval_hours: int = Field(default=168, ge=24, le=2160)


class KeyVaultSecretsProviderConfig(_Section):
    """The Azure Key Vault provider for the Secrets Store CSI driver (``azureKeyvaultSecretsProvider``)."""

    enabled: bool = False
    secret_rotation: bool = True
    rotation_poll_interval: PollInterval = "2m"


class AutoscalerProfile(_Section):
    """The cluster autoscaler's settings for every autoscaled pool; unset keys keep AKS's defaults."""

    expander: Literal["least-waste", "most-pods", "priority", "random"] | None = None
    scan_interval_seconds: int | None = Field(default=None, ge=1, le=600)
    scale_down_delay_after_add_minutes: int | None = Field(default=None, ge=0, le=1440)
    scale_down_unneeded_time_minutes: int | None = Field(default=None, ge=1, le=1440)
    scale_down_utilization_threshold: float | None = Field(default=None, gt=0, le=1)
    max_graceful_termination_seconds: int | None = Field(default=None, ge=0, le=86400)
    balance_similar_node_groups: bool | None = None
    skip_nodes_with_local_storage: bool | None = None
    skip_nodes_with_system_pods: bool | None = None


class NewCluster(_Section):
    """A cluster this program creates and owns."""

    mode: Literal["new"] = "new"
    name: ClusterName
    """The AKS resource name. Changing it replaces the cluster."""
    dns_prefix: DnsPrefix | None = None
    """API server FQDN prefix; defaults to the cluster name with '_' replaced by '-'."""
    kubernetes_version: KubernetesVersion | None = None
    """"1.36" (AKS picks the newest patch) or "1.36.2"; checked against the AKS supported-versions table
    (stacks/versions.py). Unset: AKS's default version. With an upgrade channel, AKS moves the live version
    on its own; raise this to upgrade explicitly (one minor at a time)."""
    sku_tier: Literal["Free", "Standard", "Premium"] = "Standard"
    """Free has no uptime SLA: fine for test, not for prod. Premium is required by long-term support."""
    support_plan: Literal["KubernetesOfficial", "AKSLongTermSupport"] = "KubernetesOfficial"
    """AKSLongTermSupport keeps a minor for a second year (Premium tier only)."""
    adopt: bool = False
    """Import the live cluster of this name into the stack (Pulumi ``import``) instead of creating one;
    every force-new field must match what it runs. Remove after the first `pulumi up`."""
    upgrade_channel: Literal["none", "patch", "stable", "rapid", "node-image"] = "patch"
    node_os_upgrade_channel: Literal["None", "Unmanaged", "NodeImage", "SecurityPatch"] = "NodeImage"
    maintenance: Maintenance = Maintenance()
    node_resource_group: NodeResourceGroupName | None = None
    """Name of the AKS-managed node resource group; AKS picks MC_<rg>_<cluster>_<region> when unset."""
    protect: bool = True
    """Pulumi `protect` on the cluster and its children: `pulumi destroy` and replacements are refused.
    Set false only for disposable stacks."""
    delete_created_cluster: bool = False
    """Only for renaming: when ``name`` or ``resourceGroup`` no longer name the cluster this stack created (its
    last ``clusterId`` output), Pulumi would delete that cluster and create an empty one. Refused unless this is
    true — the intent named — for that one `up`; refused while set when nothing would be deleted, so a leftover
    cannot let a later rename through."""
    entra_id: EntraIdConfig = EntraIdConfig()
    """Entra ID integration with Azure RBAC (on unless ``enabled: false``)."""
    disable_local_accounts: bool = True
    """No local (certificate) accounts: every user signs in with Entra ID; needs entraId."""
    api_server: ApiServerConfig = ApiServerConfig()
    monitoring: MonitoringConfig | None = None
    """Declares a Log Analytics workspace with Container Insights and resource logs; unset: none."""
    defender: bool = False
    """Microsoft Defender for Containers' sensor (``securityProfile.defender``), reporting to the monitoring
    workspace; the subscription's Defender for Containers plan must be on."""
    azure_policy: bool = False
    """The Azure Policy add-on (Gatekeeper): policy assignments are enforced and audited in the cluster."""
    image_cleaner: ImageCleanerConfig = ImageCleanerConfig()
    key_vault_secrets_provider: KeyVaultSecretsProviderConfig = KeyVaultSecretsProviderConfig()
    autoscaler_profile: AutoscalerProfile | None = None
    """Cluster autoscaler settings; only with at least one autoscaled pool."""

    @property
    def effective_dns_prefix(self) -> str:
        """The DNS prefix sent to AKS."""
        return self.dns_prefix or self.name.replace("_", "-")[:54].strip("-")


def _mode_tag(default: str) -> Callable[[Any], str | None]:
    def pick(value: Any) -> str | None:
        if isinstance(value, dict):
            return value.get("mode", default)
        return getattr(value, "mode", None)

    return pick


StackName = Annotated[str, _Named(
    r"(?:[A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+",
    "a stack name, fully qualified as organization/project/stack (or project/stack, or stack in this project)",
)]
OutputName = Annotated[str, _Named(r"[A-Za-z_][A-Za-z0-9_]*", "a stack output name, such as kubeconfig")]


class StackOutputRef(_Section):
    """Another stack's output, read through a Pulumi StackReference."""

    stack: StackName
    """The stack that created the cluster, e.g. organization/platform/prod."""
    output: OutputName = "kubeconfig"
    """The output holding the kubeconfig (a secret output stays secret)."""


class ExistingCluster(_Section):
    """A cluster this program did not create: it manages add-ons and migrated workloads on it."""

    mode: Literal["existing"]
    name: ClusterName
    """A label for the cluster in summaries and outputs; nothing is renamed."""
    kubeconfig: str | None = None
    """Path of a kubeconfig file, relative to the project directory; ``~`` is expanded. Set this or stackReference."""
    context: str | None = None
    """Context of the kubeconfig to use; its current-context when unset."""
    stack_reference: StackOutputRef | None = None
    """Read the kubeconfig from another stack's output instead of a file."""
    kubernetes_version: KubernetesVersion
    """The version the cluster runs ("1.34", or exact "1.34.2"): a cluster answering with another version is
    refused before anything is deployed, so workloads verified on one version never land on another unseen.
    `akshift promote` pins it from the source stack."""
    protect: bool = True
    """Pulumi `protect` on the migrated workloads: `pulumi destroy` is refused. Set false for disposable stacks."""
    delete_created_cluster: bool = False
    """Only for a stack that ran with cluster.mode new: switching it to existing makes Pulumi delete the AKS
    cluster (and network, identities) it created. Refused unless this is true — the intent named. To keep that
    cluster running instead, remove it from the state first (`pulumi state delete <its URN>`): then nothing is
    left for this to delete."""


ClusterConfig = Annotated[
    Annotated[NewCluster, Tag("new")] | Annotated[ExistingCluster, Tag("existing")],
    Discriminator(_mode_tag("new")),
]
"""``cluster``: discriminated on ``mode`` (``new`` by default, or ``existing``)."""


class SubnetConfig(_Section):
    name: SubnetName
    cidr: Cidr


class NatGatewayConfig(_Section):
    """The NAT gateway of ``outboundType: userAssignedNATGateway``, on the node (and pod) subnet."""

    public_ip_count: int = Field(default=1, ge=1, le=16)
    """Static Standard public IPs; each gives 64,512 SNAT ports."""
    idle_timeout_minutes: int = Field(default=4, ge=4, le=120)
    zone: Zone | None = None
    """A NAT gateway lives in one zone or none; unset: no zone (regional)."""


class RouteTableConfig(_Section):
    """The route table of ``outboundType: userDefinedRouting``: 0.0.0.0/0 to a firewall or appliance."""

    firewall_ip: IPv4
    """Private IP of the firewall (Azure Firewall, an NVA) that egress traffic is sent to."""


class NetworkConfig(_Section):
    """The VNet the cluster's nodes (and, in pod-subnet mode, pods) live in."""

    vnet_name: VnetName
    address_space: Cidr
    node_subnet: SubnetConfig
    pod_subnet: SubnetConfig | None = None
    """Only for networking mode podsubnet-cilium."""
    nat_gateway: NatGatewayConfig | None = None
    """Required by networking.outboundType userAssignedNATGateway; not used otherwise."""
    route_table: RouteTableConfig | None = None
    """Required by networking.outboundType userDefinedRouting; not used otherwise."""
    subnet_nsg: bool = True
    """A network security group on each subnet (Azure's default rules: VNet and load balancer in, internet
    inbound denied); AKS keeps managing its own NSG on the nodes."""


class KubeProxyConfig(_Section):
    """kube-proxy settings; only for networking mode ``overlay`` and an API version that has ``kubeProxyConfig``."""

    mode: Literal["IPTABLES", "IPVS", "NFTABLES"]
    ipvs_scheduler: Literal["RoundRobin", "LeastConnection"] | None = None


class CiliumOssConfig(_Section):
    """The Cilium Helm chart installed in ``byo-cilium`` mode."""

    version: HelmVersion = "1.18.9"
    repository: str = Field(default="https://helm.cilium.io", pattern=r"^https://\S+$")


class NetworkingConfig(_Section):
    """CNI, dataplane, policy engine and the cluster-internal address ranges."""

    mode: NetworkingMode = NetworkingMode.OVERLAY_CILIUM
    network_policy: Literal["none", "calico", "cilium"] | None = None
    """Defaults to cilium for the Cilium modes and none for overlay."""
    pod_cidr: Cidr | None = None
    """Pod range outside the VNet; required for overlay, overlay-cilium and byo-cilium."""
    service_cidr: Cidr = IPv4Network("10.0.0.0/16")
    dns_service_ip: IPv4 = Field(default=IPv4Address("10.0.0.10"), alias="dnsServiceIP")
    outbound_type: Literal["loadBalancer", "userAssignedNATGateway", "userDefinedRouting", "managedNATGateway"] = (
        "loadBalancer")
    """loadBalancer: SNAT through the cluster's load balancer. userAssignedNATGateway: a NAT gateway the
    network component declares on the node subnet (network.natGateway). userDefinedRouting: a route table
    sending 0.0.0.0/0 to a firewall (network.routeTable). managedNATGateway needs a VNet AKS manages, which a
    stack never has (it declares network), so it is refused."""
    kube_proxy: KubeProxyConfig | None = None
    cilium: CiliumOssConfig | None = None
    """Only for byo-cilium; defaults apply when omitted."""

    @property
    def effective_network_policy(self) -> str:
        """The policy engine after defaults: cilium for Cilium modes, none otherwise."""
        if self.network_policy is not None:
            return self.network_policy
        return "cilium" if self.mode.runs_cilium else "none"


class Autoscaling(_Section):
    min_count: int = Field(ge=0, le=1000)
    max_count: int = Field(ge=1, le=1000)


class NodePool(_Section):
    """One AKS agent pool. The first pool of ``nodePools`` is created with the cluster and must be a Linux System pool."""

    name: PoolName
    mode: Literal["System", "User"] = "User"
    vm_size: VmSize
    os_type: Literal["Linux", "Windows"] = "Linux"
    os_sku: Literal["AzureLinux", "AzureLinux3", "Ubuntu", "Ubuntu2204", "Windows2019", "Windows2022"] | None = None
    zones: tuple[Zone, ...] = ()
    count: int | None = Field(default=None, ge=0, le=1000)
    """Fixed node count; set either this or autoscaling."""
    autoscaling: Autoscaling | None = None
    max_pods: int = Field(default=110, ge=10, le=250)
    max_surge: MaxSurge = "10%"
    os_disk_type: Literal["Managed", "Ephemeral"] | None = None
    os_disk_size_gb: int | None = Field(default=None, ge=30, le=2048)
    node_labels: dict[str, str] = {}
    node_taints: tuple[Taint, ...] = ()

    @property
    def max_nodes(self) -> int:
        """The most nodes this pool runs outside upgrades."""
        if self.autoscaling is not None:
            return self.autoscaling.max_count
        return self.count or 0

    @property
    def surge_nodes(self) -> int:
        """Extra nodes an upgrade adds, from ``maxSurge`` (percentages round up, as AKS does)."""
        if self.max_surge.endswith("%"):
            pct = int(self.max_surge[:-1])
            return -(-self.max_nodes * pct // 100)
        return int(self.max_surge)

    @property
    def peak_nodes(self) -> int:
        """Nodes during an upgrade at full scale: what the subnets must hold."""
        return self.max_nodes + self.surge_nodes


class ManagedIdentities(_Section):
    """User-assigned managed identities for the control plane and kubelet (the default)."""

    mode: Literal["managed"] = "managed"
    acr_pull_scopes: tuple[ArmId, ...] = ()
    """Container registries (resource IDs) the kubelet identity gets AcrPull on."""


class ServicePrincipal(_Section):
    """Legacy service-principal credentials. Their secret expires and then silently breaks
    PersistentVolume and LoadBalancer provisioning; allowed only with ``allowServicePrincipal: true``."""

    mode: Literal["servicePrincipal"]
    allow_service_principal: bool = False
    client_id: Uuid
    object_id: Uuid
    """Object ID of the service principal (for its Network Contributor role assignment)."""
    secret_expires_on: _dt.date
    """Exported as a stack output so the expiry is visible before it bites."""


IdentityConfig = Annotated[
    Annotated[ManagedIdentities, Tag("managed")] | Annotated[ServicePrincipal, Tag("servicePrincipal")],
    Discriminator(_mode_tag("managed")),
]


class DnsConfig(_Section):
    """Node-level DNS caching: AKS LocalDNS where supported, NodeLocal DNSCache otherwise."""

    node_cache: NodeDnsCache = NodeDnsCache.AUTO
    """auto picks localdns when supported, else nodelocaldns when the dataplane allows it, else none."""
    local_dns_mode: Literal["Required", "Preferred"] = "Required"
    """Required installs LocalDNS and fails the pool when it cannot run. Preferred only validates the
    configuration on Kubernetes 1.31-1.36 (LocalDNS is not installed), so it is accepted from 1.37 only."""
    node_local_dns_image: ImageRef = "registry.k8s.io/dns/k8s-dns-node-cache:1.26.8"


SnapshotDigest = Annotated[str, _Named(r"sha256:[0-9a-f]{64}", "a snapshot digest, sha256:<64 hex digits> (index.json of the snapshot)")]


class WorkloadsConfig(_Section):
    """Migrated workloads the stack owns: a transformed snapshot declared object by object."""

    snapshot: str
    """Directory of a transformed snapshot (``<run>/transformed`` from `akshift transform`), relative to the
    project directory."""
    digest: SnapshotDigest | None = None
    """The digest the snapshot must have; `akshift promote` pins the one verified on the source stack, and a
    snapshot with any other content is refused."""
    verify_report: str | None = None
    """The migration's ``verify.json`` for this stack's cluster; defaults to ``verify.json`` next to the
    snapshot directory. Exported as the ``verification`` output that `akshift promote` reads."""
    age_identity_file: str | None = None
    """age identity that decrypts the snapshot's Secrets; else ``AKSHIFT_SECRET_PASSPHRASE`` is used."""


class DiskCopiesConfig(_Section):
    """Where `akshift volumes` creates the disk copies and lineage snapshots for this (green) cluster."""

    resource_group: ResourceGroupName | None = None
    """A resource group of its own; defaults to <resourceGroup>-disk-copies. Never the node resource group,
    which AKS deletes with the cluster (and with it the copies and their lineage)."""
    protect: bool = True
    """Pulumi `protect` on the group: the copies and snapshots outlive the cluster until decommission."""

    def group_for(self, resource_group: str) -> str:
        """The group's name for a stack whose resource group is ``resource_group``."""
        return self.resource_group or f"{resource_group}-disk-copies"[:90]


EndpointName = Annotated[str, _Named(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,58}[A-Za-z0-9])?",
                      "an endpoint name: letters, digits and hyphens, such as blue")]
ProfileName = Annotated[str, _Named(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
                     "a profile name: 1-63 letters, digits and hyphens, such as shop-switch")]
HostName = Annotated[str, _Named(
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]|(?:\d{1,3}\.){3}\d{1,3})",
    "a host name or IPv4 address of the cluster's ingress, such as green.shop.example.com")]


class TrafficEndpointConfig(_Section):
    """One cluster behind the traffic switch."""

    name: EndpointName
    """The endpoint's name; also its key in ``weights`` and in ``akshift cutover --from/--to``."""
    target: HostName | None = None
    """Host name or IP of the cluster's ingress (Traffic Manager external endpoint; Front Door origin)."""
    target_resource_id: ArmId | None = None
    """Resource ID of the ingress's public IP (Traffic Manager Azure endpoint; the IP needs a DNS label)."""
    host_header: HostName | None = None
    """Host header Front Door sends to the origin (default: target)."""


class TrafficProbeConfig(_Section):
    """How the switch probes each endpoint; it stops routing to one that fails."""

    protocol: Literal["HTTP", "HTTPS"] = "HTTPS"
    port: int = Field(default=443, ge=1, le=65535)
    path: str = Field(default="/healthz", pattern=r"^/\S*$")
    interval_seconds: Literal[10, 30] = 30
    timeout_seconds: int = Field(default=10, ge=5, le=10)
    tolerated_failures: int = Field(default=3, ge=0, le=9)


class TrafficConfig(_Section):
    """The weighted switch between blue and green that `akshift cutover --router pulumi` moves step by step."""

    kind: Literal["trafficManager", "frontDoor"] = "trafficManager"
    """Traffic Manager (DNS-based: keep dnsTtl low) or Front Door Standard (weighs each request at the edge)."""
    profile_name: ProfileName
    """Azure name of the profile (the Traffic Manager DNS label unless relativeDnsName is set)."""
    relative_dns_name: ProfileName | None = None
    """Traffic Manager DNS label: <label>.trafficmanager.net."""
    resource_group: ResourceGroupName | None = None
    """Resource group of the profile; defaults to the stack's resourceGroup (required with cluster.mode existing)."""
    endpoints: tuple[TrafficEndpointConfig, ...]
    """The clusters, blue first by convention; at least two."""
    weights: dict[str, int]
    """Percent of traffic by endpoint name, 0-100 (0: the endpoint stays declared but Disabled)."""
    dns_ttl: int = Field(default=30, ge=0, le=2_147_483_647)
    """Traffic Manager DNS TTL in seconds; each cutover step should hold at least twice as long."""
    probe: TrafficProbeConfig = TrafficProbeConfig()


# --------------------------------------------------------------------------- the stack


class StackConfig(_Section):
    """Everything under the ``akshift:`` namespace of a stack file."""

    location: AzureRegion | None = None
    """Required with cluster.mode new (the region of every Azure resource); not used with existing."""
    resource_group: ResourceGroupName | None = None
    """Required with cluster.mode new (created for the stack); not used with existing."""
    tags: dict[str, str] = {}
    cluster: ClusterConfig
    network: NetworkConfig | None = None
    """Required with cluster.mode new; not used with existing."""
    networking: NetworkingConfig = NetworkingConfig()
    # At least one pool with mode new: checked by stacks.rules (an existing cluster has none here).
    node_pools: tuple[NodePool, ...] = Field(default=(), json_schema_extra={"minItems": 1})
    """Required with cluster.mode new; not used with existing."""
    identity: IdentityConfig = ManagedIdentities()
    dns: DnsConfig = DnsConfig()
    service_principal_client_secret: SecretValue | None = None
    """Only with identity.mode servicePrincipal; must be a Pulumi secret."""
    workloads: WorkloadsConfig | None = None
    """Migrated workloads this stack declares on its cluster."""
    disk_copies: DiskCopiesConfig = DiskCopiesConfig()
    """With cluster.mode new: the resource group for `akshift volumes` disk copies (declared and protected)."""
    traffic: TrafficConfig | None = None
    """The blue-green traffic switch (Traffic Manager or Front Door) this stack declares, if any."""

    @property
    def max_nodes(self) -> int:
        """Nodes across all pools at full scale, excluding upgrade surge."""
        return sum(p.max_nodes for p in self.node_pools)

    @property
    def peak_nodes(self) -> int:
        """Nodes across all pools at full scale during an upgrade."""
        return sum(p.peak_nodes for p in self.node_pools)


#: Tags of the discriminated unions above; pydantic puts them in error locations, the key paths drop them.
UNION_TAGS: frozenset[str] = frozenset({"new", "existing", "managed", "servicePrincipal"})

#: The stack-file key (without the ``akshift:`` namespace) of each StackConfig field.
SECTION_KEYS: dict[str, str] = {name: (f.alias or name) for name, f in StackConfig.model_fields.items()}
