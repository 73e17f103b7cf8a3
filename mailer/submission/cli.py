"""`flask --app wsgi submission-smtp [--host H] [--port P] [--tls-port P]`: the Procfile's `submission` (§13)."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from mailer.submission.server import run_server


@click.command("submission-smtp")
@click.option("--host", default=None, help="Address to listen on (default SUBMISSION_SMTP_HOST).")
@click.option("--port", default=None, type=int, help="STARTTLS port (default SUBMISSION_SMTP_PORT).")
@click.option("--tls-port", default=None, type=int,
              help="Implicit-TLS port (default SUBMISSION_SMTPS_PORT; 0: off).")
@with_appcontext
def submission_smtp(host: str | None, port: int | None, tls_port: int | None) -> None:
    """SMTP submission for applications: AUTH with an API key, mail stored like POST /v1/messages."""
    config = current_app.config["MAILER"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run_server(current_app._get_current_object(),  # type: ignore[attr-defined]
               host or config.SUBMISSION_SMTP_HOST, port or config.SUBMISSION_SMTP_PORT,
               config.SUBMISSION_SMTPS_PORT if tls_port is None else tls_port)
