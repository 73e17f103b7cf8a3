"""Shared fixtures: app, client, runner, db, redis, smtp_server, worker — all real parts.

The database is SQLite in a temp file by default, PostgreSQL when TEST_DATABASE_URL is
set; either way its schema comes from the migrations. Redis is the real server on a
spare database number (TEST_REDIS_URL), flushed before and after each test.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from redis import Redis

from mailer import create_app
from mailer.retention.schedule import DAY_KEY
from tests.fixtures import FAST, Drainer, RecordingHandler, Seeded, Sink, SmtpSink, free_port, seed
from tests.helpers import create_tenant

pytest_plugins = ["tests.workers"]  # the worker-subprocess fixtures, loaded after this module

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
JWT_TEST_KEY = "test-secret-key-that-is-long-enough-0123456789"
FERNET_KEY = "kGmQyPtK0lDN6xJ0a2Y4Zk1vJc8f1VcYq5oPz5jX0mU="  # a fixed Fernet key for Config(...) outside debug


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`slow` means exactly: starts real `rq worker` subprocesses (the `workers` fixture)."""
    for item in items:
        if "workers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink("127.0.0.1", port, handler)
    finally:
        controller.stop()


@pytest.fixture
def redis() -> Iterator[Redis]:
    connection = Redis.from_url(TEST_REDIS_URL)
    connection.flushdb()
    # Today's purge has run, as on any day but a deployment's first: else the first sweep a test's jobs offer
    # purges at once, and a processed report of no recipient (an orphan) vanishes before the test reads it.
    # Tests of the daily purge delete the key.
    connection.set(DAY_KEY, "1")
    try:
        yield connection
    finally:
        connection.flushdb()
        connection.close()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database brought to head by the migrations, once per session."""
    if TEST_DATABASE_URL:
        url = TEST_DATABASE_URL
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'template.db'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "JWT_SECRET_KEY": JWT_TEST_KEY})
    with app.app_context():
        from flask_migrate import upgrade

        from mailer.extensions import db

        upgrade()
        db.engine.dispose()  # closes the last connection, so SQLite folds its WAL into the file we copy
    return url


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    server = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:  # tests/parallel.py gives each group a database of its own
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _database_for_test(template_url: str, tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        return template_url
    path = tmp_path / "mailer.db"
    shutil.copyfile(template_url.removeprefix("sqlite:///"), path)
    return f"sqlite:///{path}"


def _truncate_all(app: Flask) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from mailer.extensions import db

    with app.app_context():
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        for attempt in range(5):
            try:
                db.session.execute(text(f"TRUNCATE {tables} CASCADE"))
                db.session.commit()
                return
            except OperationalError:  # a deadlock with a connection the test's threads are still closing
                db.session.rollback()
                if attempt == 4:
                    raise
                time.sleep(0.5)


def make_app(url: str, smtp: SmtpSink | None, **overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "TESTING": True,
        "DATABASE_URL": url,
        "REDIS_URL": TEST_REDIS_URL,
        "JWT_SECRET_KEY": JWT_TEST_KEY,
        # The key the worker subprocesses get too: the stable HMAC keyring one app seals, another must open.
        "SECRETS_KEY": (FERNET_KEY,),
        "SMTP_TIMEOUT_SECONDS": 5.0,
        "PUBLIC_BASE_URL": "http://mailer.test",
    }
    if smtp is not None:
        settings.update(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port)
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture
def app_factory(migrated_database: str, tmp_path: Path, smtp_server: SmtpSink, redis: Redis) -> Iterator[Any]:
    """Builds apps on this test's database; every app built shares it (e.g. two web instances)."""
    url = _database_for_test(migrated_database, tmp_path)
    built: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        app = make_app(url, smtp_server, **overrides)
        built.append(app)
        return app

    yield factory
    if TEST_DATABASE_URL and built:
        _truncate_all(built[0])
    for app in built:
        clock = app.extensions.get("mailer_sweep_clock")
        if clock is not None:  # an app built with TESTING=False started one; it must not outlive its test
            clock.stop()
        with app.app_context():
            from mailer.extensions import db

            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    from mailer.extensions import db as database

    with app.app_context():
        yield database


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def fast_app(app_factory: Callable[..., Flask], sink: Sink) -> Flask:
    """An app with short retry delays and leases, sending to the scriptable sink."""
    app = app_factory(**FAST, SMTP_PORT=sink.port)
    create_tenant(app)
    return app


@pytest.fixture
def deferring_app(app_factory: Callable[..., Flask], sink: Sink) -> Flask:
    """fast_app whose first retry waits 3 s: for tests that look at a deferral right after the first drain.
    A drain's delivery loop claims whatever has come due, so on a loaded machine a 1 s retry can already have
    been sent by the time the drain returns."""
    app = app_factory(**{**FAST, "SMTP_RETRY_DELAYS": (3, 1, 1)}, SMTP_PORT=sink.port)
    create_tenant(app)
    return app


@pytest.fixture
def worker(app: Flask, redis: Redis) -> Drainer:
    return Drainer(app, redis)


@pytest.fixture(autouse=True)
def _no_linger_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process drains run each job once: a delivery loop leaves as soon as nothing is due, a feedback
    drain as soon as no report is left.

    Real `rq worker` subprocesses keep the production linger; tests of the loop itself set it back.
    """
    from mailer.feedback import processing
    from mailer.mail import delivery_loop

    monkeypatch.setattr(delivery_loop, "LINGER_SECONDS", 0.0)
    monkeypatch.setattr(processing, "LINGER_SECONDS", 0.0)


@pytest.fixture(autouse=True)
def _no_sweep_clock_outlives_its_test() -> Iterator[None]:
    """A sweep clock left running in this process would keep offering sweeps on a dead test's app and hold the
    shared Redis database's sweep key, so later tests' real workers would never sweep."""
    yield
    alive = [t for t in threading.enumerate() if t.name == "mailer-sweep-clock" and t.is_alive()]
    assert not alive, "a sweep clock thread outlived its test; stop it (app_factory does for the apps it built)"


@pytest.fixture
def acme_seeded(app: Flask, client: FlaskClient) -> Seeded:
    return seed(app, client, "acme")


@pytest.fixture
def globex_seeded(app: Flask, client: FlaskClient) -> Seeded:
    return seed(app, client, "globex")


@pytest.fixture
def acme_ids(app: Flask) -> dict[str, str]:
    return create_tenant(app, "acme", "admin@acme.test", frontend_url="https://app.acme.test/")
