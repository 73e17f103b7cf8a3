"""Tenant administration (admin only): the tenant, its users, API keys and audit events."""

from flask import Blueprint

from mailer.security.api_keys import resolve_api_key
from mailer.security.principal import register_api_key_resolver

bp = Blueprint("admin", __name__, url_prefix="/v1")
register_api_key_resolver(resolve_api_key)

from mailer.admin import api_keys, audit_events, routes  # noqa: E402,F401
