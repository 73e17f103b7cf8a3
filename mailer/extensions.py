"""The app's extensions: the database (with SQLite pragmas), migrations, Redis, the rate limiter, and the
unit of work (``atomic()``: one transaction and the actions that must follow its commit, never a rollback).

`db` is an unbound object, bound in init_extensions(). Redis and the limiter are made per app (each
app may point at its own servers) and kept in ``app.extensions``. Flask-Migrate (Alembic, ~0.2 s of
imports) and flask-limiter are imported only by the web half: a bare worker's job path never needs them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from redis import Redis
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase

from mailer.config import ROOT, Config

if TYPE_CHECKING:
    from flask_limiter import Limiter

# Named constraints so that migrations are portable (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLITE_BUSY_TIMEOUT_MS = 30_000
REDIS = "redis"
LIMITER = "mailer_limiter"
log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def init_extensions(app: Flask, *, migrations: bool = True) -> None:
    """Bind the database (and migrations, unless a job-only app), and open this app's Redis client."""
    configure_sqlite()
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_after_idle(engine)
    if migrations:
        from flask_migrate import Migrate  # noqa: PLC0415 - web and CLI only, see the module docstring

        Migrate(app, db, directory=os.path.join(ROOT, "migrations"), render_as_batch=True, compare_type=True)
    init_redis(app)


def init_redis(app: Flask) -> None:
    url = app.config["MAILER"].REDIS_URL
    # Short timeouts: a request must not hang on a dead Redis; the outbox copes without it.
    app.extensions[REDIS] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def init_limiter(app: Flask, default_key: Callable[[], str]) -> Limiter:
    """This app's flask-limiter on RATELIMIT_STORAGE_URI, falling back to process memory if that is down."""
    from flask_limiter import Limiter  # noqa: PLC0415 - web only, see the module docstring

    config: Config = app.config["MAILER"]
    limiter = Limiter(
        key_func=default_key,
        headers_enabled=True,
        in_memory_fallback_enabled=True,
        storage_options=_storage_options(config.RATELIMIT_STORAGE_URI),
        key_prefix="mailer",
        strategy="fixed-window",
    )
    limiter.init_app(app)
    app.extensions[LIMITER] = limiter
    return limiter


def current_limiter() -> Limiter | None:
    return current_app.extensions.get(LIMITER)


def _storage_options(uri: str) -> dict[str, Any]:
    # A dead limiter Redis must cost a request milliseconds, not the default minutes.
    if uri.startswith(("redis://", "rediss://", "unix://")):
        return {"socket_connect_timeout": 1, "socket_timeout": 1}
    return {}


# SQLite settings for several processes on one file (web, workers, sweeper): WAL and a busy timeout.
# PostgreSQL is the production database; this keeps the default SQLite setup honest when a worker and
# the web app write at the same time.
def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def configure_sqlite() -> None:
    """Apply the pragmas to every new SQLite connection (idempotent)."""
    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)


# A connection checked in less than this long ago is handed out without a ping: a worker or a busy web process
# checks one out for every transaction (five per message when mail comes one at a time), and SQLAlchemy's
# pool_pre_ping costs a round trip each time. One idle longer (a restarted or failed-over server, an idle
# timeout) is pinged, and a dead one invalidates the pool as pool_pre_ping does.
PING_AFTER_IDLE_SECONDS = 1.0
_USED_AT = "mailer_used_at"


def ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it has been idle PING_AFTER_IDLE_SECONDS."""
    dialect = engine.dialect

    def ping_if_idle(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        if time.monotonic() - connection_record.info.get(_USED_AT, float("-inf")) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError() from exc
            raise

    event.listen(engine, "connect", _note_use)
    event.listen(engine, "checkin", _note_use)
    event.listen(engine, "checkout", ping_if_idle)


def _note_use(dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info[_USED_AT] = time.monotonic()


class UnitOfWork:
    """One transaction and what to do once it has committed (enqueue jobs, nudge, log): nothing runs
    before the commit succeeds, nothing runs after a rollback. Made by ``atomic()``."""

    def __init__(self) -> None:
        self._actions: dict[Hashable, Callable[[], object]] = {}

    def after_commit(self, action: Callable[[], object], *, key: Hashable | None = None) -> None:
        """Run ``action`` after the commit, in registration order. Under a ``key`` already registered the new
        action replaces the earlier one in its place: one nudge per transaction, the newest chain head."""
        self._actions[key if key is not None else object()] = action

    def _run_actions(self) -> None:
        # The data is committed: every action gets its turn, then the first failure is raised.
        actions, self._actions = list(self._actions.values()), {}
        failure: Exception | None = None
        for action in actions:
            try:
                action()
            except Exception as exc:
                log.exception("after-commit action failed")
                failure = failure or exc
        if failure is not None:
            raise failure


_current_unit: ContextVar[UnitOfWork | None] = ContextVar("mailer_unit_of_work", default=None)


@contextmanager
def atomic() -> Iterator[UnitOfWork]:
    """A unit of work: commit when the block ends, then run its after-commit actions; roll back (releasing
    row locks, dropping the actions) when it raises. Inside another ``atomic()`` block it joins that one."""
    outer = _current_unit.get()
    if outer is not None:
        yield outer
        return
    unit = UnitOfWork()
    token = _current_unit.set(unit)
    try:
        yield unit
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _current_unit.reset(token)
    unit._run_actions()


@contextmanager
def savepoint() -> Iterator[None]:
    """A SAVEPOINT in the session's transaction: an exception raised in the block undoes the block's writes
    only (and propagates); what came before stays for the enclosing transaction to commit.

    pysqlite opens its transaction at the first INSERT, UPDATE or DELETE, not at a SAVEPOINT: a savepoint it
    meets outside a transaction becomes the transaction, and its RELEASE commits it. So on SQLite the
    transaction is opened first, taking the write lock that the block's first write would take anyway.
    """
    connection = db.session.connection()
    driver = connection.connection.driver_connection
    if isinstance(driver, sqlite3.Connection) and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    with db.session.begin_nested():
        yield


def current_unit() -> UnitOfWork:
    """The enclosing ``atomic()`` block's unit of work, for steps that need work done after its commit.

    Raises ``RuntimeError`` outside one: such a step's commit would otherwise skip that work unseen.
    """
    unit = _current_unit.get()
    if unit is None:
        raise RuntimeError("this step registers after-commit work: run it inside extensions.atomic()")
    return unit
