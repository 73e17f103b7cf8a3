"""Signed webhooks (API.md §9): endpoints (routes/service), events as rows raised by ``emit`` (the one way to
raise one, re-exported here with the list of event types), the SSRF guard (guard), signing (signing), and
delivery (transport, dispatcher, jobs)."""

from mailer.webhooks.emitting import emit, subscribed_among, subscribes_column
from mailer.webhooks.events import EventType

__all__ = ["EventType", "emit", "subscribed_among", "subscribes_column"]
