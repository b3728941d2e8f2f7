"""Pulumi components that declare an AKS cluster and what it needs, one ComponentResource per module.

Why it is a package of its own: it is the only place that imports
pulumi-azure-native (enforced by ``.importlinter``). Components take plain
values (sections of the validated stack config, enums) for anything that
decides *which* resources exist and ``pulumi.Input`` for values wired from
other resources; they never read ``pulumi.Config()``. What the resources
contain comes from the pure builders in :mod:`components.profiles` and
:mod:`components.manifests`.

Import the component you need from its module (``from components.cluster
import AksCluster``); this package does not import them eagerly, so loading a
pure builder does not load the Azure SDK.
"""
