"""Shapes shared by every list endpoint: the page query and the page envelope (API.md §1)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mailer.http.pagination import MAX_PER_PAGE

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
