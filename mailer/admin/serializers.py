"""JSON shapes of the tenant, users, API keys and audit events (API.md §2)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from mailer.http.json import iso
from mailer.models import ApiKey, AuditEvent, Tenant, User
from mailer.retention.policy import retention_days


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "frontend_url": tenant.frontend_url,
        "mail_from": tenant.mail_from,
        "mail_from_name": tenant.mail_from_name,
        "signup_enabled": tenant.signup_enabled,
        "retention_days": retention_days(current_app.config["MAILER"], tenant),
        "default_locale": tenant.default_locale or current_app.config["MAILER"].DEFAULT_LOCALE,
        "brand_color": tenant.brand_color,
        "logo_url": tenant.logo_url,
        "postal_address": tenant.postal_address,
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "email_verified": user.email_verified,
        "created_at": iso(user.created_at),
    }


def api_key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "prefix": key.prefix,
        "created_by": str(key.created_by) if key.created_by else None,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
    }


def audit_event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "action": event.action,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_type": event.actor_type,
        "ip": event.ip,
        "at": iso(event.at),
        "details": event.details,
    }
