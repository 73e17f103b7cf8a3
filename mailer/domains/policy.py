"""Which sender addresses a tenant admin may choose (API.md §10).

An address on one of the tenant's verified domains, on the operator's MAIL_FROM domain, or on the
domain of the tenant's current sender when the tenant has not added that domain itself (the operator
set it, and is not restricted): changing the local part never reaches a domain nobody vouched for. A
domain the tenant added is accepted only while verified (review N12: once it fails or is deleted, the
sender is reset, service.release_sender, and is not grandfathered).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import bindparam, select

from mailer.config import Config
from mailer.domains.names import domain_of
from mailer.domains.versioned import AsOfVersion
from mailer.extensions import db
from mailer.models import RecordStatus, SendingDomain

_statuses: AsOfVersion[uuid.UUID, dict[str, bool]] = AsOfVersion()  # tenant id → its domain_statuses
# Built once: the statement and its cache key cost more CPU than the query (SMTP submission asks per group).
_DOMAINS = select(SendingDomain.name, SendingDomain.status).where(SendingDomain.tenant_id == bindparam("tenant"))


class SendingTenant(Protocol):
    """What the rule reads of a tenant: a Tenant, or the submission writer's lighter row of it."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def mail_from(self) -> str | None: ...


def domain_statuses(tenant_id: uuid.UUID) -> dict[str, bool]:
    """Each domain the tenant added, by name: whether it is verified (one query)."""
    return {name: status == RecordStatus.VERIFIED
            for name, status in db.session.execute(_DOMAINS, {"tenant": tenant_id})}


def domain_statuses_as_of(tenant_id: uuid.UUID, version: int) -> dict[str, bool]:
    """``domain_statuses``, read again only when ``version`` (the tenant's domains_version, read by the caller in
    its own transaction) is not the one they were read at: a domain un-verified or deleted is seen at once."""
    return _statuses.get(tenant_id, version, lambda: domain_statuses(tenant_id))


def verified_domains(tenant: SendingTenant) -> set[str]:
    return {name for name, verified in domain_statuses(tenant.id).items() if verified}


def may_send_as(config: Config, tenant: SendingTenant, address: str,
                domains: Mapping[str, bool] | None = None) -> bool:
    """``domains``: the tenant's ``domain_statuses`` when the caller has them, else they are read here."""
    domain = domain_of(address)
    if domain == domain_of(config.MAIL_FROM):
        return True
    if domains is None:
        domains = domain_statuses(tenant.id)
    if domains.get(domain, False):
        return True
    return domain not in domains and bool(tenant.mail_from) and domain == domain_of(tenant.mail_from or "")
