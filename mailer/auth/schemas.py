from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class LoginRequest(Strict):
    tenant: str = Field(min_length=1, max_length=63)
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
