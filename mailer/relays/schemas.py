from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RelayPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    encryption: Literal["none", "starttls", "ssl"]
    username: str | None = Field(default=None, min_length=1, max_length=254)
    password: str | None = Field(
        default=None, min_length=1, max_length=512,
        description="Write-only. Omitted: the stored password is kept if host, port and username are unchanged.",
    )
    verify_tls: bool = True
