"""The inbound SMTP receiver for BOUNCE_DOMAIN (aiosmtpd): accept, store, enqueue — never parse here.

Only ``b-``/``u-`` addresses on BOUNCE_DOMAIN with a genuine token are accepted, so it is never a
relay: another domain gets ``550 5.7.1``, a forged or unknown token ``550 5.1.1``, a mail over
MAX_REPORT_BYTES ``552`` (aiosmtpd's data size limit). Storing runs in a thread, so a slow database
write never blocks other sessions' SMTP dialogue, and reports arriving together share one commit
(feedback.writer).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask

from mailer.feedback.tokens import TokenAddress, read_address
from mailer.feedback.writer import ReportWriter

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 50


class ReportReceiver:
    """aiosmtpd handler: RCPT checks the token, DATA stores the raw mail and enqueues its processing."""

    def __init__(self, app: Flask) -> None:
        self.config = app.config["MAILER"]
        self.writer = ReportWriter(app)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        domain = address.rpartition("@")[2].lower()
        if not self.config.BOUNCE_DOMAIN or domain != self.config.BOUNCE_DOMAIN.lower():
            return "550 5.7.1 relaying denied: this server only takes mail for its bounce domain"
        target = read_address(self.config, address)
        if target is None:
            return "550 5.1.1 no such mailbox"
        targets: list[TokenAddress] = getattr(envelope, "feedback_targets", [])
        if len(targets) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        envelope.feedback_targets = [*targets, target]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        targets: list[TokenAddress] = getattr(envelope, "feedback_targets", [])
        raw = envelope.original_content or b""
        try:
            count = await asyncio.wrap_future(self.writer.submit(targets, raw))
        except Exception:  # logged by the writer
            return "451 4.3.0 temporary failure, try again later"
        return f"250 2.0.0 OK: {count} report(s) queued"


class ReceiverController(Controller):
    """The aiosmtpd controller; stopping it also stops the handler's writer thread."""

    def stop(self, *args: Any, **kwargs: Any) -> None:
        super().stop(*args, **kwargs)
        self.handler.writer.close()


def make_controller(app: Flask, host: str, port: int) -> Controller:
    return ReceiverController(ReportReceiver(app), hostname=host, port=port, data_size_limit=MAX_REPORT_BYTES,
                              ident="Mailer feedback receiver")


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
