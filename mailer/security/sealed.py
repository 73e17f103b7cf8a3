"""Every column that holds a secret sealed with SECRETS_KEY, and their re-encryption under the newest key.

``SEALED_COLUMNS`` is the one list `flask --app wsgi secrets rotate` walks: a new sealed column is added
here, in one line, and rotation covers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import InstrumentedAttribute

from mailer.extensions import db
from mailer.models import DkimKey, TenantRelay, WebhookEndpoint
from mailer.security.secret_box import SecretBox, SecretUnreadableError

SEALED_COLUMNS: tuple[InstrumentedAttribute[str | None], ...] = (
    DkimKey.private_key_sealed,  # type: ignore[assignment]
    TenantRelay.password_sealed,
    WebhookEndpoint.secret_sealed,
    WebhookEndpoint.previous_secret_sealed,
)
BATCH = 500


@dataclass
class RotationReport:
    resealed: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)


def _label(column: InstrumentedAttribute[str | None]) -> str:
    return f"{column.class_.__tablename__}.{column.key}"


def reseal_all(box: SecretBox) -> RotationReport:
    """Re-encrypt every sealed value under the box's newest key, committing per batch.

    A value no listed key opens is left as it is and counted in ``unreadable`` (never printed).
    """
    report = RotationReport()
    for column in SEALED_COLUMNS:
        model = column.class_
        [pk] = inspect(model).primary_key
        resealed = unreadable = 0
        last = None
        while True:
            query = select(pk, column).where(column.is_not(None)).order_by(pk).limit(BATCH)
            if last is not None:
                query = query.where(pk > last)
            rows = db.session.execute(query).all()
            if not rows:
                break
            for key, token in rows:
                try:
                    fresh = box.reseal(token)
                except SecretUnreadableError:
                    unreadable += 1
                    continue
                db.session.execute(update(model).where(pk == key).values({column.key: fresh}))
                resealed += 1
            db.session.commit()
            last = rows[-1][0]
        report.resealed[_label(column)] = resealed
        if unreadable:
            report.unreadable[_label(column)] = unreadable
    return report
