"""Console page times for a tenant with a million messages (API.md §12: every page p95 ≤ 300 ms server time).

`python bench/console.py [--database-url URL] [--messages 1000000] [--n 20] [--redis-url URL]`

Resets the PostgreSQL database's schema (!), migrates it, creates tenant acme (an admin) plus a `user`,
and fills it with SQL (generate_series): --messages messages over the last 30 days, one recipient each
(1 % failed with 5.1.1, 0.5 % deferred with 4.2.0, 0.2 % bounced, 0.3 % suppressed, the rest sent), one
delivery event each, a stored MIME copy on every 1000th; 10 % of the mail sent by the `user`; every 50th
message is a broadcast (20 000 of a million); --audit-events audit events (default 100 000) and 10 000
suppressions. Then it
ANALYZEs and times each console page in process (Flask's test client: the server's time, no network),
--n requests each after one warm-up request, signed in through /console/login as the admin (and as the
user for their own log). Redis --redis-url (BENCH_REDIS_URL, default db 6) is FLUSHED.
The last line printed is one JSON object: {page: {"p50_ms", "p95_ms", "max_ms"}}.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import JWT_KEY, PG_URL, SECRETS_KEY, percentile  # noqa: E402
from pipeline import _prepare_database  # noqa: E402

ADMIN_PASSWORD = "bench password 1"  # what _prepare_database gives admin@acme.test
USER_PASSWORD = "bench user password"
MIME = ("From: shop@acme.test\\r\\nTo: someone@example.com\\r\\nSubject: Your receipt\\r\\n"
        "MIME-Version: 1.0\\r\\nContent-Type: multipart/alternative; boundary=b\\r\\n\\r\\n--b\\r\\n"
        "Content-Type: text/plain; charset=utf-8\\r\\n\\r\\nThanks for your order.\\r\\n--b\\r\\n"
        "Content-Type: text/html; charset=utf-8\\r\\n\\r\\n<p>Thanks for your order.</p>\\r\\n--b--\\r\\n")

FILL = """
INSERT INTO messages (id, tenant_id, kind, created_by, creator_type, subject, sender, message_id_header, queue,
                      status, tags, metadata, created_at, updated_at, raw_mime)
SELECT md5('message' || m)::uuid, :tenant, CASE WHEN m % 50 = 0 THEN 'broadcast' ELSE 'custom' END,
       CASE WHEN m % 10 = 0 THEN :user ELSE :admin END, 'user',
       'Order ' || m || ' ' || (ARRAY['receipt', 'shipped', 'invoice', 'welcome aboard', 'password hint'])[m % 5 + 1],
       'shop@acme.test', '<' || m || '@acme.test>', 'default',
       CASE WHEN m % 1000 < 10 THEN 'failed' WHEN m % 1000 < 15 THEN 'sending' ELSE 'sent' END,
       (CASE WHEN m % 997 = 0 THEN '["rare"]' ELSE '["receipt"]' END)::json, '{}'::json,
       now() - (m::float / :messages * 29 * 86400) * interval '1 second', now(),
       CASE WHEN m % 1000 = 0 THEN convert_to(E':mime', 'UTF8') END
FROM generate_series(1, :messages) m;

INSERT INTO recipients (id, message_id, tenant_id, position, email, name, status, error_code, attempts, smtp_code,
                        enhanced_code, smtp_response, next_attempt_at, created_at, updated_at)
SELECT md5('recipient' || m)::uuid, md5('message' || m)::uuid, :tenant, 0, 'user' || (m % 200000) || '@example.com', '',
       CASE WHEN m % 1000 < 7 THEN 'failed' WHEN m % 1000 < 10 THEN 'failed' WHEN m % 1000 < 15 THEN 'deferred'
            WHEN m % 1000 < 17 THEN 'bounced' ELSE 'sent' END,
       CASE WHEN m % 1000 < 7 THEN 'recipient_rejected' WHEN m % 1000 < 10 THEN 'suppressed'
            WHEN m % 1000 >= 15 AND m % 1000 < 17 THEN 'bounced' END,
       1,
       CASE WHEN m % 1000 < 7 THEN 550 WHEN m % 1000 < 10 THEN NULL WHEN m % 1000 < 15 THEN 451 ELSE 250 END,
       CASE WHEN m % 1000 < 7 THEN '5.1.1' WHEN m % 1000 < 10 THEN NULL WHEN m % 1000 < 15 THEN '4.2.0'
            ELSE '2.0.0' END,
       CASE WHEN m % 1000 < 7 THEN 'user unknown' WHEN m % 1000 < 15 AND m % 1000 >= 10 THEN 'greylisted'
            WHEN m % 1000 >= 10 THEN 'OK queued' END,
       CASE WHEN m % 1000 >= 10 AND m % 1000 < 15 THEN now() + interval '10 minutes' END,
       now() - (m::float / :messages * 29 * 86400) * interval '1 second', now()
FROM generate_series(1, :messages) m;

INSERT INTO delivery_events (id, recipient_id, tenant_id, at, outcome, smtp_code, enhanced_code, response)
SELECT md5('event' || id::text)::uuid, id, tenant_id, created_at + interval '2 seconds',
       CASE WHEN error_code = 'suppressed' THEN 'suppressed' WHEN status = 'bounced' THEN 'sent' ELSE status END,
       smtp_code, enhanced_code, smtp_response
FROM recipients;

INSERT INTO audit_events (id, tenant_id, action, actor_id, actor_type, ip, at, details, seq, prev_hash, hash)
SELECT md5('audit' || a)::uuid, :tenant,
       (ARRAY['login.succeeded', 'message.created', 'template.changed', 'login.failed'])[a % 4 + 1],
       :admin, 'user', '192.0.2.1', now() - ((:audits - a)::float / :audits * 29 * 86400) * interval '1 second',
       '{}'::json, :first_seq + a, md5('prev' || a) || md5('prev' || a), md5('hash' || a) || md5('hash' || a)
FROM generate_series(1, :audits) a;

UPDATE tenants SET audit_seq = (SELECT max(seq) FROM audit_events WHERE tenant_id = :tenant) WHERE id = :tenant;

INSERT INTO suppressions (id, tenant_id, email, scope, reason, enhanced_code, detail, created_at)
SELECT md5('suppression' || s)::uuid, :tenant, 'gone' || s || '@example.com', 'all', 'bounce', '5.1.1',
       'user unknown', now() - (s::float / 10000 * 29 * 86400) * interval '1 second'
FROM generate_series(1, 10000) s;
"""


ADMIN_PAGES = {  # the admin pages (#24), on the same tenant
    "broadcasts": "/console/broadcasts",
    "broadcasts: page 50": "/console/broadcasts?page=50",
    "broadcast new": "/console/broadcasts/new",
    "templates": "/console/templates",
    "template edit": "/console/templates/password_reset",
    "domains": "/console/domains",
    "webhooks": "/console/webhooks",
    "suppressions": "/console/suppressions",
    "suppressions: page 50": "/console/suppressions?page=50",
    "api-keys": "/console/api-keys",
    "users": "/console/users",
    "settings": "/console/settings",
    "audit": "/console/audit",
    "audit ?action=template.changed": "/console/audit?action=template.changed",
    "audit: page 500": "/console/audit?page=500",
}


def _fill(app: Any, messages: int, audits: int) -> dict[str, str]:
    from sqlalchemy import select, text

    from mailer.extensions import db
    from mailer.models import Tenant, User
    from mailer.models.types import utcnow
    from mailer.security.passwords import hash_password

    with app.app_context():
        tenant = db.session.scalars(select(Tenant).where(Tenant.slug == "acme")).one()
        admin = db.session.scalars(select(User).where(User.email == "admin@acme.test")).one()
        user = User(tenant_id=tenant.id, email="user@acme.test", name="User", role="user",
                    password_hash=hash_password(USER_PASSWORD), email_verified_at=utcnow())
        db.session.add(user)
        db.session.commit()
        values = {":tenant": f"'{tenant.id}'::uuid", ":admin": f"'{admin.id}'::uuid", ":user": f"'{user.id}'::uuid",
                  ":messages": str(messages), ":mime": MIME.replace("'", "''"), ":audits": str(audits),
                  ":first_seq": str(db.session.scalar(text("SELECT coalesce(max(seq), 0) FROM audit_events")))}
        for statement in FILL.strip().split(";\n"):
            sql = statement
            for name, value in values.items():
                sql = sql.replace(name, value)
            started = time.perf_counter()
            db.session.execute(text(sql))
            db.session.commit()
            print(f"  {sql.split()[2]}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return _sample_ids(app)


def _sample_ids(app: Any) -> dict[str, str]:
    from sqlalchemy import text

    from mailer.extensions import db

    with app.app_context():
        sample = db.session.execute(text(
            "SELECT id FROM messages WHERE raw_mime IS NOT NULL ORDER BY created_at DESC LIMIT 1")).scalar()
        failed = db.session.execute(text(
            "SELECT message_id FROM recipients WHERE status = 'failed' ORDER BY created_at DESC LIMIT 1")).scalar()
        return {"with_mime": str(sample), "failed": str(failed)}


def _signed_in(app: Any, email: str, password: str) -> Any:
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = client.post("/console/login", data={"csrf_token": token, "tenant": "acme", "email": email,
                                                  "password": password})
    assert answer.status_code == 302, answer.status_code
    return client


def _time(client: Any, path: str, n: int) -> dict[str, float]:
    assert client.get(path).status_code == 200, path  # warm-up: the connection pool, the templates
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return {"p50_ms": round(percentile(samples, 50), 1), "p95_ms": round(percentile(samples, 95), 1),
            "max_ms": round(max(samples), 1)}


def _deep_cursor(client: Any, path: str, pages: int) -> str:
    """Follow "Older" links ``pages`` times; the last link's path."""
    link = path
    for _ in range(pages):
        page = client.get(link).get_data(as_text=True)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        if not found:
            break
        link = found.group(1).replace("&amp;", "&")
    return link


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=PG_URL)
    parser.add_argument("--redis-url", default=__import__("os").environ.get("BENCH_REDIS_URL",
                                                                            "redis://127.0.0.1:6379/6"))
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--audit-events", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--reuse", action="store_true",
                        help="time the pages on the database a previous run filled (no reset, no fill)")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("bench/console.py measures PostgreSQL: give --database-url postgresql+psycopg://…")

    from redis import Redis

    Redis.from_url(args.redis_url).flushdb()
    print(f"filling {args.messages} messages …", file=sys.stderr)
    started = time.perf_counter()
    env_settings = {"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url, "JWT_SECRET_KEY": JWT_KEY,
                    "SECRETS_KEY": (SECRETS_KEY,), "LOG_FORMAT": "json",
                    "RATELIMIT_ENABLED": False}
    from mailer import create_app

    if args.reuse:
        app = create_app(env_settings)
        ids = _sample_ids(app)
    else:
        ids = _fill(_prepare_database(args.database_url, args.redis_url), args.messages, args.audit_events)
    fill_seconds = round(time.perf_counter() - started, 1)
    app = create_app(env_settings)
    admin = _signed_in(app, "admin@acme.test", ADMIN_PASSWORD)
    user = _signed_in(app, "user@acme.test", USER_PASSWORD)
    results: dict[str, Any] = {}
    started = time.perf_counter()
    admin.get("/console")
    results["overview (cold: counted)"] = {"ms": round((time.perf_counter() - started) * 1000, 1)}
    pages = {
        "overview": (admin, "/console"),
        "messages": (admin, "/console/messages"),
        "messages: 200 pages deep": (admin, _deep_cursor(admin, "/console/messages", 200)),
        "messages: newer from deep": (admin, None),
        "messages ?email=": (admin, "/console/messages?email=user4242@example.com"),
        "messages ?subject= (common word)": (admin, "/console/messages?subject=shipped"),
        "messages ?subject= (one message)": (admin, "/console/messages?subject=Order+123457+"),
        "messages ?status=failed": (admin, "/console/messages?status=failed"),
        "messages ?status=failed 20 pages deep": (admin, _deep_cursor(admin, "/console/messages?status=failed", 20)),
        "messages ?kind=broadcast": (admin, "/console/messages?kind=broadcast"),
        "messages ?tag=rare": (admin, "/console/messages?tag=rare"),
        "messages ?since&until (one day, 3 weeks ago)": (admin, "/console/messages?since=%s&until=%s"),
        "messages (a user's own)": (user, "/console/messages"),
        "messages (a user's own, 50 pages deep)": (user, _deep_cursor(user, "/console/messages", 50)),
        "message detail (stored copy)": (admin, f"/console/messages/{ids['with_mime']}"),
        "message detail (failed)": (admin, f"/console/messages/{ids['failed']}"),
        "message html frame": (admin, f"/console/messages/{ids['with_mime']}/html"),
        "account": (admin, "/console/account"),
        **{name: (admin, path) for name, path in ADMIN_PAGES.items()},
        "login page": (app.test_client(), "/console/login"),
    }
    deep = pages["messages: 200 pages deep"][1]
    deep_page = admin.get(deep).get_data(as_text=True)
    newer = re.search(r'rel="prev" href="([^"]+)"', deep_page)
    pages["messages: newer from deep"] = (admin, newer.group(1).replace("&amp;", "&") if newer else deep)
    from datetime import UTC, datetime, timedelta

    day = (datetime.now(UTC) - timedelta(days=21)).date()
    client, template = pages["messages ?since&until (one day, 3 weeks ago)"]
    pages["messages ?since&until (one day, 3 weeks ago)"] = (client, template % (day, day))
    for name, (client, path) in pages.items():
        results[name] = _time(client, path, args.n)
        print(f"{name:48} p50 {results[name]['p50_ms']:7.1f} ms  p95 {results[name]['p95_ms']:7.1f} ms",
              file=sys.stderr)
    worst = max(v["p95_ms"] for k, v in results.items() if "p95_ms" in v)
    print(json.dumps({"messages": args.messages, "fill_seconds": fill_seconds, "n": args.n,
                      "worst_p95_ms": worst, "pages": results}))


if __name__ == "__main__":
    main()
