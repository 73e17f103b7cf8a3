"""One purge run, as the daily sweep hook and ``flask --app wsgi purge`` do it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mailer.config import Config
from mailer.retention.auth_data import purge_auth_data
from mailer.retention.purge import purge_expired

# Work that runs with every purge besides retention (pending erasures register here).
_companions: list[Callable[[Config], dict[str, Any]]] = []


def register_purge_companion(task: Callable[[Config], dict[str, Any]]) -> None:
    """Run ``task(config)`` after retention on every purge; what it returns is added to the report."""
    if task not in _companions:
        _companions.append(task)


def purge_now(config: Config, budget_seconds: float | None = None) -> dict[str, Any]:
    """Retention, then the companions; ``complete`` is False when the budget ran out during retention."""
    report = purge_expired(config, budget_seconds=budget_seconds)
    result: dict[str, Any] = {"messages": report.messages, "recipients": report.recipients,
                              "by_tenant": report.by_tenant, "complete": report.complete,
                              "webhook_events": report.webhook_events,
                              "auth_data": purge_auth_data(config, datetime.now(UTC))}
    for task in _companions:
        result.update(task(config))
    return result
