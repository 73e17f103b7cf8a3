"""The RFC 9457 problem document every error answers with (rendered by mailer.errors.problem)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Path of the offending field, e.g. `to[2].email`.")
    message: str
    line: int | None = Field(default=None, description="`template_error` only: the line of the template part.")


class Problem(BaseModel):
    """An error: `code` is the stable machine-readable reason (see API.md §1)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="`urn:mailer:problem:<code>`")
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = Field(description="Echoes the X-Request-ID of the response.")
    errors: list[FieldError] | None = Field(default=None, description="Only for validation errors.")
