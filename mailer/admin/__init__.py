"""Tenant administration (admin only): the tenant, its users, API keys and audit events."""

from mailer.admin import api_key_routes, audit_event_routes  # noqa: F401 - their views join the blueprint
from mailer.admin.routes import bp

__all__ = ["bp"]
