"""IPv4 CIDR arithmetic for cluster address planning, with no Azure or Pulumi in it.

Why it exists: every networking rule of a stack (overlaps, reserved ranges,
subnet capacity, the per-node pod blocks of Azure CNI Overlay) reduces to a few
operations on ``ipaddress.IPv4Network``. Keeping them here, pure and small,
lets the rules read as policy and lets property tests pin the arithmetic.
"""
from __future__ import annotations

import ipaddress
import math
from ipaddress import IPv4Address, IPv4Network

#: Ranges AKS forbids for the VNet, pod and service CIDRs, with the reason shown to users.
RESERVED_RANGES: tuple[tuple[IPv4Network, str], ...] = (
    (IPv4Network("169.254.0.0/16"), "link-local: Azure IMDS and node-local DNS"),
    (IPv4Network("172.30.0.0/16"), "used by AKS internally"),
    (IPv4Network("172.31.0.0/16"), "used by AKS internally"),
    (IPv4Network("192.0.2.0/24"), "TEST-NET-1, used by AKS internally"),
)

#: Azure keeps the network address, the broadcast address and three more in every subnet.
AZURE_RESERVED_PER_SUBNET = 5

#: Azure CNI Overlay (and Cilium's cluster-pool IPAM by default) give each node one /24 of the pod CIDR.
OVERLAY_NODE_PREFIX = 24


def parse_network(text: str) -> IPv4Network:
    """Parse an IPv4 CIDR, refusing host bits so a typo cannot silently widen a range.

    Args:
        text: A CIDR such as ``10.20.0.0/16``.

    Returns:
        The network.

    Raises:
        ValueError: With a message that says what to write instead.
    """
    text = str(text).strip()
    if "/" not in text:
        raise ValueError(f"{text!r} is not a CIDR; write an IPv4 network with a prefix length, like 10.20.0.0/16")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 CIDR; write it like 10.20.0.0/16") from None
    if not isinstance(net, IPv4Network):
        raise ValueError(f"{text!r} is IPv6; only IPv4 single-stack clusters are supported")
    if str(net) != text:
        raise ValueError(f"{text!r} has host bits set; did you mean {net}?")
    return net


def overlaps(a: IPv4Network, b: IPv4Network) -> bool:
    """Return True when the two networks share at least one address."""
    return a.overlaps(b)


def contains(outer: IPv4Network, inner: IPv4Network) -> bool:
    """Return True when every address of ``inner`` is in ``outer``."""
    return inner.subnet_of(outer)


def reserved_overlaps(net: IPv4Network) -> list[tuple[IPv4Network, str]]:
    """List the AKS-reserved ranges that ``net`` touches.

    Args:
        net: Any cluster range (VNet, subnet, pod or service CIDR).

    Returns:
        ``(range, reason)`` pairs, empty when ``net`` is clear of them.
    """
    return [(r, why) for r, why in RESERVED_RANGES if net.overlaps(r)]


def usable_subnet_addresses(net: IPv4Network) -> int:
    """Addresses Azure lets resources use in a subnet (total minus the 5 it keeps)."""
    return max(0, net.num_addresses - AZURE_RESERVED_PER_SUBNET)


def node_blocks(pod_cidr: IPv4Network, node_prefix: int = OVERLAY_NODE_PREFIX) -> int:
    """How many nodes a pod CIDR can serve when each node takes one ``/node_prefix`` block.

    Args:
        pod_cidr: The cluster pod CIDR (overlay or Cilium cluster-pool).
        node_prefix: Prefix length of each node's block.

    Returns:
        The number of blocks; 0 when the CIDR is smaller than one block.
    """
    if pod_cidr.prefixlen > node_prefix:
        return 0
    return 2 ** (node_prefix - pod_cidr.prefixlen)


def smallest_prefix_for(addresses: int, reserved: int = AZURE_RESERVED_PER_SUBNET) -> int:
    """The longest prefix (smallest subnet) that holds ``addresses`` plus ``reserved``.

    Args:
        addresses: Addresses needed by nodes or pods.
        reserved: Addresses the platform keeps per subnet.

    Returns:
        A prefix length between 0 and 32, used in "use a /N or larger" advice.
    """
    total = max(1, addresses + reserved)
    return max(0, 32 - math.ceil(math.log2(total)))


def smallest_prefix_for_blocks(blocks: int, node_prefix: int = OVERLAY_NODE_PREFIX) -> int:
    """The longest prefix of a pod CIDR that yields ``blocks`` per-node blocks."""
    return max(0, node_prefix - math.ceil(math.log2(max(1, blocks))))


def is_usable_host(net: IPv4Network, addr: IPv4Address) -> bool:
    """True when ``addr`` is inside ``net`` and is neither its network nor its broadcast address."""
    return addr in net and addr != net.network_address and addr != net.broadcast_address
