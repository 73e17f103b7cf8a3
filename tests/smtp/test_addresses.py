"""The SSRF guard's address classes (smtp/addresses.py): only globally routable unicast passes."""

from __future__ import annotations

import pytest

from mailer.smtp.addresses import PrivateAddressError, is_public, public_addresses


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1",
                                     "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "192.0.2.1"])
def test_private_loopback_link_local_shared_and_reserved_are_not_public(address):
    """Loopback, RFC 1918, link-local, shared 100.64/10, unspecified, multicast, mapped and documentation ranges."""
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_unicast_is_public(address):
    """Globally routable addresses pass (also IPv4-mapped)."""
    assert is_public(address)


def test_a_name_resolving_to_loopback_or_nothing_is_refused():
    """localhost resolves to loopback; a name that does not resolve is refused too; a public literal passes."""
    with pytest.raises(PrivateAddressError):
        public_addresses("localhost", 25)
    with pytest.raises(PrivateAddressError):
        public_addresses("no-such-host.invalid", 25)
    assert public_addresses("8.8.8.8", 25) == ["8.8.8.8"]
