"""The account mails that carry a link with an action token: which token, which page, what the template sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from mailer.config import Config
from mailer.models import ActionPurpose, MessageKind, Tenant


@dataclass(frozen=True)
class AccountLink:
    purpose: ActionPurpose
    path: str
    url_key: str
    lifetime: Callable[[Config], int]
    extras: Callable[[Config], dict[str, Any]]


def _reset_minutes(config: Config) -> dict[str, Any]:
    return {"expires_in_minutes": config.RESET_TOKEN_SECONDS // 60}


_RESET = AccountLink(ActionPurpose.PASSWORD_RESET, "reset-password", "reset_url",
                     lambda config: config.RESET_TOKEN_SECONDS, _reset_minutes)
LINKS: dict[str, AccountLink] = {
    MessageKind.VERIFICATION: AccountLink(
        ActionPurpose.VERIFICATION, "verify-email", "verification_url",
        lambda config: config.VERIFICATION_TOKEN_SECONDS,
        lambda config: {"expires_in_hours": config.VERIFICATION_TOKEN_SECONDS // 3600}),
    MessageKind.PASSWORD_RESET: _RESET,
    MessageKind.ACCOUNT_EXISTS: _RESET,
}
# The four templates only the service's own account mail may render (API.md §3).
ACCOUNT_TEMPLATES = frozenset({*LINKS, MessageKind.PASSWORD_CHANGED})


def action_url(tenant: Tenant, config: Config, path: str, token: str) -> str:
    """A link into the tenant's front end, built from configuration only (never the request's Host)."""
    base = (tenant.frontend_url or config.PUBLIC_BASE_URL).rstrip("/")
    return f"{base}/{path}?{urlencode({'token': token})}"


def link_context(config: Config, tenant: Tenant, kind: str, token: str) -> dict[str, Any]:
    """What the template of ``kind`` sees besides tenant and user: its link and the link's lifetime."""
    link = LINKS[kind]
    return {link.url_key: action_url(tenant, config, link.path, token), **link.extras(config)}
