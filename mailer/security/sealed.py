"""Every column that holds a secret sealed with SECRETS_KEY, where each value is bound, and their
re-encryption under the newest key.

``SEALED_COLUMNS`` is the one list `flask --app wsgi secrets rotate` walks: a new sealed column is added
here, in one line, and rotation covers it. Every value is sealed and opened through ``seal_value`` /
``open_value`` with its column and row, so a value copied to another row or column does not open (N11).
The two secrets of a webhook endpoint share one place (the current secret becomes the previous one on
rotation, in the same row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import InstrumentedAttribute

from mailer.config import Config
from mailer.extensions import db
from mailer.models import DkimKey, Erasure, HmacKeyring, TenantRelay, WebhookEndpoint
from mailer.security.secret_box import SecretBox, SecretUnreadableError, secret_box

Column = InstrumentedAttribute[str | None]

SEALED_COLUMNS: tuple[Column, ...] = (
    HmacKeyring.sealed,  # type: ignore[assignment]
    DkimKey.private_key_sealed,  # type: ignore[assignment]
    TenantRelay.password_sealed,
    WebhookEndpoint.secret_sealed,
    WebhookEndpoint.previous_secret_sealed,
    Erasure.sealed_address,
)
# The place a column's values are bound to, where it is not the column's own name.
_PLACES: dict[str, str] = {
    "webhook_endpoints.secret_sealed": "webhook_endpoints.secret",
    "webhook_endpoints.previous_secret_sealed": "webhook_endpoints.secret",
}
BATCH = 500
BOUND_MARKER = "all-values-bound"  # an hmac_keyring row written once every sealed value is bound
_BOUND_EXTENSION = "mailer_sealed_all_bound"


def _label(column: Any) -> str:
    return f"{column.class_.__tablename__}.{column.key}"


def context_for(column: Any, row_id: Any) -> str:
    """What a value of ``column`` in row ``row_id`` is bound to: table, column, row."""
    label = _label(column)
    return f"{_PLACES.get(label, label)}:{row_id}"


def seal_value(config: Config, column: Any, row_id: Any, plaintext: str) -> str:
    return secret_box(config.SECRETS_KEY).seal(plaintext, context=context_for(column, row_id))


def open_value(config: Config, column: Any, row_id: Any, token: str) -> str:
    """The plaintext; SecretUnreadableError when no listed key opens it or it belongs to another place, or when it
    is unbound once the rotate walk has bound every value (an unbound value then can only be a copy)."""
    return secret_box(config.SECRETS_KEY).open(token, context=context_for(column, row_id),
                                               allow_unbound=not all_bound())


def all_bound() -> bool:
    """Whether `secrets rotate` has bound every sealed value (its marker row exists); remembered once true."""
    from flask import current_app, has_app_context  # noqa: PLC0415 - only with an app

    if not has_app_context():
        return False
    if current_app.extensions.get(_BOUND_EXTENSION):
        return True
    found = db.session.get(HmacKeyring, BOUND_MARKER) is not None  # one primary-key probe until it is there
    if found:
        current_app.extensions[_BOUND_EXTENSION] = True
    return found


@dataclass
class RotationReport:
    resealed: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)  # values sealed before binding, now bound


def reseal_all(box: SecretBox) -> RotationReport:
    """Re-encrypt every sealed value under the box's newest key, bound to its place, committing per batch.

    A value no listed key opens (or sealed for another place) is left as it is and counted in ``unreadable``
    (never printed): only that row's feature fails (see README, Security); the others go on.
    """
    report = RotationReport()
    for column in SEALED_COLUMNS:
        model = column.class_
        [pk] = inspect(model).primary_key
        resealed = unreadable = bound = 0
        last = None
        while True:
            query = select(pk, column).where(column.is_not(None)).order_by(pk).limit(BATCH)
            if last is not None:
                query = query.where(pk > last)
            rows = db.session.execute(query).all()
            if not rows:
                break
            for key, token in rows:
                context = context_for(column, key)
                try:
                    was_bound = box.is_bound(token, context=context)
                    fresh = box.reseal(token, context=context)
                except SecretUnreadableError:
                    unreadable += 1
                    continue
                db.session.execute(update(model).where(pk == key).values({column.key: fresh}))
                resealed += 1
                bound += not was_bound
            db.session.commit()
            last = rows[-1][0]
        report.resealed[_label(column)] = resealed
        if unreadable:
            report.unreadable[_label(column)] = unreadable
        if bound:
            report.bound[_label(column)] = bound
    if not report.unreadable and db.session.get(HmacKeyring, BOUND_MARKER) is None:
        # From now on an unbound value can only have been copied in: it no longer opens.
        marker = HmacKeyring(name=BOUND_MARKER, sealed=box.seal("1", context=context_for(HmacKeyring.sealed,
                                                                                             BOUND_MARKER)))
        db.session.add(marker)
        db.session.commit()
    return report
