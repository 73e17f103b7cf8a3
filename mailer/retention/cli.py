"""`flask --app wsgi purge`: apply retention and pending erasures now."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from mailer.retention.run import purge_now


@click.command("purge")
@with_appcontext
def purge_command() -> None:
    """Apply retention and finished erasures now (this also runs daily by itself)."""
    click.echo(json.dumps(purge_now(current_app.config["MAILER"])))
