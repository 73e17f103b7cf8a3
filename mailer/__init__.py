"""Mailer: a multi-tenant transactional email service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dotenv import load_dotenv
from flask import Flask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, errors, CLI."""
    from mailer import api, cli, edge, errors, extensions, limits, logs, metrics_export, queues, sqlite
    from mailer.config import load_config

    load_dotenv(os.path.join(ROOT, ".env"), override=False)
    app = Flask(__name__, template_folder=os.path.join(ROOT, "templates"), instance_path=os.path.join(ROOT, "instance"))
    os.makedirs(app.instance_path, exist_ok=True)

    config = load_config(overrides).finalize(app.instance_path)
    app.config.update(config.flask_settings())
    logs.configure(config)

    sqlite.configure_sqlite()
    edge.init_proxy_fix(app, config)
    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db, directory=os.path.join(ROOT, "migrations"))
    queues.init_redis(app)
    api.init_request_ids(app)
    api.init_json(app)
    logs.init_request_log(app)

    from mailer import models  # noqa: F401 - registers every model
    from mailer.admin import bp as admin_bp
    from mailer.auth import bp as auth_bp
    from mailer.batch import bp as batch_bp
    from mailer.erasure import bp as erasure_bp
    from mailer.health import bp as health_bp
    from mailer.notifications import bp as notifications_bp
    from mailer.openapi import bp as openapi_bp
    from mailer.pages import bp as pages_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(batch_bp)
    app.register_blueprint(erasure_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(admin_bp)
    limits.init_limits(app)
    edge.init_cors(app, config)
    app.register_blueprint(openapi_bp)
    metrics_export.init_metrics(app)
    if config.DEBUG:
        from mailer.devinbox import bp as devinbox_bp

        app.register_blueprint(devinbox_bp)

    errors.register_error_handlers(app)
    cli.register_cli(app)
    _register_sweep_hooks()
    return app


def _register_sweep_hooks() -> None:
    """Work other packages park in the database when Redis is down, picked up by every sweep; and the
    daily retention purge, which also finishes pending erasures."""
    from mailer.auth.pending import enqueue_pending_auth_work
    from mailer.erasure.service import apply_pending_erasures
    from mailer.mail.sweeper import register_sweep_hook
    from mailer.retention.run import register_purge_companion
    from mailer.retention.schedule import run_daily_purge

    register_sweep_hook(enqueue_pending_auth_work)
    register_sweep_hook(run_daily_purge)
    register_purge_companion(apply_pending_erasures)
