"""The akshift Pulumi program: read the stack config once, compose the components, export outputs.

Why it is this short: everything with a decision in it lives in ``stacks``
(what a valid config is) or ``components`` (what resources that means), where
it is tested; this file only wires them (see docs/components.md).
"""
import pulumi
from pulumi.runtime import config as engine

import stacks
from components.addons import ClusterAddons, ClusterAddonsArgs
from components.cluster import AksCluster, AksClusterArgs
from components.identity import ClusterIdentity, ClusterIdentityArgs
from components.network import ClusterNetwork, ClusterNetworkArgs
from components.resource_group import ClusterResourceGroup, ClusterResourceGroupArgs
from stacks.capabilities import resolve_node_dns_cache

NAME = "aks"  # logical-name prefix of every resource: never change it (a rename needs aliases)

# pulumi.Config cannot list keys, and unknown keys must fail `pulumi up` too, so read the raw map.
raw = {**engine.get_config_env(), **engine.CONFIG.get()}
secret_keys = set(engine.get_config_secret_keys_env()) | {k for k in raw if engine.is_config_secret(k)}
try:
    cfg = stacks.load(stacks.decode_engine_config(raw), secret_keys=secret_keys, namespace=pulumi.get_project())
except stacks.ConfigError as e:
    raise pulumi.RunError(f"invalid stack configuration, nothing was deployed:\n{e}") from None

# The stack's own last outputs: the networking mode its cluster runs (None before the first deploy).
deployed_mode = pulumi.StackReference(
    f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
).get_output("networkingMode")

guarded = pulumi.ResourceOptions(protect=cfg.cluster.protect)
tags = {**cfg.tags, "akshift-stack": pulumi.get_stack()}
node_dns = resolve_node_dns_cache(cfg.dns.node_cache, cfg.networking.mode, cfg.cluster.kubernetes_version)
secret = cfg.service_principal_client_secret

rg = ClusterResourceGroup(NAME, ClusterResourceGroupArgs(cfg.resource_group, cfg.location, tags), opts=guarded)
net = ClusterNetwork(NAME, ClusterNetworkArgs(rg.name, cfg.location, cfg.network, tags), opts=guarded)
ids = ClusterIdentity(NAME, ClusterIdentityArgs(
    cfg.identity, cfg.cluster.name, rg.name, cfg.location, net.subnet_ids,
    pulumi.Output.secret(secret.value) if secret is not None and secret.value else None, tags), opts=guarded)
cluster = AksCluster(NAME, AksClusterArgs(
    rg.name, cfg.location, cfg.cluster, cfg.networking, cfg.node_pools, node_dns, net.node_subnet_id, ids.refs,
    local_dns_mode=cfg.dns.local_dns_mode, pod_subnet_id=net.pod_subnet_id, deployed_networking_mode=deployed_mode,
    depends_on=ids.role_assignments, tags=tags), opts=guarded)
addons = ClusterAddons(NAME, ClusterAddonsArgs(cluster.kubeconfig, cluster.fqdn, cfg.networking, node_dns, cfg.dns))

pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("clusterName", cluster.name)
pulumi.export("clusterId", cluster.id)
pulumi.export("nodeResourceGroup", cluster.node_resource_group)
pulumi.export("oidcIssuerUrl", cluster.oidc_issuer_url)
pulumi.export("networkingMode", cluster.networking_mode)
if cfg.identity.mode == "servicePrincipal":
    pulumi.export("servicePrincipalSecretExpiresOn", cfg.identity.secret_expires_on.isoformat())
