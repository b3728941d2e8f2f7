"""Which Kubernetes versions AKS creates clusters on, and until when: the one table, with its review date.

Why it exists: AKS refuses to create a cluster on a minor version that has left
its support window (community support, or long-term support on the Premium tier
with the ``AKSLongTermSupport`` plan), and a stack pinned to such a version
passes every other check and fails only in Azure. This module keeps the AKS
release calendar as data, dated, so :mod:`stacks.rules` can refuse the version
with the date it left support and the versions to pick instead, without Azure.

Refreshing it (do this when :data:`REVIEWED` is older than a release cycle, about
four months, or when a stack needs a version the table does not know):

1. read the calendar at :data:`SOURCE` (columns *AKS GA*, *End of life*, and
   the LTS end from the long-term support page), and
   ``az aks get-versions --location <region> --output table`` for what a region
   offers today;
2. add or correct rows of :data:`RELEASES` (months are entered as the first day
   for GA and the last day for end of life: the calendar gives months only);
3. set :data:`REVIEWED`; run ``pytest tests/unit/stacks/test_stack_config.py`` — the
   shipped stacks must still be valid today, or move them to a supported minor.

Rows whose GA lies after the review date are the calendar's plan at that date,
not facts; the rule says so when it refuses one.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import re

#: When :data:`RELEASES` was last compared with the AKS calendar.
REVIEWED = _dt.date(2026, 12, 1)
SOURCE = "https://learn.microsoft.com/azure/aks/supported-kubernetes-versions#aks-kubernetes-release-calendar"
REFRESH_HINT = ("refresh the table in stacks/versions.py from the AKS release calendar "
                "(`az aks get-versions --location <region> -o table`)")

LTS_PLAN = "AKSLongTermSupport"


@dataclasses.dataclass(frozen=True)
class MinorRelease:
    """One Kubernetes minor on AKS: when it became GA, when community support ends, when LTS ends."""

    minor: tuple[int, int]
    ga: _dt.date
    end_of_life: _dt.date
    lts_end: _dt.date

    @property
    def label(self) -> str:
        return f"{self.minor[0]}.{self.minor[1]}"


def _m(minor: int, ga: tuple[int, int], eol: tuple[int, int], lts: tuple[int, int]) -> MinorRelease:
    def last_day(y: int, m: int) -> _dt.date:
        return _dt.date(y + m // 12, m % 12 + 1, 1) - _dt.timedelta(days=1)

    return MinorRelease((1, minor), _dt.date(*ga, 1), last_day(*eol), last_day(*lts))


#: The AKS release calendar (GA month, community end-of-life month, LTS end month), oldest first.
RELEASES: tuple[MinorRelease, ...] = (
    _m(31, (2024, 11), (2025, 11), (2026, 11)),
    _m(32, (2025, 4), (2026, 3), (2027, 4)),
    _m(33, (2025, 6), (2026, 6), (2027, 6)),
    _m(34, (2025, 11), (2026, 11), (2027, 11)),
    _m(35, (2026, 3), (2027, 3), (2028, 3)),
    _m(36, (2026, 6), (2027, 6), (2028, 6)),
    _m(37, (2026, 11), (2027, 11), (2028, 11)),
)


def today() -> _dt.date:
    """The date support is judged at (the wall clock; tests pin it)."""
    return _dt.date.today()


def minor_of(version: str) -> tuple[int, int]:
    """``"1.34.2"`` → ``(1, 34)``.

    Raises:
        ValueError: When ``version`` does not start with MAJOR.MINOR.
    """
    m = re.match(r"(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(m.group(1)), int(m.group(2))


def release(minor: tuple[int, int]) -> MinorRelease | None:
    """The calendar row of a minor, None when the table does not know it."""
    return next((r for r in RELEASES if r.minor == minor), None)


def community_supported(on: _dt.date) -> list[MinorRelease]:
    """Minors GA and in community support on ``on``, oldest first."""
    return [r for r in RELEASES if r.ga <= on <= r.end_of_life]


def aks_default(on: _dt.date) -> tuple[int, int]:
    """The minor AKS picks when ``kubernetesVersion`` is unset: the newest GA minor but one (its documented habit).

    Used only to decide version-dependent features (LocalDNS, Windows OS SKUs) for a stack that leaves the
    version to AKS.
    """
    supported = community_supported(on) or list(RELEASES)
    return supported[-2].minor if len(supported) > 1 else supported[-1].minor


def unsupported_reason(version: str, *, support_plan: str, on: _dt.date) -> str | None:
    """Why AKS would not create a cluster on ``version`` on ``on``, or None when it would.

    Args:
        version: ``cluster.kubernetesVersion`` ("1.36" or "1.36.2"; only the minor is judged, AKS checks patches).
        support_plan: ``cluster.supportPlan``; LTS extends the window (a rule requires the Premium tier for it).
        on: The date to judge at.

    Returns:
        A sentence naming the window and the versions to use instead, or None.
    """
    minor = minor_of(version)
    row = release(minor)
    choices = ", ".join(f'"{r.label}"' for r in community_supported(on)) or "none known — " + REFRESH_HINT
    if row is None:
        if RELEASES and minor > RELEASES[-1].minor:
            return (f"{version} is newer than every version in akshift's supported-versions table (reviewed "
                    f"{REVIEWED}); if AKS offers it, {REFRESH_HINT}; else use one of {choices}")
        return f"{version} left AKS support long ago; use one of {choices}"
    if on < row.ga:
        planned = " (planned date)" if row.ga > REVIEWED else ""
        return f"{row.label} is not generally available on AKS before {row.ga}{planned}; use one of {choices}"
    if on <= row.end_of_life:
        return None
    if support_plan == LTS_PLAN and on <= row.lts_end:
        return None
    if on <= row.lts_end:
        return (f"{row.label} left AKS community support on {row.end_of_life}; use one of {choices}, or keep it "
                f"until {row.lts_end} with long-term support (cluster.skuTier Premium and cluster.supportPlan "
                f"{LTS_PLAN})")
    return f"{row.label} left AKS support on {row.lts_end} (LTS included); use one of {choices}"
