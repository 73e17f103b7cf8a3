"""Which sender addresses a tenant admin may choose (API.md §10).

An address on one of the tenant's verified domains, on the operator's MAIL_FROM domain, or on the
domain of the tenant's current sender when the tenant has not added that domain itself (the operator
set it, and is not restricted): changing the local part never reaches a domain nobody vouched for. A
domain the tenant added is accepted only while verified (review N12: once it fails or is deleted, the
sender is reset, service.release_sender, and is not grandfathered).
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
                                         SendingDomain.status == RecordStatus.VERIFIED)
    ))


def may_send_as(config: Config, tenant: Tenant, address: str) -> bool:
    domain = domain_of(address)
    if domain == domain_of(config.MAIL_FROM):
        return True
    if domain in verified_domains(tenant):
        return True
    added = db.session.scalar(select(SendingDomain.id).where(SendingDomain.tenant_id == tenant.id,
                                                             SendingDomain.name == domain))
    return added is None and bool(tenant.mail_from) and domain == domain_of(tenant.mail_from or "")
