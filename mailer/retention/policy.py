"""How long a tenant keeps its finished mail: its own ``retention_days``, never past MESSAGE_RETENTION_DAYS."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailer.config import Config
from mailer.errors import ValidationError
from mailer.models import Tenant


def retention_days(config: Config, tenant: Tenant) -> int:
    """The days the tenant's finished messages are kept (what GET /v1/tenant shows)."""
    ceiling = config.MESSAGE_RETENTION_DAYS
    return min(tenant.retention_days, ceiling) if tenant.retention_days else ceiling


def retention_cutoff(config: Config, tenant: Tenant, now: datetime) -> datetime:
    """Finished messages created before this are purged."""
    return now - timedelta(days=retention_days(config, tenant))


def check_retention_days(config: Config, value: int | None) -> int | None:
    """A tenant's choice: 1 to MESSAGE_RETENTION_DAYS, or None for the operator's default; else 422."""
    if value is not None and not 1 <= value <= config.MESSAGE_RETENTION_DAYS:
        raise ValidationError("One or more fields are invalid.", errors=[{
            "field": "retention_days", "message": f"must be 1 to {config.MESSAGE_RETENTION_DAYS} days"}])
    return value
