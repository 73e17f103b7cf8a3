"""Which sender addresses a tenant admin may choose (API.md §10).

An address on one of the tenant's verified domains, on the operator's MAIL_FROM domain, or on the
domain of the tenant's current sender (set by the operator, who is not restricted, or already checked):
changing the local part never reaches a domain nobody vouched for.
"""

from __future__ import annotations

from sqlalchemy import select

from mailer.config import Config
from mailer.domains.names import domain_of
from mailer.extensions import db
from mailer.models import RecordStatus, SendingDomain, Tenant


def verified_domains(tenant: Tenant) -> set[str]:
    return set(db.session.scalars(
        select(SendingDomain.name).where(SendingDomain.tenant_id == tenant.id,
                                         SendingDomain.status == RecordStatus.VERIFIED.value)
    ))


def may_send_as(config: Config, tenant: Tenant, address: str) -> bool:
    domain = domain_of(address)
    if domain == domain_of(config.MAIL_FROM):
        return True
    if tenant.mail_from and domain == domain_of(tenant.mail_from):
        return True
    return domain in verified_domains(tenant)
