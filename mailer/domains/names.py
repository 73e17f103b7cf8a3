"""Domain names as the service stores and compares them: lower-case IDNA ASCII, no trailing dot."""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_DOMAIN_LENGTH = 253


class DomainNameError(ValueError):
    """Not a domain name a tenant can send from."""


def normalize_domain(value: str) -> str:
    """The A-label form of ``value``; raises DomainNameError for anything that is not a public-style name."""
    name = value.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        raise DomainNameError("must be a domain name, not an IP address")
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise DomainNameError("not a valid internationalized domain name") from None
    labels = name.split(".")
    if len(name) > MAX_DOMAIN_LENGTH or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise DomainNameError("must be a domain name such as example.com (letters, digits, dashes, dots)")
    if labels[-1].isdigit():
        raise DomainNameError("the top-level label cannot be numeric")
    return name


def domain_of(address: str) -> str:
    """The domain of an envelope address, in the stored form (best effort, for comparisons)."""
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return domain
