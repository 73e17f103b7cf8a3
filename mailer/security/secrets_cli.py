"""`flask --app wsgi secrets rotate`: every stored secret re-encrypted under the newest SECRETS_KEY."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from mailer.extensions import db
from mailer.security.sealed import reseal_all
from mailer.security.secret_box import SecretUnreadableError, secret_box
from mailer.security.stable_keys import stable_keys

secrets_group = AppGroup("secrets", help="Secrets at rest (SECRETS_KEY).")


@secrets_group.command("rotate")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret under the first SECRETS_KEY; prints counts per column as JSON.

    Exits 1 when some value cannot be opened with any listed key (left unchanged).
    """
    config = current_app.config["MAILER"]
    try:
        stable_keys(config)  # the stable HMAC keys exist (made from the key in use) before anything is resealed
        db.session.commit()
    except SecretUnreadableError:
        db.session.rollback()  # reported below with the other values no listed key opens
    report = reseal_all(secret_box(config.SECRETS_KEY))
    click.echo(json.dumps({"resealed": report.resealed, "unreadable": report.unreadable, "bound": report.bound}))
    if report.unreadable:
        raise click.exceptions.Exit(1)
