"""The two pydantic bases of the API's documented shapes: request bodies and responses refuse unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A request body or query: an unknown field is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A documented response shape (OpenAPI); its fields are exactly what the serializers return."""

    model_config = ConfigDict(extra="forbid")
