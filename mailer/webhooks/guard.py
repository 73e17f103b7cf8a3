"""The SSRF guard (API.md §9): which URLs a webhook may have, and which address a POST may reach.

A URL is `https` (`http` only with WEBHOOK_ALLOW_PRIVATE); its host is resolved (DNS_RESOLVERS when
set, else the system resolver) and every address must be public: no loopback, private, link-local,
shared (100.64/10), metadata, multicast, reserved or unspecified address. The check runs at creation
(422) and again before each delivery, and the POST then connects to the address that was checked,
so a name that later resolves elsewhere (DNS rebinding) cannot steer it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import dns.exception
import dns.resolver

from mailer.config import Config
from mailer.smtp.public_ip import is_public as is_public  # the predicate relays share (N10)


class UnsafeUrlError(ValueError):
    """The URL may not be used as a webhook (its message says why; it names no secret)."""


@dataclass(frozen=True)
class Target:
    """Where one POST goes: the URL's parts and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_syntax(url: str, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path-and-query) of an acceptable URL; UnsafeUrlError otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrlError("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeUrlError("must be an https:// URL")
    if scheme == "http" and not allow_private:
        raise UnsafeUrlError("must be https:// (http only with WEBHOOK_ALLOW_PRIVATE)")
    if not parts.hostname:
        raise UnsafeUrlError("has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("may not carry credentials")
    if parts.fragment:
        raise UnsafeUrlError("may not have a #fragment")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80), path


def resolve(host: str, port: int, config: Config) -> list[str]:
    """The host's addresses, IPv4 first; UnsafeUrlError when it resolves to none."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        if config.DNS_RESOLVERS:
            addresses = _resolve_with_dns(host, config.DNS_RESOLVERS)
        else:
            addresses = _resolve_system(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrlError(f"host does not resolve ({type(exc).__name__})") from None
    if not addresses:
        raise UnsafeUrlError("host does not resolve")
    return sorted(set(addresses), key=lambda a: (":" in a, a))


def _resolve_system(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _resolve_with_dns(host: str, resolvers: tuple[str, ...]) -> list[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, ports = [], set()
    for entry in resolvers:
        address, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        resolver.nameservers.append(address or entry)
        ports.add(int(port) if port else 53)
    resolver.port = ports.pop() if len(ports) == 1 else 53
    resolver.lifetime = 5.0
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            found.extend(r.to_text() for r in resolver.resolve(host, rdtype))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.DNSException as exc:
            raise OSError(str(exc)) from None
    return found


def check_url(url: str, config: Config) -> Target:
    """Resolve and check ``url`` now; the Target names the address to connect to."""
    scheme, host, port, path = check_syntax(url, config.WEBHOOK_ALLOW_PRIVATE)
    addresses = resolve(host, port, config)
    if not config.WEBHOOK_ALLOW_PRIVATE and not all(is_public(a) for a in addresses):
        # Which address is not said: that would map the internal network for the caller.
        raise UnsafeUrlError("resolves to a loopback, private, link-local or shared address")
    return Target(scheme, host, port, path, addresses[0])
