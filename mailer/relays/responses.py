"""Response bodies of the tenant relay endpoints (API.md §10): never the password."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class RelayOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    port: int
    encryption: Literal["none", "starttls", "ssl"]
    username: str | None
    verify_tls: bool
    has_password: bool
    updated_at: datetime


class ProbeStepOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str
    reply: str


class ProbeOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    steps: list[ProbeStepOut]
    error: str | None
