"""Tenant administration (admin only): the tenant, its users, API keys and audit events."""

from mailer.admin import api_keys, audit_events  # noqa: F401 - their views join the blueprint
from mailer.admin.routes import bp

__all__ = ["bp"]
