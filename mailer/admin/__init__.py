"""Tenant administration (admin only): the tenant, its users, API keys and audit events."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/v1")

from mailer.admin import api_keys, audit_events, routes  # noqa: E402,F401
