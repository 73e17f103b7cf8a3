"""Daily re-verification of sending domains (review N12): a DNS proof is not forever.

A sweep hook (every SWEEP_INTERVAL_SECONDS): re-checks the verified domains whose last check is more than
RECHECK_AFTER old, oldest first, a few per sweep within a small time budget, so every domain is looked at
about daily without one sweep doing thousands of lookups. A domain whose DKIM record is gone or changed
becomes ``pending``/``failed``: it stops signing, and a tenant sender on it is reset (service.recheck).
When DNS cannot answer nothing changes, and the domain is tried again in an hour.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from mailer.domains.lookup import DnsUnavailableError
from mailer.domains.service import recheck
from mailer.extensions import atomic, db
from mailer.models import RecordStatus, SendingDomain
from mailer.models.types import utcnow

log = logging.getLogger(__name__)

RECHECK_AFTER = timedelta(days=1)
RETRY_AFTER = timedelta(hours=1)
PER_SWEEP = 20
BUDGET_SECONDS = 10.0


def recheck_due_domains() -> int:
    """Re-check the verified domains due for it; returns how many were looked up."""
    config = current_app.config["MAILER"]
    now = utcnow()
    due = list(db.session.scalars(
        select(SendingDomain.id).where(
            SendingDomain.status == RecordStatus.VERIFIED,
            or_(SendingDomain.checked_at.is_(None), SendingDomain.checked_at < now - RECHECK_AFTER),
        ).order_by(SendingDomain.checked_at).limit(PER_SWEEP)
    ))
    deadline = time.monotonic() + BUDGET_SECONDS
    done = 0
    for domain_id in due:
        if time.monotonic() > deadline:
            break
        domain = db.session.get(SendingDomain, domain_id)
        if domain is None:
            continue
        try:
            with atomic():
                recheck(config, domain)
        except DnsUnavailableError:  # rolled back
            domain = db.session.get(SendingDomain, domain_id)
            if domain is not None:
                domain.checked_at = utcnow() - RECHECK_AFTER + RETRY_AFTER
            log.warning("domain re-verification: DNS did not answer; trying again later",
                        extra={"domain_id": str(domain_id)})
            db.session.commit()
        done += 1
    return done
