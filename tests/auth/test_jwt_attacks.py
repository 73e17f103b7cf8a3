"""Every JWT attack gets a 401 problem answer, never a 500 (RFC 8725).

Header parameters that name keys (jku, jwk, x5u, x5c, kid) must never make us fetch a URL
or read a file: a Python audit hook watches for exactly that while the request runs.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest

from tests.conftest import JWT_TEST_KEY
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login_pair

_watch: dict[str, Any] = {"active": False, "needles": (), "hits": []}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watch["active"] or event not in ("open", "socket.connect", "urllib.Request", "os.listdir"):
        return
    text = repr(args)
    if any(needle in text for needle in _watch["needles"]):
        _watch["hits"].append((event, text))


sys.addaudithook(_audit)


@contextmanager
def watching(*needles: str) -> Iterator[list[tuple[str, str]]]:
    _watch.update(active=True, needles=needles, hits=[])
    try:
        yield _watch["hits"]
    finally:
        _watch["active"] = False


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_for(user_id: str, tenant_id: str, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "iss": "mailer", "aud": "mailer-api", "sub": user_id, "tid": tenant_id, "role": "admin",
        "typ": "access", "jti": uuid.uuid4().hex, "iat": now, "nbf": now,
        "exp": now + timedelta(minutes=5), "ver": 1,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: str = JWT_TEST_KEY, alg: str = "HS256", headers: dict | None = None) -> str:
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def assert_rejected(response: Any) -> None:
    assert response.status_code == 401, response.get_json()
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.fixture
def ids(app: Any) -> dict[str, str]:
    created = create_tenant(app, "acme", "admin@acme.test")
    return {"user": created["admin_id"], "tenant": created["tenant_id"]}


def me(client: Any, token: str) -> Any:
    return client.get("/v1/auth/me", headers=bearer(token))


def test_a_well_formed_token_of_our_own_is_accepted(client, ids):
    """The control: the forging helpers make tokens we accept, so each rejection below is the attack's."""
    assert me(client, sign(claims_for(ids["user"], ids["tenant"]))).status_code == 200


def test_alg_none_is_rejected(client, ids):
    claims = json.loads(json.dumps(claims_for(ids["user"], ids["tenant"]), default=lambda d: int(d.timestamp())))
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
        assert_rejected(me(client, token))


def test_wrong_key_is_rejected(client, ids):
    wrong_key = "another-key-of-32-bytes-or-more-000000"
    assert_rejected(me(client, sign(claims_for(ids["user"], ids["tenant"]), key=wrong_key)))


def test_other_algorithm_even_with_our_key_is_rejected(client, ids):
    for alg in ("HS384", "HS512"):
        assert_rejected(me(client, sign(claims_for(ids["user"], ids["tenant"]), alg=alg)))


def test_edited_claim_is_rejected(app, client, ids):
    beta = create_tenant(app, "beta", "admin@beta.test")
    token = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    for change in ({"role": "service"}, {"tid": beta["tenant_id"]}, {"sub": beta["admin_id"]},
                   {"exp": claims["exp"] + 86400}, {"ver": 99}):
        assert_rejected(me(client, f"{header}.{b64({**claims, **change})}.{signature}"))
    assert me(client, token).status_code == 200


def test_missing_claims_are_rejected(client, ids):
    for name in ("exp", "iat", "nbf", "iss", "aud", "sub", "tid", "typ", "jti", "ver", "role"):
        assert_rejected(me(client, sign(claims_for(ids["user"], ids["tenant"], **{name: None}))))


def test_foreign_issuer_or_audience_is_rejected(client, ids):
    for change in ({"iss": "someone-else"}, {"aud": "another-api"}, {"aud": ["another-api"]}):
        assert_rejected(me(client, sign(claims_for(ids["user"], ids["tenant"], **change))))


def test_expired_and_not_yet_valid_tokens_are_rejected(client, ids):
    past = datetime.now(UTC) - timedelta(hours=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    assert_rejected(me(client, sign(claims_for(ids["user"], ids["tenant"], exp=past, iat=past - timedelta(1)))))
    assert_rejected(me(client, sign(claims_for(ids["user"], ids["tenant"], nbf=future))))


def test_signed_token_naming_another_tenant_is_rejected(app, client, ids):
    """Even with a valid signature, sub and tid must belong together."""
    beta = create_tenant(app, "beta", "admin@beta.test")
    assert_rejected(me(client, sign(claims_for(ids["user"], beta["tenant_id"]))))
    assert_rejected(me(client, sign(claims_for(str(uuid.uuid4()), ids["tenant"]))))


def test_malformed_claim_values_are_401_not_500(client, ids):
    for change in ({"sub": "not-a-uuid"}, {"tid": {"x": 1}}, {"ver": "one"}, {"exp": "tomorrow"},
                   {"sub": 12}, {"typ": ["access"]}, {"jti": None, "iat": "x"}):
        assert_rejected(me(client, sign(claims_for(ids["user"], ids["tenant"], **change))))


def test_malformed_and_huge_tokens_are_rejected(client, ids):
    valid = sign(claims_for(ids["user"], ids["tenant"]))
    for token in ["abc", "a.b.c", "....", "e30.e30.", f"{b64(b'[1,2]')}.{b64(b'{}')}.x", "\u00e9\u00e9.\u00e9.x",
                  valid + "x", valid[:-5], valid.replace(".", "", 1), "A" * 100_000, f"{valid}.{valid}"]:
        assert_rejected(me(client, token))
    assert_rejected(client.get("/v1/auth/me", headers={"Authorization": "Bearer " + "e" * 50_000}))


class _CountingHandler(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"keys": []}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def key_server() -> Iterator[HTTPServer]:
    _CountingHandler.hits = 0
    server = HTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_key_header_parameters_cause_no_fetch_and_no_file_read(client, ids, key_server, tmp_path):
    port = key_server.server_address[1]
    url = f"http://127.0.0.1:{port}/jwks.json"
    key_file = tmp_path / "attacker-key-file"
    key_file.write_text(JWT_TEST_KEY)
    attacker = "attacker-controlled-key-0123456789abcdef"
    attacker_jwk = {"kty": "oct", "k": b64(attacker.encode())}
    headers_list = [
        {"jku": url}, {"x5u": url}, {"jwk": attacker_jwk}, {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
        {"kid": str(key_file)}, {"kid": "../../../../../../dev/zero"}, {"kid": url},
        {"crit": ["exp"]}, {"typ": "at+jwt-but-not-ours"},
    ]
    with watching(str(port), str(key_file)) as control:  # the watcher does see a read and a fetch
        key_file.read_text()
        urllib.request.urlopen(url, timeout=5).read()
    assert {event for event, _ in control} >= {"open", "socket.connect"} and _CountingHandler.hits == 1
    _CountingHandler.hits = 0

    with watching(str(port), str(key_file), "dev/zero", "attacker-key-file") as hits:
        for headers in headers_list:
            for key in (attacker, JWT_TEST_KEY):
                token = sign(claims_for(ids["user"], ids["tenant"]), key=key, headers=headers)
                assert_rejected(me(client, token))
    assert hits == []
    assert _CountingHandler.hits == 0


def test_refresh_endpoint_rejects_forged_refresh_tokens(client, ids):
    refresh_claims = claims_for(ids["user"], ids["tenant"], typ="refresh", fam="f")
    for token in [sign(refresh_claims, key="another-key-of-32-bytes-or-more-000000"),
                  sign(refresh_claims),  # right key, but never issued: no stored session
                  sign({**refresh_claims, "exp": None}), "garbage", "A" * 10_000]:
        response = client.post("/v1/auth/refresh", json={"refresh_token": token})
        assert response.status_code in (401, 422), response.get_json()
        assert response.content_type == "application/problem+json"
