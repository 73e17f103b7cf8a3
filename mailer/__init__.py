"""Mailer: a multi-tenant transactional email service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dotenv import load_dotenv
from flask import Flask

from mailer.config import ROOT, Config, load_config


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config → extensions → http → observability → blueprints → errors → cli."""
    # The app's modules are imported here, not at the top: `mailer.smtp`, `mailer.config` and the
    # models must import without building the whole web app (workers, CLI tools, the SMTP tests).
    from mailer import cli, errors, extensions, http, observability  # noqa: PLC0415 - see above

    app, config = _configured_app(overrides)
    extensions.init_extensions(app)
    http.init_http(app, config)
    observability.init_observability(app, config)
    _register_blueprints(app, config)
    http.init_http_edge(app, config)
    errors.register_error_handlers(app)
    cli.register_cli(app)
    _register_sweep_hooks()
    return app


def _configured_app(overrides: Mapping[str, Any] | None) -> tuple[Flask, Config]:
    load_dotenv(os.path.join(ROOT, ".env"), override=False)
    app = Flask(__name__, template_folder=os.path.join(ROOT, "templates"), instance_path=os.path.join(ROOT, "instance"))
    os.makedirs(app.instance_path, exist_ok=True)
    config = load_config(overrides).finalize(app.instance_path)
    app.config.update(config.flask_settings())
    return app, config


def _register_blueprints(app: Flask, config: Config) -> None:
    # Blueprints import models, services and the pipeline: see create_app for why here.
    from mailer import models  # noqa: F401, PLC0415 - registers every model
    from mailer.admin import bp as admin_bp  # noqa: PLC0415
    from mailer.auth import bp as auth_bp  # noqa: PLC0415
    from mailer.batch import bp as batch_bp  # noqa: PLC0415
    from mailer.erasure import bp as erasure_bp  # noqa: PLC0415
    from mailer.notifications import bp as notifications_bp  # noqa: PLC0415
    from mailer.observability.exporter import bp as metrics_bp  # noqa: PLC0415
    from mailer.observability.health import bp as health_bp  # noqa: PLC0415
    from mailer.openapi import bp as openapi_bp  # noqa: PLC0415
    from mailer.pages import bp as pages_bp  # noqa: PLC0415

    for bp in (health_bp, auth_bp, notifications_bp, batch_bp, erasure_bp, pages_bp, admin_bp, openapi_bp, metrics_bp):
        app.register_blueprint(bp)
    if config.DEBUG:
        from mailer.dev.inbox import bp as devinbox_bp  # noqa: PLC0415 - development only

        app.register_blueprint(devinbox_bp)


def _register_sweep_hooks() -> None:
    """Work other packages park in the database when Redis is down, picked up by every sweep; and the
    daily retention purge, which also finishes pending erasures."""
    from mailer.accounts.pending import enqueue_pending_auth_work  # noqa: PLC0415 - see create_app
    from mailer.erasure.service import apply_pending_erasures  # noqa: PLC0415 - see create_app
    from mailer.mail.sweeper import register_sweep_hook  # noqa: PLC0415 - see create_app
    from mailer.retention.run import register_purge_companion  # noqa: PLC0415 - see create_app
    from mailer.retention.schedule import run_daily_purge  # noqa: PLC0415 - see create_app

    register_sweep_hook(enqueue_pending_auth_work)
    register_sweep_hook(run_daily_purge)
    register_purge_companion(apply_pending_erasures)
