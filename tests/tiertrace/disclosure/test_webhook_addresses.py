"""Which IP addresses webhooks may go to: IPv4 carried inside IPv6 is judged as IPv4."""

from __future__ import annotations

import pytest

from tiertrace.disclosure.notifications import is_public_address


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2a00:1450:4001::1", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"],
)
def test_public_addresses_pass_also_when_ipv6_carries_a_public_ipv4_address(address):
    assert is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the cloud metadata address
        "64:ff9b:1::808:808",  # NAT64 local-use prefix: where the IPv4 part sits is the network's choice
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "::127.0.0.1",  # IPv4-compatible (deprecated), which Python counts as global
        "::ffff:10.0.0.5",
        "fe80::1%eth0",
    ],
)
def test_ipv6_forms_of_non_public_ipv4_addresses_are_refused(address):
    assert not is_public_address(address)
