"""CIDR arithmetic behind the address-plan rules: unit cases and hypothesis properties."""
from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacks import cidr


@st.composite
def networks(draw: st.DrawFn, min_prefix: int = 8, max_prefix: int = 30) -> IPv4Network:
    prefix = draw(st.integers(min_value=min_prefix, max_value=max_prefix))
    address = draw(st.integers(min_value=0, max_value=2**32 - 1))
    return IPv4Network((address, prefix), strict=False)


@given(networks())
def test_parsing_the_text_of_a_network_gives_the_same_network(net: IPv4Network) -> None:
    assert cidr.parse_network(str(net)) == net


@given(networks(max_prefix=31), st.integers(min_value=1, max_value=2**32 - 1))
def test_any_address_other_than_the_network_address_is_refused_as_host_bits(net: IPv4Network, offset: int) -> None:
    host = net.network_address + (offset % net.num_addresses or 1)
    with pytest.raises(ValueError, match=f"has host bits set; did you mean {net}"):
        cidr.parse_network(f"{host}/{net.prefixlen}")


@given(networks(), networks())
def test_overlap_is_symmetric(a: IPv4Network, b: IPv4Network) -> None:
    assert cidr.overlaps(a, b) == cidr.overlaps(b, a)


@given(networks(), networks())
def test_containment_implies_overlap_and_contains_only_when_larger(a: IPv4Network, b: IPv4Network) -> None:
    if cidr.contains(a, b):
        assert cidr.overlaps(a, b) and a.prefixlen <= b.prefixlen


@given(networks(max_prefix=24))
def test_subnets_of_a_network_are_contained_in_it(net: IPv4Network) -> None:
    for sub in list(net.subnets(prefixlen_diff=2))[:4]:
        assert cidr.contains(net, sub)
        assert not cidr.contains(sub, net)


@given(networks(min_prefix=8, max_prefix=24))
def test_node_blocks_cover_the_pod_cidr_exactly(net: IPv4Network) -> None:
    assert cidr.node_blocks(net) * 256 == net.num_addresses


@given(networks(min_prefix=25, max_prefix=30))
def test_pod_cidrs_smaller_than_a_24_give_no_node_block(net: IPv4Network) -> None:
    assert cidr.node_blocks(net) == 0


@given(st.integers(min_value=1, max_value=2**20))
def test_smallest_prefix_fits_the_addresses_and_one_longer_prefix_does_not(n: int) -> None:
    prefix = cidr.smallest_prefix_for(n)
    assert 2 ** (32 - prefix) - cidr.AZURE_RESERVED_PER_SUBNET >= n
    if prefix < 32:
        assert 2 ** (32 - prefix - 1) - cidr.AZURE_RESERVED_PER_SUBNET < n


@given(st.integers(min_value=1, max_value=2**16))
def test_smallest_pod_cidr_for_n_nodes_has_n_blocks_and_one_longer_does_not(n: int) -> None:
    prefix = cidr.smallest_prefix_for_blocks(n)
    assert cidr.node_blocks(IPv4Network((0, prefix))) >= n
    assert prefix == 0 or cidr.node_blocks(IPv4Network((0, prefix + 1))) < n


@given(networks())
def test_usable_addresses_are_the_total_minus_azure_reserved(net: IPv4Network) -> None:
    assert cidr.usable_subnet_addresses(net) == max(0, net.num_addresses - 5)


@given(networks())
def test_a_network_clear_of_every_reserved_range_reports_none(net: IPv4Network) -> None:
    expected = [r for r, _ in cidr.RESERVED_RANGES if net.overlaps(r)]
    assert [r for r, _ in cidr.reserved_overlaps(net)] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.0", "is not a CIDR"),
        ("10.0.0.0/33", "is not an IPv4 CIDR"),
        ("banana/16", "is not an IPv4 CIDR"),
        ("fd00::/8", "is IPv6"),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
    ],
)
def test_bad_cidr_text_is_refused_with_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?").replace(".", r"\.")):
        cidr.parse_network(text)


def test_reserved_ranges_are_the_four_aks_documents() -> None:
    assert [str(r) for r, _ in cidr.RESERVED_RANGES] == ["169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24"]


def test_usable_host_excludes_network_and_broadcast_addresses() -> None:
    net = IPv4Network("10.0.0.0/24")
    assert not cidr.is_usable_host(net, IPv4Address("10.0.0.0"))
    assert not cidr.is_usable_host(net, IPv4Address("10.0.0.255"))
    assert cidr.is_usable_host(net, IPv4Address("10.0.0.10"))
    assert not cidr.is_usable_host(net, IPv4Address("10.0.1.10"))
