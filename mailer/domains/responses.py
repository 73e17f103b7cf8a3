"""Response bodies of the domain endpoints (API.md §10); they document `/openapi.json`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pending", "verified", "failed"]


class DnsRecordOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["TXT", "CNAME"]
    name: str
    value: str
    status: Status
    purpose: Literal["dkim", "return_path", "spf", "dmarc"]
    found: list[str] | None = Field(default=None, description="Only in the answer of …/verify: what the "
                                    "resolvers returned for this name and type (null: nothing).")


class DomainOut(BaseModel):
    """``status`` is the DKIM record's: mail From this domain is signed while it is ``verified``."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    name: str
    status: Status
    dkim_selector: str
    dns_records: list[DnsRecordOut]
    created_at: datetime
    verified_at: datetime | None
    checked_at: datetime | None
