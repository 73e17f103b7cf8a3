"""`flask --app wsgi inbound-smtp [--host H] [--port P]`: the receiver for BOUNCE_DOMAIN (the Procfile's inbound)."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from mailer.feedback.receiver import run_receiver


@click.command("inbound-smtp")
@click.option("--host", default=None, help="Address to listen on (default INBOUND_SMTP_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (default INBOUND_SMTP_PORT).")
@with_appcontext
def inbound_smtp(host: str | None, port: int | None) -> None:
    """Receive bounces, complaints and mailto unsubscribes for BOUNCE_DOMAIN; processing happens in workers."""
    config = current_app.config["MAILER"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not config.BOUNCE_DOMAIN:
        # Still serve (so `make run` comes up): every recipient is refused until BOUNCE_DOMAIN is set.
        logging.getLogger(__name__).warning("BOUNCE_DOMAIN is not set: every recipient will be refused (550 5.7.1)")
    run_receiver(current_app._get_current_object(), host or config.INBOUND_SMTP_HOST,  # type: ignore[attr-defined]
                 port or config.INBOUND_SMTP_PORT)
