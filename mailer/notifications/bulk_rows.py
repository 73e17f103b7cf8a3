"""Many rows into one table inside the session's transaction: PostgreSQL's COPY, else one executemany.

A broadcast inserts one recipient row per member (100 000 and more). Row-by-row INSERTs, even
pipelined, cost ~35 µs a row in the driver and SQLAlchemy; COPY streams them in one statement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from sqlalchemy import Table, insert

from mailer.extensions import db

log = logging.getLogger(__name__)


def insert_rows(table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (every dict with the same keys, values as the columns store them) into ``table``."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        db.session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def refresh_statistics(table: Table) -> None:
    """ANALYZE ``table`` now (PostgreSQL; its own short transaction, after the caller's commit). Best effort."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    try:
        with db.engine.connect() as connection:
            connection.exec_driver_sql(f'ANALYZE "{table.name}"')
            connection.commit()
    except Exception:  # statistics only help the planner: never fail the request that asked
        log.warning("could not refresh the planner statistics", extra={"table": table.name})
