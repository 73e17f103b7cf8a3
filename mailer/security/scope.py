"""The one place tenant-owned queries are filtered by the caller's tenant."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select

from mailer.errors import NotFoundError
from mailer.extensions import db
from mailer.security.principal import current_principal

M = TypeVar("M")


def tenant_select(model: type[M], tenant_id: uuid.UUID | None = None) -> Select[tuple[M]]:
    """SELECT model rows of the caller's tenant (or the given one)."""
    tid = tenant_id or current_principal().tenant_id
    return select(model).where(model.tenant_id == tid)  # type: ignore[attr-defined]


def get_owned(model: type[M], object_id: Any, *extra: Any) -> M:
    """The caller's tenant's row with that id, or NotFoundError (also for malformed ids)."""
    try:
        key = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError:
        raise NotFoundError() from None
    row = db.session.scalars(
        tenant_select(model).where(model.id == key, *extra)  # type: ignore[attr-defined]
    ).first()
    if row is None:
        raise NotFoundError()
    return row
