"""Who is calling: the principal a bearer token (a user's access token or an API key) stands for.

Plain values with no Flask or database behind them, so services and the pipeline can take one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailer.models.user import ActorType, Role

API_KEY_PREFIX = "mk_"


@dataclass(frozen=True)
class Principal:
    kind: ActorType  # USER or API_KEY
    id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    jti: str | None = None
    expires_at: datetime | None = None
