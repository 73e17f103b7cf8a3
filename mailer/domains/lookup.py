"""DNS lookups for domain verification (dnspython), through DNS_RESOLVERS when set.

A name that does not exist or has no record of the type is *missing* (the record is pending);
a resolver that cannot answer (timeout, SERVFAIL, none reachable) is a DnsUnavailableError:
nothing is concluded from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from mailer.config import Config

log = logging.getLogger(__name__)
LOOKUP_SECONDS = 5.0


class DnsUnavailableError(RuntimeError):
    """The resolvers gave no usable answer."""


def parse_resolver(spec: str) -> tuple[str, int]:
    """'ip', 'ip:port', '[v6]:port' or a bare IPv6 address → (ip, port)."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if spec.count(":") == 1:
        host, _, port = spec.partition(":")
        return host, int(port)
    return spec, 53


def make_resolver(resolvers: Sequence[str]) -> dns.resolver.Resolver:
    """A resolver using ``resolvers`` (ip[:port]), or the system's configuration when empty."""
    try:
        if not resolvers:
            resolver = _BoundedResolver()
        else:
            resolver = _BoundedResolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_resolver(spec)) for spec in resolvers]
    except (ValueError, dns.exception.DNSException) as exc:
        log.error("DNS_RESOLVERS cannot be used: %s", exc)
        raise DnsUnavailableError("no usable DNS resolver is configured") from exc
    resolver.until = time.monotonic() + LOOKUP_SECONDS
    resolver.lifetime = LOOKUP_SECONDS
    resolver.timeout = LOOKUP_SECONDS / 2
    resolver.cache = None
    return resolver


class _BoundedResolver(dns.resolver.Resolver):
    """A resolver for one verification: all its lookups together answer within LOOKUP_SECONDS (API.md §10, N8)."""

    until = 0.0


def _remaining(resolver: dns.resolver.Resolver) -> float:
    until = getattr(resolver, "until", 0.0)
    return until - time.monotonic() if until else LOOKUP_SECONDS


def config_resolver(config: Config) -> dns.resolver.Resolver:
    return make_resolver(config.DNS_RESOLVERS)


def _answers(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[object] | None:
    remaining = _remaining(resolver)
    if remaining <= 0:
        raise DnsUnavailableError(f"DNS lookups took longer than {LOOKUP_SECONDS:g} s")
    try:
        return list(resolver.resolve(dns.name.from_text(name), rdtype, search=False, lifetime=remaining))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.DNSException as exc:
        log.warning("DNS lookup failed", extra={"dns_name": name, "rdtype": rdtype, "error": type(exc).__name__})
        raise DnsUnavailableError(f"the DNS lookup of {name} {rdtype} failed") from exc


def lookup_txt(resolver: dns.resolver.Resolver, name: str) -> list[str] | None:
    """Each TXT record's strings joined (a long DKIM key is split in 255-byte strings); None when missing."""
    answers = _answers(resolver, name, "TXT")
    if answers is None:
        return None
    return [b"".join(answer.strings).decode("utf-8", "replace") for answer in answers]  # type: ignore[attr-defined]


def lookup_cname(resolver: dns.resolver.Resolver, name: str) -> list[str] | None:
    answers = _answers(resolver, name, "CNAME")
    if answers is None:
        return None
    return [answer.target.to_text(omit_final_dot=True).lower() for answer in answers]  # type: ignore[attr-defined]


class Lookups:
    """Lookups through one resolver that remember what each returned, so a check can show what the
    resolvers said beside what is expected (the console's "Check now", the verify answer's ``found``)."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        self.seen: dict[tuple[str, str], list[str] | None] = {}

    def txt(self, name: str) -> list[str] | None:
        found = self.seen[("TXT", name)] = lookup_txt(self.resolver, name)
        return found

    def cname(self, name: str) -> list[str] | None:
        found = self.seen[("CNAME", name)] = lookup_cname(self.resolver, name)
        return found
