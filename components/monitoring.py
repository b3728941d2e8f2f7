"""``ClusterMonitoring``: the Log Analytics workspace a stack declares, and what sends to it from the cluster.

Why it is shaped so: the ManagedCluster needs the workspace's ID (the Container
Insights add-on, Defender) and the cluster's resource logs and Container
Insights association need the cluster's ID. So the component is built in two
steps that never create resources inside ``apply``: the constructor declares the
workspace and the Container Insights data collection rule (before the cluster),
and :meth:`ClusterMonitoring.attach` declares the diagnostic setting and the
rule's association on the cluster (after it), as children of the same
component. What each body contains comes from :mod:`components.baseline`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pulumi
from pulumi_azure_native import monitor, operationalinsights

from components import baseline
from stacks.model import MonitoringConfig

TOKEN = "akshift:index:ClusterMonitoring"


@dataclasses.dataclass(frozen=True)
class ClusterMonitoringArgs:
    """Inputs of :class:`ClusterMonitoring`.

    Attributes:
        resource_group_name: Resource group of the workspace (the stack's group).
        location: Azure region.
        cluster_name: ``cluster.name`` (names the workspace and the rule).
        monitoring: ``cluster.monitoring``.
        tags: Tags for the workspace and the rule.
    """

    resource_group_name: pulumi.Input[str]
    location: str
    cluster_name: str
    monitoring: MonitoringConfig
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


class ClusterMonitoring(pulumi.ComponentResource):
    """A Log Analytics workspace, the Container Insights rule, and (after :meth:`attach`) the cluster's logs.

    Outputs:
        workspace_id: The workspace's resource ID (for the add-on and Defender).
        workspace_name: Its name.
    """

    def __init__(self, name: str, args: ClusterMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TOKEN, name, None, opts)
        self._name = name
        self._args = args
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        self.workspace = operationalinsights.Workspace(
            f"{name}-workspace", resource_group_name=args.resource_group_name,
            **baseline.workspace_inputs(args.monitoring, baseline.workspace_name(args.cluster_name), args.location,
                                        tags),
            opts=child)
        self.workspace_id: pulumi.Output[str] = self.workspace.id
        self.workspace_name: pulumi.Output[str] = self.workspace.name
        self.rule: monitor.DataCollectionRule | None = None
        if args.monitoring.container_insights:
            self.rule = monitor.DataCollectionRule(
                f"{name}-container-insights", resource_group_name=args.resource_group_name,
                **baseline.container_insights_rule_inputs(f"MSCI-{args.location}-{args.cluster_name}"[:64],
                                                          args.location, self.workspace_id, tags),
                opts=child)
        self.diagnostic_setting: monitor.DiagnosticSetting | None = None
        self.association: monitor.DataCollectionRuleAssociation | None = None
        self.register_outputs({"workspaceId": self.workspace_id, "workspaceName": self.workspace_name})

    def attach(self, cluster_id: pulumi.Input[str]) -> None:
        """Send the cluster's resource logs to the workspace and associate the Container Insights rule.

        Args:
            cluster_id: The ManagedCluster's resource ID.
        """
        child = pulumi.ResourceOptions(parent=self)
        setting = baseline.diagnostic_setting_inputs(self._args.monitoring, "akshift-to-workspace", cluster_id,
                                                     self.workspace_id)
        if setting is not None:
            self.diagnostic_setting = monitor.DiagnosticSetting(f"{self._name}-diagnostics", **setting, opts=child)
        if self.rule is not None:
            self.association = monitor.DataCollectionRuleAssociation(
                f"{self._name}-container-insights-association",
                association_name=baseline.CONTAINER_INSIGHTS_ASSOCIATION, resource_uri=cluster_id,
                data_collection_rule_id=self.rule.id, opts=child)
