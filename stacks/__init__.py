"""Stack configuration for the akshift Pulumi program: model, rules, loader, schema.

Why it is a package of its own: the configuration is read in two places —
``pulumi up`` (``__main__.py``) and ``akshift config validate`` (no Pulumi
installed or wanted) — so it must not import Pulumi or ``components``
(enforced by ``.importlinter``). Its stack files live here too
(``stackConfigDir: stacks`` in Pulumi.yaml).
"""
from stacks.errors import ClusterReplacementError, ConfigError, Problem
from stacks.loader import decode_engine_config, load, load_stack_file, problems_of, read_stack_file
from stacks.model import NetworkingMode, NodeDnsCache, StackConfig

__all__ = [
    "ClusterReplacementError",
    "ConfigError",
    "NetworkingMode",
    "NodeDnsCache",
    "Problem",
    "StackConfig",
    "decode_engine_config",
    "load",
    "load_stack_file",
    "problems_of",
    "read_stack_file",
]
