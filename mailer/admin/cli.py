"""`flask --app wsgi audit verify TENANT`: check a tenant's audit hash chain."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from mailer.audit import verify_chain
from mailer.extensions import db
from mailer.models import Tenant
from mailer.security.secret_box import SecretUnreadableError

audit = AppGroup("audit", help="Inspect the tamper-evident audit log.")


@audit.command("verify")
@click.argument("tenant")
def verify(tenant: str) -> None:
    """Check TENANT's (slug) audit chain; exit 1 naming the first bad event."""
    row = db.session.scalars(select(Tenant).where(Tenant.slug == tenant)).first()
    if row is None:
        raise click.ClickException(f"no tenant {tenant!r}")
    try:
        count, broken = verify_chain(row)
    except SecretUnreadableError:
        raise click.ClickException("the audit chain's key (table hmac_keyring) cannot be decrypted with "
                                   "SECRETS_KEY: put back the key it was sealed under") from None
    if broken is None:
        click.echo(f"ok: {count} audit events of tenant {tenant!r} form an intact chain")
        return
    where = f"event {broken.event_id} (seq {broken.seq})" if broken.event_id else f"the chain head (seq {broken.seq})"
    click.echo(f"audit chain of tenant {tenant!r} is broken at {where}: {broken.reason}", err=True)
    sys.exit(1)
