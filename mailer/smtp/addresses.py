"""Which addresses a tenant-chosen host may reach (the SSRF guard of API.md §10).

A host chosen by a tenant (its relay) must not lead the service to its own loopback, a private
network, link-local metadata endpoints or shared address space. The check resolves the name and
refuses it if *any* address is not public, and the caller connects to an address it checked, so a
name that resolves differently a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import socket

from mailer.smtp.public_ip import is_public


class PrivateAddressError(OSError):
    """The host is, or resolves to, an address that is not publicly routable (or does not resolve)."""


def public_addresses(host: str, port: int) -> list[str]:
    """The host's addresses, all public; raises PrivateAddressError otherwise (or when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise PrivateAddressError(f"the host {host!r} does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [address for address in addresses if not is_public(address)]
    if refused or not addresses:
        raise PrivateAddressError(f"the host {host!r} resolves to a loopback, private or reserved address")
    return addresses
