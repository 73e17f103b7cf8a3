"""The inbound SMTP receiver for BOUNCE_DOMAIN (aiosmtpd): accept, store, enqueue — never parse here.

Only ``b-``/``u-`` addresses on BOUNCE_DOMAIN with a genuine token are accepted, so it is never a
relay: another domain gets ``550 5.7.1``, a forged or unknown token ``550 5.1.1``, a mail over
MAX_REPORT_BYTES ``552`` (aiosmtpd's data size limit). Storing runs in a thread, so a slow database
write never blocks other sessions' SMTP dialogue, and reports arriving together share one commit
(feedback.writer).

Bounded (API.md §8), because a token is easy to get (any mail from the service carries one): a
transaction is about one token (a report is mailed to one return path; the same token named again is
the same report, a second token gets ``452 4.5.3`` and goes in its own transaction), so one mail is
stored once; at most REPORTS_PER_TOKEN_PER_HOUR per token and REPORTS_PER_CLIENT_PER_HOUR per client
address (beyond: ``452 4.7.1``); at most MAX_STORED_BYTES of it is kept; at most MAX_SESSIONS sessions
at once, MAX_SESSIONS_PER_CLIENT from one client (beyond: ``421 4.7.0`` and the connection closes).
STARTTLS is offered (feedback.tls).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from flask import Flask

from mailer.feedback.limits import ReportLimits
from mailer.feedback.tls import receiver_tls_context
from mailer.feedback.writer import ReportWriter
from mailer.mail.recipient_tokens import TokenAddress, read_address

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 10 * 1024 * 1024
MAX_STORED_BYTES = 1024 * 1024  # what is kept of a report: its notice and status parts come first


class ReportReceiver:
    """aiosmtpd handler: RCPT checks the token, DATA stores the raw mail and enqueues its processing."""

    def __init__(self, app: Flask) -> None:
        self.config = app.config["MAILER"]
        self.writer = ReportWriter(app)
        self.limits = ReportLimits()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        domain = address.rpartition("@")[2].lower()
        if not self.config.BOUNCE_DOMAIN or domain != self.config.BOUNCE_DOMAIN.lower():
            return "550 5.7.1 relaying denied: this server only takes mail for its bounce domain"
        target = read_address(self.config, address)
        if target is None:
            return "550 5.1.1 no such mailbox"
        targets: list[TokenAddress] = getattr(envelope, "feedback_targets", [])
        if targets and target == targets[0]:
            return "250 2.1.5 OK (the same report address again: one report)"
        if targets:
            return "452 4.5.3 one report address per transaction: send the rest separately"
        client = session.peer[0] if isinstance(session.peer, tuple) else None
        if not self.limits.take_report(target, client):
            log.warning("inbound report refused: hourly limit reached", extra={"token_kind": target.kind})
            return "452 4.7.1 too many reports, try again later"
        envelope.feedback_targets = [target]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        targets: list[TokenAddress] = getattr(envelope, "feedback_targets", [])
        raw = (envelope.original_content or b"")[:MAX_STORED_BYTES]
        try:
            count = await asyncio.wrap_future(self.writer.submit(targets, raw))
        except Exception:  # logged by the writer
            return "451 4.3.0 temporary failure, try again later"
        return f"250 2.0.0 OK: {count} report(s) queued"


class _BoundedSMTP(SMTP):
    """aiosmtpd's SMTP session, refused with ``421 4.7.0`` when the receiver or its client has too many open."""

    _counted: str | None = None
    _seen: bool = False

    def connection_made(self, transport: Any) -> None:
        first, self._seen = not self._seen, True  # STARTTLS calls this again for the same session
        super().connection_made(transport)
        if not first:
            return
        peer = transport.get_extra_info("peername")
        client = peer[0] if isinstance(peer, tuple) else None
        limits: ReportLimits = self.event_handler.limits
        if limits.open_session(client):
            self._counted = client or ""
        else:
            transport.write(b"421 4.7.0 too many connections, try again later\r\n")
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted is not None:
            self.event_handler.limits.close_session(self._counted or None)
            self._counted = None
        super().connection_lost(error)


class ReceiverController(Controller):
    """The aiosmtpd controller; stopping it also stops the handler's writer thread."""

    def factory(self) -> SMTP:
        return _BoundedSMTP(self.handler, **self.SMTP_kwargs)

    def stop(self, *args: Any, **kwargs: Any) -> None:
        super().stop(*args, **kwargs)
        self.handler.writer.close()


def make_controller(app: Flask, host: str, port: int) -> Controller:
    config = app.config["MAILER"]
    tls = receiver_tls_context(config, config.BOUNCE_DOMAIN or "localhost")
    return ReceiverController(ReportReceiver(app), hostname=host, port=port, data_size_limit=MAX_REPORT_BYTES,
                              ident="Mailer feedback receiver", tls_context=tls, require_starttls=False)


def run_receiver(app: Flask, host: str, port: int) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    controller = make_controller(app, host, port)
    controller.start()
    log.info("inbound SMTP receiver listening on %s:%s for %s", host, port, app.config["MAILER"].BOUNCE_DOMAIN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
