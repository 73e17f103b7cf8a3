"""Sending domain rules. Each function owns its commit and writes an audit event (never a key)."""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import update

from mailer.audit import record_audit
from mailer.config import Config
from mailer.domains.keys import new_dkim_key
from mailer.domains.lookup import DnsUnavailableError, Lookups, config_resolver
from mailer.domains.names import DomainNameError, domain_of, normalize_domain
from mailer.domains.records import check_dkim, check_dmarc, check_return_path, check_spf
from mailer.errors import UnavailableError, ValidationError
from mailer.extensions import atomic, db
from mailer.models import ActorType, DkimKey, RecordStatus, SendingDomain, Tenant
from mailer.models.types import utcnow
from mailer.security.scope import get_owned, tenant_select
from mailer.security.sealed import seal_value
from mailer.security.types import Principal


def _config() -> Config:
    return current_app.config["MAILER"]


def _audit(principal: Principal, action: str, domain: SendingDomain, **details: object) -> None:
    record_audit(action, tenant_id=principal.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                 details={"domain_id": str(domain.id), "name": domain.name, **details})


def _changed(domain: SendingDomain) -> None:
    """Every change to a domain or its keys raises the tenant's domains_version in its transaction, which
    makes every process look its DKIM signer up again (domains/signing.py) from its next transaction on."""
    db.session.execute(
        update(Tenant).where(Tenant.id == domain.tenant_id).values(domains_version=Tenant.domains_version + 1)
        .execution_options(synchronize_session=False)
    )


def _add_key(config: Config, domain: SendingDomain) -> DkimKey:
    taken = {key.selector for key in domain.keys}
    key = new_dkim_key()
    while key.selector in taken:
        key = new_dkim_key()
    key_id = uuid.uuid4()
    row = DkimKey(id=key_id, tenant_id=domain.tenant_id, selector=key.selector, public_key=key.public_key,
                  private_key_sealed=seal_value(config, DkimKey.private_key_sealed, key_id, key.private_pem),
                  status=RecordStatus.PENDING, created_at=utcnow())
    domain.keys.append(row)
    return row


def create_domain(principal: Principal, name: str) -> SendingDomain:
    try:
        normalized = normalize_domain(name)
    except DomainNameError as exc:
        raise ValidationError(errors=[{"field": "name", "message": str(exc)}]) from None
    exists = db.session.scalars(tenant_select(SendingDomain).where(SendingDomain.name == normalized)).first()
    if exists is not None:
        raise ValidationError(errors=[{"field": "name", "message": "the tenant already has this domain"}])
    domain = SendingDomain(id=uuid.uuid4(), tenant_id=principal.tenant_id, name=normalized,
                           status=RecordStatus.PENDING, created_at=utcnow())
    db.session.add(domain)
    key = _add_key(_config(), domain)
    db.session.flush()
    with atomic():
        _changed(domain)
        _audit(principal, "domain.created", domain, dkim_selector=key.selector)
    return domain


Found = dict[tuple[str, str], list[str] | None]  # (type, name) → what the resolvers returned (None: nothing)


def check_domain(principal: Principal, domain_id: str) -> tuple[SendingDomain, Found]:
    """Look every record up now and store each status; the domain and what the resolvers returned for each
    record. 503 (nothing changed) when DNS cannot answer."""
    domain = get_owned(SendingDomain, domain_id)
    with atomic():
        try:
            found = recheck(_config(), domain, actor_id=principal.id, actor_type=principal.kind)
        except DnsUnavailableError as exc:
            raise UnavailableError(f"{exc}; nothing was changed, try again later") from None
    return domain, found


def recheck(config: Config, domain: SendingDomain, *, actor_id: uuid.UUID | None = None,
            actor_type: ActorType = ActorType.SYSTEM) -> Found:
    """Look the domain's records up and store their statuses (the caller commits); what the resolvers returned.
    A domain that is no longer verified stops being the tenant's sender (``release_sender``).
    DnsUnavailableError changes nothing.

    Used by ``POST …/verify``, the console's "Check now" and the daily re-verification (domains.recheck):
    a DNS proof is not forever."""
    lookups = Lookups(config_resolver(config))
    found = {key.id: check_dkim(lookups, domain, key) for key in domain.keys}
    others = (check_return_path(lookups, config, domain), check_spf(lookups, config, domain),
              check_dmarc(lookups, domain))
    before = domain.status
    _apply(domain, found)
    domain.return_path_status, domain.spf_status, domain.dmarc_status = others
    _changed(domain)
    if domain.status != before:
        record_audit("domain.status_changed", tenant_id=domain.tenant_id, actor_id=actor_id, actor_type=actor_type,
                     details={"domain_id": str(domain.id), "name": domain.name, "before": before,
                              "after": domain.status})
    if domain.status != RecordStatus.VERIFIED:
        release_sender(domain, actor_id=actor_id, actor_type=actor_type)
    return lookups.seen


def release_sender(domain: SendingDomain, *, actor_id: uuid.UUID | None, actor_type: ActorType) -> None:
    """A tenant whose ``mail_from`` is on this domain, now failed, pending or deleted, falls back to the
    operator's MAIL_FROM (review N12): nobody vouches for that domain any more. Audited; the caller commits."""
    tenant = db.session.get(Tenant, domain.tenant_id)
    if tenant is None or not tenant.mail_from or domain_of(tenant.mail_from) != domain.name:
        return
    tenant.mail_from = None
    record_audit("tenant.mail_from_reset", tenant_id=tenant.id, actor_id=actor_id, actor_type=actor_type,
                 details={"domain_id": str(domain.id), "name": domain.name, "status": domain.status})


def _apply(domain: SendingDomain, found: dict[uuid.UUID, RecordStatus]) -> None:
    """Key and domain statuses; once the newest key verifies, the keys it replaces are dropped."""
    now = utcnow()
    for key in domain.keys:
        status = found[key.id]
        if status is RecordStatus.VERIFIED and key.status != status:
            key.verified_at = now
        key.status = status
    newest = domain.keys[-1]
    if newest.status == RecordStatus.VERIFIED:
        for old in domain.keys[:-1]:
            domain.keys.remove(old)
    if any(key.status == RecordStatus.VERIFIED for key in domain.keys):
        status = RecordStatus.VERIFIED
    else:
        status = RecordStatus.FAILED if newest.status == RecordStatus.FAILED else RecordStatus.PENDING
    if status is RecordStatus.VERIFIED and domain.status != status:
        domain.verified_at = now
    elif status is not RecordStatus.VERIFIED:
        domain.verified_at = None
    domain.status = status
    domain.checked_at = now


def rotate_dkim(principal: Principal, domain_id: str) -> SendingDomain:
    """A new selector and key; verified keys keep signing until the new one verifies (unverified ones go)."""
    domain = get_owned(SendingDomain, domain_id)
    with atomic():
        for key in list(domain.keys):
            if key.status != RecordStatus.VERIFIED:
                domain.keys.remove(key)
        key = _add_key(_config(), domain)
        if not any(k.status == RecordStatus.VERIFIED for k in domain.keys):
            domain.status = RecordStatus.PENDING
            release_sender(domain, actor_id=principal.id, actor_type=principal.kind)
        db.session.flush()
        _changed(domain)
        _audit(principal, "domain.dkim_rotated", domain, dkim_selector=key.selector)
    return domain


def delete_domain(principal: Principal, domain_id: str) -> None:
    """The domain and its keys; mail From it is no longer signed."""
    domain = get_owned(SendingDomain, domain_id)
    with atomic():
        _changed(domain)
        _audit(principal, "domain.deleted", domain)
        release_sender(domain, actor_id=principal.id, actor_type=principal.kind)
        db.session.delete(domain)



