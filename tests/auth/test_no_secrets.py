"""No password, token or hash in any log line, audit record, job argument or error body."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import zlib

from sqlalchemy import select

from mailer.extensions import db
from mailer.models import AuditEvent, User
from tests.helpers import login_pair, mails_to, token_in

PASSWORD = "Secret-Passw0rd-One"
NEW_PASSWORD = "Secret-Passw0rd-Two"


def redis_dump(redis) -> str:
    """Every value in the Redis db as text (RQ compresses job data with zlib)."""
    parts = []
    for key in redis.scan_iter("*"):
        kind = redis.type(key)
        values: list[bytes] = [key]
        if kind == b"hash":
            for field, value in redis.hgetall(key).items():
                values += [field, value]
        elif kind == b"string":
            values.append(redis.get(key))
        elif kind == b"list":
            values += redis.lrange(key, 0, -1)
        elif kind in (b"set", b"zset"):
            values += list(redis.smembers(key)) if kind == b"set" else redis.zrange(key, 0, -1)
        for value in values:
            with contextlib.suppress(zlib.error):
                value = zlib.decompress(value)
            parts.append(value.decode("utf-8", "replace"))
    return "\n".join(parts)


def test_no_secret_leaks_anywhere(app, client, smtp_server, worker, redis, caplog, acme_ids):
    caplog.set_level(logging.DEBUG)
    bodies: list[bytes] = []
    job_data: list[str] = []

    def call(path, body, **kwargs):
        response = client.post(path, json=body, **kwargs)
        if response.status_code >= 400:
            bodies.append(response.data)
        return response

    call("/v1/auth/register", {"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})
    call("/v1/auth/register", {"tenant": "acme", "email": "ann@example.com", "password": "short"})
    call("/v1/auth/register", {"tenant": "acme", "email": "ann@example.com", "password": PASSWORD + "x" * 200})
    job_data.append(redis_dump(redis))
    worker()
    verification = token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")
    call("/v1/auth/login", {"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})  # unverified
    call("/v1/auth/verify-email", {"token": verification})
    call("/v1/auth/verify-email", {"token": verification})  # used: 400
    call("/v1/auth/login", {"tenant": "acme", "email": "ann@example.com", "password": "wrong " + PASSWORD})
    pair = login_pair(client, "ann@example.com", PASSWORD)
    rotated = call("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}).get_json()
    call("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})  # re-use: 401
    call("/v1/auth/forgot-password", {"tenant": "acme", "email": "ann@example.com"})
    job_data.append(redis_dump(redis))
    worker()
    reset = token_in(mails_to(smtp_server, "ann@example.com")[-1], "/reset-password")
    call("/v1/auth/reset-password", {"token": reset, "password": NEW_PASSWORD})
    call("/v1/auth/reset-password", {"token": reset, "password": NEW_PASSWORD})  # used: 400
    call("/v1/auth/logout", {"refresh_token": rotated["refresh_token"]},
         headers={"Authorization": f"Bearer {rotated['access_token']}"})  # dead after the reset: 401
    bodies.append(client.get("/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).data)
    worker()
    job_data.append(redis_dump(redis))

    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == "ann@example.com")).one()
        events = db.session.scalars(select(AuditEvent)).all()
        audit = json.dumps([[e.action, e.details, e.ip, str(e.actor_id)] for e in events])
        password_hash = user.password_hash
    secrets = {
        "password": PASSWORD, "new password": NEW_PASSWORD, "verification token": verification,
        "reset token": reset, "password hash": password_hash, "hash salt": password_hash.split("$")[4],
        "verification token hash": hashlib.sha256(verification.encode()).hexdigest(),
        "reset token hash": hashlib.sha256(reset.encode()).hexdigest(),
        **{f"{kind} {i}": p[kind] for i, p in enumerate((pair, rotated)) for kind in ("access_token", "refresh_token")},
        **{f"{kind} signature {i}": p[kind].rsplit(".", 1)[1]
           for i, p in enumerate((pair, rotated)) for kind in ("access_token", "refresh_token")},
    }
    # Mailer's and RQ's records with every extra field; not the test SMTP sink's (aiosmtpd "mail.log"),
    # which is the receiving mail server and logs the mail it received, link included.
    logs = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records if not r.name.startswith("mail.log"))
    places = {"logs": logs, "audit": audit, "redis/jobs": "\n".join(job_data),
              "error bodies": b"\n".join(bodies).decode()}
    # we looked in the right places
    assert "process_auth_request" in places["redis/jobs"] and "process_auth_request" in logs
    assert "login.failed" in audit and "invalid_credentials" in places["error bodies"]
    assert len(bodies) == 9  # 422 x2, 403, 400, 401, 401, 400, 401, 401
    for place, text in places.items():
        for name, secret in secrets.items():
            assert secret not in text, f"{name} found in {place}"
    assert "ann@example.com" not in places["redis/jobs"]  # job arguments carry ids, not addresses
