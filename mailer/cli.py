"""Operator commands: `flask --app wsgi tenants …`, `dev-smtp`, `sweep`."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from redis.exceptions import RedisError
from sqlalchemy import select

from mailer.admin.cli import audit
from mailer.extensions import db
from mailer.feedback.cli import inbound_smtp
from mailer.mail.sweeper import sweep
from mailer.models import Role, Tenant, User
from mailer.queues import get_redis
from mailer.retention.cli import purge_command
from mailer.security.passwords import hash_password
from mailer.security.secrets_cli import secrets_group
from mailer.smtp.validation import MessageValidationError, normalize_address
from mailer.submission.cli import submission_smtp

tenants = AppGroup("tenants", help="Create and list tenants.")


@tenants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant.")
@click.option("--admin-email", required=True, help="Email of the tenant's first admin (verified).")
@click.option("--admin-password", required=True, help="Password of that admin (8-128 characters).")
@click.option("--frontend-url", default=None, help="Base URL of the tenant's own account pages.")
@click.option("--mail-from", default=None, help="Sender address for the tenant's mail.")
def create_tenant(
    slug: str, name: str, admin_email: str, admin_password: str, frontend_url: str | None, mail_from: str | None
) -> None:
    """Create a tenant and its verified admin; prints {"tenant_id", "admin_id"} as JSON."""
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", slug):
        raise click.BadParameter("lower-case letters, digits and dashes", param_hint="SLUG")
    if not 8 <= len(admin_password) <= 128:
        raise click.BadParameter("8 to 128 characters", param_hint="--admin-password")
    try:
        email = normalize_address(admin_email, field="admin_email").lower()
        sender = normalize_address(mail_from, field="mail_from") if mail_from else None
    except MessageValidationError as exc:
        raise click.BadParameter(str(exc)) from None
    if db.session.scalars(select(Tenant).where(Tenant.slug == slug)).first():
        raise click.ClickException(f"tenant {slug!r} already exists")
    tenant = Tenant(slug=slug, name=name, frontend_url=frontend_url, mail_from=sender)
    admin = User(
        tenant=tenant, email=email, name="", password_hash=hash_password(admin_password),
        role=Role.ADMIN, email_verified_at=datetime.now(UTC),
    )
    db.session.add_all([tenant, admin])
    db.session.commit()
    click.echo(json.dumps({"tenant_id": str(tenant.id), "admin_id": str(admin.id)}))


@tenants.command("list")
def list_tenants() -> None:
    """List tenants, one JSON object per line."""
    for tenant in db.session.scalars(select(Tenant).order_by(Tenant.created_at)):
        click.echo(json.dumps({"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name,
                               "is_active": tenant.is_active}))


@click.command("dev-smtp")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True, type=int)
def dev_smtp(host: str, port: int) -> None:
    """Run a local SMTP sink that keeps what it receives under instance/devmail/."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from mailer.dev.smtp_sink import run_dev_smtp  # noqa: PLC0415 - development only: production never loads the sink

    run_dev_smtp(Path(current_app.config["MAILER"].DEVMAIL_DIR), host, port)


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Enqueue due work that has no job (the sweeper also runs periodically by itself)."""

    try:
        report = sweep(get_redis(), current_app.config["MAILER"].DELIVERY_LEASE_SECONDS)
    except RedisError as exc:
        raise click.ClickException(f"Redis is unavailable: {exc}") from None
    click.echo(json.dumps(asdict(report)))


def register_cli(app: Flask) -> None:
    app.cli.add_command(tenants)
    app.cli.add_command(audit)
    app.cli.add_command(dev_smtp)
    app.cli.add_command(sweep_command)
    app.cli.add_command(inbound_smtp)
    app.cli.add_command(submission_smtp)
    app.cli.add_command(secrets_group)
    app.cli.add_command(purge_command)
