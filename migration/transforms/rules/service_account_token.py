"""Service-account token Secrets: drop the generated ones, recreate hand-made ones empty.

Why: a token is signed by the old cluster's service-account key and is useless
on the target. Tokens the old token controller generated (``<sa>-token-xxxxx``,
listed in the ServiceAccount before 1.24) are simply left out: the target does
not need them. A token Secret a user created on purpose (any other name) is
intent worth keeping — the target's token controller fills a new token into
it — so it is kept without its ``data`` and without the
``kubernetes.io/service-account.uid`` annotation, which names the old
ServiceAccount's uid (the controller deletes token Secrets whose uid does not
match, so the stale uid would make the Secret vanish).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kube.objects import ObjectRef
from migration.findings import token_reissued
from migration.transforms.base import TransformResult, remove
from migration.transforms.context import TransformContext

TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
# The legacy token controller named its Secrets <sa>-token-<5 random chars>,
# drawn from the alphabet of apimachinery's rand.String.
_GENERATED_SUFFIX = re.compile(r"-token-[bcdfghjklmnpqrstvwxz2456789]{5}")


def applies_to(obj: Mapping[str, Any], ctx: TransformContext) -> bool:
    """Core Secrets of type kubernetes.io/service-account-token."""
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1" and obj.get("type") == TOKEN_TYPE


def run(obj: dict[str, Any], ctx: TransformContext) -> TransformResult:
    """Exclude generated tokens; strip data and the old uid from hand-made ones."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    account = annotations.get(SA_NAME_ANNOTATION, "")
    name = meta.get("name") or ""
    if account and name.startswith(account) and _GENERATED_SUFFIX.fullmatch(name[len(account):]):
        return TransformResult.exclude(
            f"token generated for ServiceAccount {account} by the old token controller; "
            "the target issues its own")
    ops = []
    if "data" in obj:
        ops.append(remove("data"))
    if SA_UID_ANNOTATION in annotations:
        ops.append(remove("metadata", "annotations", SA_UID_ANNOTATION))
    return TransformResult.patch(ops, [token_reissued(ObjectRef.of(obj))])
