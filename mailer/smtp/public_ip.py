"""The one predicate for "may a tenant-chosen host be reached": relays (API.md §10) and webhooks (§9) share it.

An address is public when it is globally routable unicast, and so is any IPv4 address it carries:
IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), SIIT (``::ffff:0:a.b.c.d``), NAT64
(``64:ff9b::/96``, ``64:ff9b:1::/48``) and 6to4 (``2002::/16``). A NAT64/SIIT translator or a 6to4 relay on
the path would otherwise carry the connection to the embedded private or metadata address.
"""

from __future__ import annotations

import ipaddress

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_COMPAT = ipaddress.ip_network("::/96")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for or routes to, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _COMPAT or ip in _SIIT or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64_LOCAL:
        # RFC 6052 §2.2: a /48 prefix puts the IPv4 address in bits 48-63 and 72-95 (bits 64-71 are zero).
        value = int(ip)
        return ipaddress.IPv4Address(((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF)
    return None


def _is_public_one(ip: IpAddress) -> bool:
    return not (
        ip in _METADATA or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global or (ip.version == 4 and ip in _SHARED)
    )


def is_public(address: str) -> bool:
    """True for a globally routable unicast address that embeds no address which is not (a zone is ignored)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return _is_public_one(inner)
    return _is_public_one(ip)
