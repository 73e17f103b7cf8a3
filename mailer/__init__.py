"""Mailer: a multi-tenant transactional email service."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from dotenv import load_dotenv
from flask import Flask

from mailer.config import ROOT, Config, load_config

# app.extensions key: what every job does on its way out, in its app context (a callable, no arguments).
AFTER_JOB = "mailer_after_job"


def create_app(overrides: Mapping[str, Any] | None = None, *, http: bool = True) -> Flask:
    """Build the app: config → extensions → http → observability → blueprints → errors → cli.

    ``http=False`` builds what jobs need and nothing else (config, logging, database, Redis,
    models, sweep hooks): a bare ``rq worker`` builds the app in every work horse, so the job
    path skips the blueprints, OpenAPI, rate limits and migrations (see mailer.queues.job_scope).
    """
    # The app's modules are imported here, not at the top: `mailer.smtp`, `mailer.config` and the
    # models must import without building the whole web app (workers, CLI tools, the SMTP tests).
    from mailer import extensions, logs  # noqa: PLC0415 - see above

    app, config = _configured_app(overrides)
    extensions.init_extensions(app, migrations=http)
    if http:
        _init_web(app, config)
    else:
        logs.configure(config)
        from mailer import i18n  # noqa: PLC0415 - see above
        i18n.init_i18n(app)  # workers write account mail in its reader's language
        from mailer import models  # noqa: F401, PLC0415 - registers every model
    for warning in config.startup_warnings():
        logging.getLogger("mailer").warning(warning)
    _register_sweep_hooks()
    _offer_the_sweep_after_each_job(app)
    return app


def _init_web(app: Flask, config: Config) -> None:
    from mailer import cli, errors, http, i18n, observability  # noqa: PLC0415 - see create_app
    from mailer.worker import clock  # noqa: PLC0415 - see create_app

    http.init_http(app, config)
    i18n.init_i18n(app)
    observability.init_observability(app, config)
    _register_blueprints(app, config)
    http.init_http_edge(app, config)
    errors.register_error_handlers(app)
    cli.register_cli(app)
    clock.init_clock(app)


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
    from mailer.console import bp as console_bp  # noqa: PLC0415
    from mailer.domains.routes import bp as domains_bp  # noqa: PLC0415
    from mailer.erasure import bp as erasure_bp  # noqa: PLC0415
    from mailer.feedback.routes import bp as feedback_bp  # noqa: PLC0415
    from mailer.notifications import bp as notifications_bp  # noqa: PLC0415
    from mailer.observability.exporter import bp as metrics_bp  # noqa: PLC0415
    from mailer.observability.health import bp as health_bp  # noqa: PLC0415
    from mailer.openapi import bp as openapi_bp  # noqa: PLC0415
    from mailer.pages import bp as pages_bp  # noqa: PLC0415
    from mailer.relays.routes import bp as relays_bp  # noqa: PLC0415
    from mailer.webhooks.routes import bp as webhooks_bp  # noqa: PLC0415

    blueprints = (health_bp, auth_bp, notifications_bp, batch_bp, erasure_bp, pages_bp, admin_bp, feedback_bp,
                  webhooks_bp, domains_bp, relays_bp, openapi_bp, metrics_bp, console_bp)
    for bp in blueprints:
        app.register_blueprint(bp)
    if config.DEBUG:
        from mailer.dev.inbox import bp as devinbox_bp  # noqa: PLC0415 - development only

        app.register_blueprint(devinbox_bp)


def _offer_the_sweep_after_each_job(app: Flask) -> None:
    """Every job offers the periodic sweep on its way out (mailer.queues.job_scope runs ``AFTER_JOB``)."""
    from mailer.worker.clock import offer_sweep  # noqa: PLC0415 - see create_app

    app.extensions[AFTER_JOB] = offer_sweep


def _register_sweep_hooks() -> None:
    """Work other packages park in the database when Redis is down, picked up by every sweep.

    Hooks are named by dotted path ("module:function"), imported when a sweep runs: building
    the app (in every work horse of a bare worker) stays cheap.
    The daily retention purge (which also finishes pending erasures) is one of them.
    """
    from mailer.erasure.service import apply_pending_erasures  # noqa: PLC0415 - see create_app
    from mailer.feedback.retention import purge_inbound_reports  # noqa: PLC0415 - see create_app
    from mailer.mail.sweeper import register_sweep_hook  # noqa: PLC0415 - see create_app
    from mailer.retention.run import register_purge_companion  # noqa: PLC0415 - see create_app

    register_sweep_hook("mailer.accounts.pending:enqueue_pending_auth_work")
    register_sweep_hook("mailer.feedback.inbox:enqueue_pending_reports")
    register_sweep_hook("mailer.webhooks.wakeup:sweep_webhooks")
    register_sweep_hook("mailer.retention.schedule:run_daily_purge")
    register_sweep_hook("mailer.domains.recheck:recheck_due_domains")
    register_purge_companion(apply_pending_erasures)
    register_purge_companion(purge_inbound_reports)
