"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Enum, TypeDecorator, Uuid
from sqlalchemy.orm import mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes everywhere (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(enum: type[StrEnum], length: int, **options: Any) -> Any:
    """A VARCHAR(length) column of ``enum``'s values, read back as members.

    SQLAlchemy stores member names by default; the rows and the API hold the values, so the values are
    stored. No CHECK constraint and no native type: the column is the plain VARCHAR the migrations made.
    A string that is no member's value is refused on the way in.
    """
    column_type = Enum(enum, native_enum=False, create_constraint=False, length=length, validate_strings=True,
                       values_callable=lambda members: [member.value for member in members])
    return mapped_column(column_type, **options)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: Any) -> str | None:
    """ISO 8601 UTC with a Z, or None (the API's timestamps; services and jobs write them too)."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def uuid_pk() -> Any:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def created_at() -> Any:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)
