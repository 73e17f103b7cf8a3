"""`flask --app wsgi secrets rotate`: every stored secret re-encrypted under the newest SECRETS_KEY."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from mailer.security.sealed import reseal_all
from mailer.security.secret_box import secret_box

secrets_group = AppGroup("secrets", help="Secrets at rest (SECRETS_KEY).")


@secrets_group.command("rotate")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret under the first SECRETS_KEY; prints counts per column as JSON.

    Exits 1 when some value cannot be opened with any listed key (left unchanged).
    """
    report = reseal_all(secret_box(current_app.config["MAILER"].SECRETS_KEY))
    click.echo(json.dumps({"resealed": report.resealed, "unreadable": report.unreadable}))
    if report.unreadable:
        raise click.exceptions.Exit(1)
