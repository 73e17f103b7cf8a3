"""The documented response models accept what accounts, admin, templates, broadcasts and stats really return."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mailer.admin.responses import ApiKeyCreated, ApiKeyOut, AuditEventOut, TenantOut, UserOut
from mailer.auth.responses import (
    PasswordResetOut,
    ResetRequestedOut,
    TokenPairOut,
    VerificationSentOut,
    VerifiedOut,
)
from mailer.http.pagination import Page
from mailer.notifications.responses import (
    BroadcastAccepted,
    RecipientOut,
    RenderedOut,
    RetryAccepted,
    StatsOut,
    TemplateOut,
)
from tests.helpers import ADMIN_PASSWORD, PASSWORD, bearer, create_tenant, login_pair, mails_to, token_in


def _as(model: type[BaseModel], response: Any, status: int) -> Any:
    assert response.status_code == status, response.get_json()
    return model.model_validate(response.get_json())


def _admin(app: Any, client: Any) -> dict[str, Any]:
    create_tenant(app, "acme", "admin@acme.test", frontend_url="https://app.acme.test/")
    pair = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                               "password": ADMIN_PASSWORD}).get_json()
    return bearer(pair["access_token"])


def test_account_endpoints_answer_as_documented(app, client, worker, smtp_server):
    """register → verify → forgot → reset → login → refresh → logout (empty body, then JSON body)."""
    create_tenant(app, "acme", "admin@acme.test", frontend_url="https://app.acme.test/")
    address = {"tenant": "acme", "email": "ann@example.com"}
    assert _as(VerificationSentOut, client.post("/v1/auth/register", json={**address, "password": PASSWORD}), 202)
    assert _as(VerificationSentOut, client.post("/v1/auth/resend-verification", json=address), 202)
    worker()
    token = token_in(mails_to(smtp_server, "ann@example.com")[-1], "/verify-email")
    assert _as(VerifiedOut, client.post("/v1/auth/verify-email", json={"token": token}), 200)

    assert _as(ResetRequestedOut, client.post("/v1/auth/forgot-password", json=address), 202)
    worker()
    token = token_in(mails_to(smtp_server, "ann@example.com")[-1], "/reset-password")
    new_password = PASSWORD + "!"
    reset = client.post("/v1/auth/reset-password", json={"token": token, "password": new_password})
    assert _as(PasswordResetOut, reset, 200)

    pair = TokenPairOut.model_validate(login_pair(client, "ann@example.com", new_password))
    rotated = _as(TokenPairOut, client.post("/v1/auth/refresh", json={"refresh_token": pair.refresh_token}), 200)
    response = client.post("/v1/auth/logout", headers=bearer(rotated.access_token))
    assert response.status_code == 204 and response.get_data() == b""

    again = TokenPairOut.model_validate(login_pair(client, "ann@example.com", new_password))
    response = client.post("/v1/auth/logout", headers=bearer(again.access_token),
                           json={"refresh_token": again.refresh_token})
    assert response.status_code == 204
    refused = client.post("/v1/auth/refresh", json={"refresh_token": again.refresh_token})
    assert refused.status_code == 401


def test_admin_endpoints_answer_as_documented(app, client):
    """Tenant, users (with filters), API keys and the audit trail (filtered by action)."""
    admin = _admin(app, client)
    assert _as(TenantOut, client.get("/v1/tenant", headers=admin), 200).frontend_url.startswith("https://app.acme.test")
    patched = _as(TenantOut, client.patch("/v1/tenant", headers=admin, json={"mail_from_name": "Acme Mail"}), 200)
    assert patched.mail_from_name == "Acme Mail"

    users = _as(Page[UserOut], client.get("/v1/users?role=admin&is_active=true", headers=admin), 200)
    assert [u.email for u in users.items] == ["admin@acme.test"]
    assert _as(Page[UserOut], client.get("/v1/users?role=user", headers=admin), 200).total == 0
    assert client.get("/v1/users?role=service", headers=admin).status_code == 422
    same = _as(UserOut, client.patch(f"/v1/users/{users.items[0].id}", headers=admin, json={"is_active": True}), 200)
    assert same.role == "admin" and same.is_active

    created = _as(ApiKeyCreated, client.post("/v1/api-keys", headers=admin, json={"name": "ci"}), 201)
    assert created.key.startswith(created.prefix)
    listed = _as(Page[ApiKeyOut], client.get("/v1/api-keys", headers=admin), 200)
    assert [k.id for k in listed.items] == [created.id]
    assert "key" not in client.get("/v1/api-keys", headers=admin).get_json()["items"][0]
    assert client.delete(f"/v1/api-keys/{created.id}", headers=admin).status_code == 204
    assert client.delete(f"/v1/api-keys/{created.id}", headers=admin).status_code == 404

    trail = _as(Page[AuditEventOut], client.get("/v1/audit-events?action=api_key.created", headers=admin), 200)
    assert trail.total == 1 and trail.items[0].details == {"api_key_id": str(created.id), "name": "ci"}
    everything = _as(Page[AuditEventOut], client.get("/v1/audit-events?per_page=100", headers=admin), 200)
    assert {"login.succeeded", "tenant.changed", "api_key.created", "api_key.revoked"} <= {
        e.action for e in everything.items}
    assert client.get("/v1/audit-events?per_page=101", headers=admin).status_code == 422


def test_template_endpoints_answer_as_documented(app, client):
    admin = _admin(app, client)
    body = {"subject": "Hi {{ recipient.name }}", "text": "Hello {{ who }}", "description": "greeting"}
    created = _as(TemplateOut, client.put("/v1/templates/greeting", headers=admin, json=body), 201)
    assert created.source == "tenant" and created.created_at is not None
    assert _as(TemplateOut, client.put("/v1/templates/greeting", headers=admin, json=body), 200).html is None
    assert _as(TemplateOut, client.get("/v1/templates/greeting", headers=admin), 200).description == "greeting"
    builtin = _as(TemplateOut, client.get("/v1/templates/verification", headers=admin), 200)
    assert builtin.source == "builtin" and builtin.created_at is None
    mine = _as(Page[TemplateOut], client.get("/v1/templates?source=tenant", headers=admin), 200)
    assert [t.name for t in mine.items] == ["greeting"]
    everything = _as(Page[TemplateOut], client.get("/v1/templates", headers=admin), 200)
    assert "verification" in {t.name for t in everything.items}
    assert client.get("/v1/templates?source=nope", headers=admin).status_code == 422
    rendered = _as(RenderedOut, client.post("/v1/templates/greeting/preview", headers=admin,
                                            json={"data": {"who": "world"}}), 200)
    assert rendered.text == "Hello world" and rendered.html is None

    broken = client.put("/v1/templates/broken", headers=admin, json={"subject": "x", "text": "a\n{{ oops"})
    assert broken.status_code == 422 and broken.get_json()["errors"][0]["line"] == 2
    assert client.delete("/v1/templates/greeting", headers=admin).status_code == 204


def test_broadcast_recipients_retry_and_stats_answer_as_documented(app, client, worker):
    admin = _admin(app, client)
    accepted = _as(BroadcastAccepted, client.post("/v1/broadcasts", headers=admin, json={
        "subject": "News", "text": "Hello {{ recipient.email }}", "audience": {"roles": ["admin"]}}), 202)
    assert accepted.recipient_count == 1
    worker()
    sent = _as(Page[RecipientOut], client.get(f"/v1/messages/{accepted.id}/recipients?status=sent",
                                              headers=admin), 200)
    assert [r.email for r in sent.items] == ["admin@acme.test"]
    assert _as(Page[RecipientOut], client.get(f"/v1/messages/{accepted.id}/recipients?status=failed",
                                              headers=admin), 200).total == 0
    assert client.get(f"/v1/messages/{accepted.id}/recipients?status=bogus", headers=admin).status_code == 422
    retried = _as(RetryAccepted, client.post(f"/v1/messages/{accepted.id}/retry", headers=admin), 202)
    assert retried.requeued == 0 and retried.status == "sent"

    stats = _as(StatsOut, client.get("/v1/stats", headers=admin), 200)
    assert stats.last_24h.sent >= 1 and stats.last_24h.messages.sent >= 1
    assert stats.last_30d.total >= stats.last_24h.total


def test_spec_states_success_statuses_and_the_optional_logout_body(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]

    def success(path: str, method: str) -> set[str]:
        return {code for code in paths[path][method]["responses"] if code.startswith("2")}

    expected = {
        ("/v1/auth/register", "post"): {"202"}, ("/v1/auth/resend-verification", "post"): {"202"},
        ("/v1/auth/forgot-password", "post"): {"202"}, ("/v1/auth/verify-email", "post"): {"200"},
        ("/v1/auth/reset-password", "post"): {"200"}, ("/v1/auth/refresh", "post"): {"200"},
        ("/v1/auth/logout", "post"): {"204"}, ("/v1/broadcasts", "post"): {"202"},
        ("/v1/api-keys", "post"): {"201"}, ("/v1/api-keys/{key_id}", "delete"): {"204"},
        ("/v1/templates/{name}", "put"): {"200", "201"}, ("/v1/templates/{name}", "delete"): {"204"},
        ("/v1/tenant", "patch"): {"200"}, ("/v1/users/{user_id}", "patch"): {"200"},
        ("/v1/audit-events", "get"): {"200"}, ("/v1/stats", "get"): {"200"},
    }
    assert {key: success(*key) for key in expected} == expected
    for path in ("/v1/auth/register", "/v1/auth/verify-email", "/v1/auth/resend-verification",
                 "/v1/auth/forgot-password", "/v1/auth/reset-password", "/v1/auth/login", "/v1/auth/refresh"):
        assert paths[path]["post"]["security"] == [], path
    assert {"400", "422"} <= set(paths["/v1/auth/verify-email"]["post"]["responses"])
    assert "403" in paths["/v1/auth/refresh"]["post"]["responses"]
    assert paths["/v1/auth/logout"]["post"]["requestBody"]["required"] is False
    assert paths["/v1/auth/register"]["post"]["requestBody"]["required"] is True
    audit = {p["name"] for p in paths["/v1/audit-events"]["get"]["parameters"]}
    assert audit == {"page", "per_page", "action"}
    assert {p["name"] for p in paths["/v1/messages/{message_id}/recipients"]["get"]["parameters"]} >= {
        "message_id", "status", "page"}
