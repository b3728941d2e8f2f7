"""Azure's names for volumes: managed disk ids, Azure Files handles, zones, sizes, and the copies' names.

Why apart: these are the string formats Azure and its CSI drivers define (ARM
ids, ``rg#account#share`` handles, ``westeurope-2`` zone labels, GiB sizes);
parsing them in one place keeps the plan about decisions. Pure functions,
doctested.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

from kube.objects import quantity

_DISK_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
                      r"/providers/Microsoft\.Compute/disks/(?P<name>[^/]+)$", re.IGNORECASE)
_AZURE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclasses.dataclass(frozen=True)
class DiskId:
    subscription: str
    resource_group: str
    name: str


def parse_disk_id(value: str) -> DiskId | None:
    """Split a managed disk's ARM id; None when ``value`` is not one (a VHD blob URL, garbage).

    >>> parse_disk_id("/subscriptions/s/resourceGroups/MC_rg/providers/Microsoft.Compute/disks/pvc-1")
    DiskId(subscription='s', resource_group='MC_rg', name='pvc-1')
    >>> parse_disk_id("https://acct.blob.core.windows.net/vhds/disk.vhd") is None
    True
    """
    m = _DISK_ID.match(value or "")
    return DiskId(m["sub"], m["rg"], m["name"]) if m else None


@dataclasses.dataclass(frozen=True)
class ShareId:
    resource_group: str
    account: str
    share: str
def parse_share_handle(handle: str, attributes: Mapping[str, str] | None = None) -> ShareId | None:
    """The Azure Files share of a ``file.csi.azure.com`` volume.

    The driver's handle is ``<rg>#<account>#<share>#<disk>#<uuid>#<secret namespace>`` (trailing
    parts optional); static PVs may name the share in ``volumeAttributes`` instead, which wins.

    >>> parse_share_handle("MC_rg#fshop01#media#")
    ShareId(resource_group='MC_rg', account='fshop01', share='media')
    >>> parse_share_handle("anything", {"storageAccount": "acct", "shareName": "s"})
    ShareId(resource_group='', account='acct', share='s')
    """
    attrs = {k.lower(): v for k, v in (attributes or {}).items()}
    parts = (handle or "").split("#")
    rg = attrs.get("resourcegroup") or (parts[0] if len(parts) >= 3 else "")
    account = attrs.get("storageaccount") or (parts[1] if len(parts) >= 3 else "")
    share = attrs.get("sharename") or (parts[2] if len(parts) >= 3 else "")
    return ShareId(rg, account, share) if account and share else None


def zone_number(label: str | None) -> str | None:
    """Azure's zone number from a node zone label; None for a regional (non-zonal) label.

    AKS labels zonal nodes ``<region>-<n>`` and non-zonal ones with the fault domain (``0``).

    >>> zone_number("westeurope-2"), zone_number("0"), zone_number(""), zone_number("3")
    ('2', None, None, '3')
    """
    if not label or label == "0":
        return None
    tail = label.rsplit("-", 1)[-1]
    return tail if tail.isdigit() and tail != "0" else None


def size_gib(value: Any) -> int | None:
    """A capacity quantity in whole GiB, rounded up (Azure sizes disks in GiB).

    >>> size_gib("64Gi"), size_gib("100G"), size_gib("nope")
    (64, 94, None)
    """
    q = quantity(value)
    return None if q is None else int(math.ceil(q / (1 << 30)))


def azure_names(source_disk_id: str, source_name: str) -> tuple[str, str]:
    """Deterministic snapshot and disk names for a copy of one source disk.

    Derived from the source id (hash) and name, so a rerun asks for the same resources (idempotent),
    two source disks never collide, and Azure's 80-character limit holds.

    >>> azure_names("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/pvc-1", "pvc-1")
    ('pvc-1-94940a08-akshift-snap', 'pvc-1-94940a08-akshift')
    """
    h = hashlib.sha256(source_disk_id.lower().encode()).hexdigest()[:8]
    base = f"{_AZURE_NAME.sub('-', source_name)[:50]}-{h}"
    return f"{base}-akshift-snap", f"{base}-akshift"


def region_of_zone(label: str | None) -> str | None:
    """The region of a zone label (``westeurope-2`` → ``westeurope``); None for a regional label.

    >>> region_of_zone("westeurope-2"), region_of_zone("0")
    ('westeurope', None)
    """
    return label.rsplit("-", 1)[0] if label and zone_number(label) and "-" in label else None


__all__ = ["DiskId", "ShareId", "azure_names", "parse_disk_id", "parse_share_handle", "region_of_zone", "size_gib",
           "zone_number"]
