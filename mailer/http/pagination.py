"""Page and per_page from the query string, and one page of a query as {items, page, per_page, total}.

``PageQuery`` and ``Page`` are the same two shapes as schemas, for every list endpoint (API.md §1).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select

from mailer.errors import ValidationError
from mailer.extensions import db

MAX_PER_PAGE = 100

T = TypeVar("T")


class PageQuery(BaseModel):
    """`?page=1&per_page=50` (per_page at most 100); subclass to add filters."""

    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(extra="forbid")

    items: list[T]
    page: int
    per_page: int
    total: int


def page_args() -> tuple[int, int]:
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(MAX_PER_PAGE, max(1, int(request.args.get("per_page", 50))))
    except ValueError:
        raise ValidationError(
            "page and per_page must be integers.", errors=[{"field": "page", "message": "not an integer"}]
        ) from None
    return page, per_page


def paginate(query: Select[Any], serialize: Any) -> dict[str, Any]:
    page, per_page = page_args()
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [serialize(row) for row in rows], "page": page, "per_page": per_page, "total": total}
