"""The DNS records a tenant publishes for a sending domain, and how each is checked.

DKIM TXT per live key (decides the domain's status), the return-path CNAME when BOUNCE_DOMAIN is
set, and SPF and DMARC advice (checked and shown, never required for signing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mailer.config import Config
from mailer.domains.keys import dkim_record_name, dkim_txt_value, matches_public_key
from mailer.domains.lookup import Lookups
from mailer.domains.names import domain_of
from mailer.models import DkimKey, RecordStatus, SendingDomain

RETURN_PATH_LABEL = "bounces"


class Purpose(StrEnum):
    DKIM = "dkim"
    RETURN_PATH = "return_path"
    SPF = "spf"
    DMARC = "dmarc"


@dataclass(frozen=True)
class DnsRecord:
    type: str
    name: str
    value: str
    status: str
    purpose: Purpose


def return_path_name(domain: str) -> str:
    return f"{RETURN_PATH_LABEL}.{domain}"


def spf_include(config: Config) -> str:
    """The domain whose SPF policy names the operator's sending hosts."""
    return config.BOUNCE_DOMAIN or domain_of(config.MAIL_FROM)


def _verified_if(matches: bool) -> RecordStatus:
    """A record that exists either says what we asked for, or something else."""
    return RecordStatus.VERIFIED if matches else RecordStatus.FAILED


def records_for(config: Config, domain: SendingDomain) -> list[DnsRecord]:
    records = [
        DnsRecord("TXT", dkim_record_name(key.selector, domain.name), dkim_txt_value(key.public_key), key.status,
                  Purpose.DKIM)
        for key in reversed(domain.keys)  # the newest first: it is the one to publish
    ]
    if config.BOUNCE_DOMAIN:
        records.append(DnsRecord("CNAME", return_path_name(domain.name), config.BOUNCE_DOMAIN,
                                 domain.return_path_status, Purpose.RETURN_PATH))
    records.append(DnsRecord("TXT", domain.name, f"v=spf1 include:{spf_include(config)} ~all", domain.spf_status,
                             Purpose.SPF))
    records.append(DnsRecord("TXT", f"_dmarc.{domain.name}", "v=DMARC1; p=none", domain.dmarc_status,
                             Purpose.DMARC))
    return records


def check_dkim(lookups: Lookups, domain: SendingDomain, key: DkimKey) -> RecordStatus:
    found = lookups.txt(dkim_record_name(key.selector, domain.name))
    if not found:
        return RecordStatus.PENDING
    return _verified_if(any(matches_public_key(txt, key.public_key) for txt in found))


def check_return_path(lookups: Lookups, config: Config, domain: SendingDomain) -> RecordStatus:
    if not config.BOUNCE_DOMAIN:
        return RecordStatus.PENDING
    found = lookups.cname(return_path_name(domain.name))
    if not found:
        return RecordStatus.PENDING
    target = config.BOUNCE_DOMAIN.rstrip(".").lower()
    return _verified_if(target in found)


def check_spf(lookups: Lookups, config: Config, domain: SendingDomain) -> RecordStatus:
    policies = [txt for txt in lookups.txt(domain.name) or () if txt.lower().startswith("v=spf1")]
    if not policies:
        return RecordStatus.PENDING
    wanted = f"include:{spf_include(config)}".lower()
    return _verified_if(any(wanted in policy.lower().split() for policy in policies))


def check_dmarc(lookups: Lookups, domain: SendingDomain) -> RecordStatus:
    policies = [txt for txt in lookups.txt(f"_dmarc.{domain.name}") or ()
                if txt.replace(" ", "").upper().startswith("V=DMARC1")]
    return RecordStatus.VERIFIED if policies else RecordStatus.PENDING
