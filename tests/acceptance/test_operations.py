"""API.md §6: the operator commands, run as an operator runs them (the real `flask` executable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FERNET_KEY, JWT_TEST_KEY, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLASK, "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


PROD = {"JWT_SECRET_KEY": JWT_TEST_KEY, "SECRETS_KEY": FERNET_KEY}


@pytest.mark.parametrize("mode", [{"FLASK_DEBUG": "1"}, PROD], ids=["debug", "prod"])
def test_tenants_create_prints_exactly_one_json_object_on_stdout(tmp_path, mode):
    env = {k: v for k, v in os.environ.items()
           if k not in {"FLASK_DEBUG", "JWT_SECRET_KEY", "SECRETS_KEY", "LOG_FORMAT", "DATABASE_URL", "FLASK_APP"}}
    env.update(mode, DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}", REDIS_URL=TEST_REDIS_URL,
               DEVMAIL_DIR=str(tmp_path / "devmail"))
    upgraded = _flask(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr

    created = _flask(env, "tenants", "create", "acme", "--name", "Acme", "--admin-email", "admin@acme.test",
                     "--admin-password", "correct horse battery", "--frontend-url", "https://app.acme.test",
                     "--mail-from", "news@acme.test")
    assert created.returncode == 0, created.stderr
    [line] = created.stdout.splitlines()
    ids = json.loads(line)
    assert set(ids) == {"tenant_id", "admin_id"}

    listed = _flask(env, "tenants", "list")
    assert listed.returncode == 0, listed.stderr
    assert ids["tenant_id"] in listed.stdout and "acme" in listed.stdout

    swept = _flask(env, "sweep")
    assert swept.returncode == 0, swept.stderr


def test_healthz_readyz_and_openapi(client):
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()) == (200, {"status": "ok"})
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/healthz", "/readyz", "/v1/messages", "/v1/messages/{message_id}/recipients/{recipient_id}",
                 "/v1/broadcasts", "/v1/stats", "/v1/templates/{name}/preview"):
        assert path in spec["paths"], path


def test_readyz_is_503_when_the_database_is_down(app, app_factory):
    # `app` is built first: the fixture's PostgreSQL clean-up runs through the first app built.
    client = app_factory(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unavailable", "redis": "ok"}


def test_dev_smtp_keeps_what_it_receives(tmp_path):
    """`flask --app wsgi dev-smtp --port N`: a local sink keeping each mail as a file (instance/devmail/ by default)."""
    import smtplib
    import socket
    import time

    from mailer.config import Config
    from tests.fixtures import free_port

    assert Path(Config(TESTING=True).finalize(str(tmp_path)).DEVMAIL_DIR) == tmp_path / "devmail"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"JWT_SECRET_KEY", "DATABASE_URL", "FLASK_APP"}}
    env.update(FLASK_DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'mailer.db'}", REDIS_URL=TEST_REDIS_URL,
               DEVMAIL_DIR=str(tmp_path / "devmail"))
    proc = subprocess.Popen([FLASK, "--app", "wsgi", "dev-smtp", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "dev-smtp did not start"
                time.sleep(0.1)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.sendmail("a@example.com", ["b@example.com"], b"Subject: hello\r\n\r\nbody\r\n")
        [kept] = list((tmp_path / "devmail").glob("*.eml"))
        assert b"Subject: hello" in kept.read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_openapi_documents_the_rate_limit_headers_of_a_429(client):
    """§1/§5: 429 rate_limited | quota_exceeded comes with Retry-After and X-RateLimit-* headers."""
    spec = client.get("/openapi.json").get_json()
    for path, method in (("/v1/messages", "post"), ("/v1/broadcasts", "post"), ("/v1/auth/login", "post")):
        headers = spec["paths"][path][method]["responses"]["429"]["headers"]
        assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(headers)


def test_retry_after_only_on_a_429(app_factory):
    """§5: over a limit → 429 with Retry-After; an answer within the limit carries X-RateLimit-*, not Retry-After."""
    from tests.helpers import create_tenant

    app = app_factory(RATELIMIT_LOGIN_IP="1/minute")
    create_tenant(app)
    client = app.test_client()
    body = {"tenant": "acme", "email": "admin@acme.test", "password": "wrong password!"}
    first = client.post("/v1/auth/login", json=body)
    assert first.status_code == 401 and "Retry-After" not in first.headers
    assert first.headers["X-RateLimit-Limit"] == "1" and first.headers["X-RateLimit-Remaining"] == "0"
    second = client.post("/v1/auth/login", json=body)
    assert second.status_code == 429 and second.get_json()["code"] == "rate_limited"
    assert int(second.headers["Retry-After"]) > 0
