"""Who is calling: the principal a bearer token (a user's access token or an API key) stands for.

Plain values with no Flask or database behind them, so services and the pipeline can take one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

API_KEY_PREFIX = "mk_"


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "api_key"
    id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    jti: str | None = None
    expires_at: datetime | None = None
