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
from mailer.extensions import db
from mailer.models import Erasure, ErasureStatus
from mailer.models.types import utcnow
from mailer.security.address_digest import address_digest, address_digests
from mailer.security.secret_box import secret_box
from mailer.security.types import Principal
from mailer.smtp.validation import normalize_address

log = logging.getLogger(__name__)


def request_erasure(principal: Principal, email: str) -> Erasure:
    """Erase the address from the caller's tenant now, as far as delivery allows; commits.

    Audited ``data.erased`` with the digest. The address is kept sealed (SECRETS_KEY) only while the
    erasure is pending, so that a later purge can finish it.
    """
    config: Config = current_app.config["MAILER"]
    address = normalize_address(email.strip(), field="email").lower()
    erasure = Erasure(id=uuid.uuid4(), tenant_id=principal.tenant_id, requested_by=principal.id,
                      digest=address_digest(config.SECRETS_KEY, address),
                      sealed_address=secret_box(config.SECRETS_KEY).seal(address))
    db.session.add(erasure)
    record_audit("data.erased", tenant_id=principal.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                 details={"erasure_id": str(erasure.id), "erased_as": erasure.digest})
    _apply(config, erasure, address)
    db.session.commit()
    return erasure


def apply_pending_erasures(config: Config) -> dict[str, Any]:
    """Finish what pending erasures can now (mail delivered since); commits per erasure."""
    done = pending = 0
    box = secret_box(config.SECRETS_KEY)
    for erasure in db.session.scalars(select(Erasure).where(Erasure.status == ErasureStatus.PENDING.value)).all():
        if erasure.sealed_address is None:
            continue
        _apply(config, erasure, box.open(erasure.sealed_address))
        db.session.commit()
        done, pending = (done + 1, pending) if erasure.status == ErasureStatus.DONE.value else (done, pending + 1)
    return {"erasures_done": done, "erasures_pending": pending}


def _apply(config: Config, erasure: Erasure, address: str) -> None:
    target = Target(erasure.tenant_id, address, erasure.digest, tuple(address_digests(config.SECRETS_KEY, address)))
    changed = {eraser.__name__: eraser(target) for eraser in ERASERS}
    left = sum(remainder(target) for remainder in REMAINDERS)
    if not left:
        erasure.status, erasure.sealed_address, erasure.finished_at = ErasureStatus.DONE.value, None, utcnow()
    log.info("erasure applied", extra={"erasure_id": str(erasure.id), "changed": changed, "left": left})
