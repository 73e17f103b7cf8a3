"""Erasure rules: find the address's data in the tenant, replace it by the digest, audit the digest only."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select

from mailer.audit import record_audit
from mailer.config import Config
from mailer.erasure.erasers import ERASERS, REMAINDERS, Target
from mailer.extensions import atomic, db
from mailer.models import Erasure, ErasureStatus
from mailer.models.types import utcnow
from mailer.security.address_digest import address_digest, address_digests
from mailer.security.sealed import open_value, seal_value
from mailer.security.secret_box import SecretUnreadableError
from mailer.security.types import Principal
from mailer.smtp.validation import normalize_address

log = logging.getLogger(__name__)
UNREADABLE = "the pending erasure's address cannot be decrypted with SECRETS_KEY; it cannot be finished"


def request_erasure(principal: Principal, email: str) -> Erasure:
    """Erase the address from the caller's tenant now, as far as delivery allows; commits.

    Audited ``data.erased`` with the digest. The address is kept sealed (SECRETS_KEY) only while the
    erasure is pending, so that a later purge can finish it.
    """
    config: Config = current_app.config["MAILER"]
    address = normalize_address(email.strip(), field="email").lower()
    erasure_id = uuid.uuid4()
    erasure = Erasure(id=erasure_id, tenant_id=principal.tenant_id, requested_by=principal.id,
                      digest=address_digest(config, address),
                      sealed_address=seal_value(config, Erasure.sealed_address, erasure_id, address))
    db.session.add(erasure)
    with atomic():
        record_audit("data.erased", tenant_id=principal.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                     details={"erasure_id": str(erasure.id), "erased_as": erasure.digest})
        _apply(config, erasure, address)
    return erasure


def apply_pending_erasures(config: Config) -> dict[str, Any]:
    """Finish what pending erasures can now (mail delivered since); commits per erasure.

    An erasure whose sealed address no listed key opens stays pending with ``last_error`` recorded and the
    others go on (review N7): one unreadable row never stops the purge."""
    done = pending = unreadable = 0
    for erasure in db.session.scalars(select(Erasure).where(Erasure.status == ErasureStatus.PENDING)).all():
        if erasure.sealed_address is None:
            continue
        try:
            address = open_value(config, Erasure.sealed_address, erasure.id, erasure.sealed_address)
        except SecretUnreadableError:
            erasure.last_error = UNREADABLE
            db.session.commit()
            log.error(UNREADABLE, extra={"erasure_id": str(erasure.id)})
            unreadable += 1
            continue
        _apply(config, erasure, address)
        db.session.commit()
        done, pending = (done + 1, pending) if erasure.status == ErasureStatus.DONE else (done, pending + 1)
    return {"erasures_done": done, "erasures_pending": pending, "erasures_unreadable": unreadable}


def _apply(config: Config, erasure: Erasure, address: str) -> None:
    target = Target(erasure.tenant_id, address, erasure.digest, tuple(address_digests(config, address)))
    changed = {eraser.__name__: eraser(target) for eraser in ERASERS}
    left = sum(remainder(target) for remainder in REMAINDERS)
    if not left:
        erasure.status, erasure.sealed_address, erasure.finished_at = ErasureStatus.DONE, None, utcnow()
        erasure.last_error = None
    log.info("erasure applied", extra={"erasure_id": str(erasure.id), "changed": changed, "left": left})
