"""Query plans of GET /v1/messages search on a million-recipient PostgreSQL table.

`python bench/search_plan.py --database-url postgresql+psycopg://…/scratch [--recipients 1000000]`

Resets the database's schema (!), migrates it, fills it with SQL (generate_series: 5 tenants,
recipients spread over messages of 1 to 5 recipients and 60 days), ANALYZEs, then prints
``EXPLAIN (ANALYZE, BUFFERS)`` of the list query the app builds for each search filter, as the
route builds it (same functions, the admin's view). The last line printed is one JSON object of
execution times in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

FILL = """
INSERT INTO tenants (id, slug, name, is_active, created_at, audit_seq, audit_head)
SELECT md5('tenant' || t)::uuid, 'tenant' || t, 'Tenant ' || t, true, now(), 0, '' FROM generate_series(1, 5) t;

INSERT INTO messages (id, tenant_id, kind, created_by, creator_type, subject, sender, message_id_header, queue,
                      status, tags, metadata, created_at, updated_at)
SELECT md5('message' || m)::uuid, md5('tenant' || (m % 5 + 1))::uuid, 'custom', md5('user' || (m % 50))::uuid, 'user',
       'Order ' || m || ' '
       || (ARRAY['receipt', 'shipped', 'invoice', 'welcome aboard', 'password hint'])[m / 5 % 5 + 1],
       'shop@acme.test', '<' || m || '@acme.test>', 'default', 'sent', '["receipt"]', '{}',
       now() - (m % 86400 * 60) * interval '1 second', now()
FROM generate_series(1, :messages) m;

INSERT INTO recipients (id, message_id, tenant_id, position, email, name, status, attempts, created_at, updated_at)
SELECT md5('recipient' || m || '-' || p)::uuid, md5('message' || m)::uuid, md5('tenant' || (m % 5 + 1))::uuid, p,
       'User' || ((m * 7 + p * 13) % 200000) || '@Example.com', '', 'sent', 1,
       now() - (m % 86400 * 60) * interval '1 second', now()
FROM generate_series(1, :messages) m, generate_series(0, 4) p
WHERE p <= m % 5 AND (m % 5) <> 4 OR p < 2 AND (m % 5) = 4;
"""


def _fill(app: Any, messages: int) -> int:
    from sqlalchemy import func, select, text

    from mailer.extensions import db
    from mailer.models import Recipient

    with app.app_context():
        for statement in FILL.strip().split(";\n"):
            db.session.execute(text(statement.replace(":messages", str(messages))))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        return db.session.scalar(select(func.count()).select_from(Recipient))


def _queries(tenant_id: uuid.UUID, address: str, order: str) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from mailer.models import Message
    from mailer.notifications import search

    now = datetime.now(UTC)
    base = select(Message).where(Message.tenant_id == tenant_id)
    ordered: dict[str, Any] = {
        "email": search.with_recipient(base, tenant_id, address),
        "since_until": search.created_between(base, now - timedelta(days=3), now - timedelta(days=2)),
        "subject_rare": search.subject_contains(base, f"order {order} "),
        "subject_common": search.subject_contains(base, "invoice"),
        "email_and_subject": search.subject_contains(
            search.with_recipient(base, tenant_id, address), "order"),
    }
    return {name: q.order_by(Message.created_at.desc(), Message.id).limit(50) for name, q in ordered.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    args = parser.parse_args()
    from pipeline import _prepare_database
    from sqlalchemy import text

    from mailer.extensions import db

    app = _prepare_database(args.database_url, "redis://127.0.0.1:6379/8")
    started = time.perf_counter()
    count = _fill(app, int(args.recipients / 2.4))  # 2.4 recipients per message on average
    print(f"filled {count} recipients in {time.perf_counter() - started:.0f} s", flush=True)
    timings = {}
    with app.app_context():
        tenant_id = uuid.UUID(str(db.session.scalar(text("SELECT id FROM tenants WHERE slug = 'tenant1'"))))
        # Search for things that exist: an address of tenant1 seen on several messages, one order's number.
        address = db.session.scalar(text(
            "SELECT lower(email) FROM recipients WHERE tenant_id = :t GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"),
            {"t": tenant_id})
        order = db.session.scalar(text("SELECT split_part(subject, ' ', 2) FROM messages WHERE tenant_id = :t "
                                       "ORDER BY created_at LIMIT 1 OFFSET 1000"), {"t": tenant_id})
        for name, query in _queries(tenant_id, address, order).items():
            compiled = query.compile(db.engine)
            plan = [row[0] for row in db.session.connection().exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params)]
            print(f"\n--- {name}\n{compiled}\n{compiled.params}\n" + "\n".join(plan), flush=True)
            timings[name] = float(re.search(r"Execution Time: ([\d.]+)", plan[-1]).group(1))
    print(json.dumps({"recipients": count, "execution_ms": timings}))


if __name__ == "__main__":
    main()
