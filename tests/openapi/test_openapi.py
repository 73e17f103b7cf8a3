"""/openapi.json is generated from the routes and their pydantic models, and covers every /v1/ route."""

from __future__ import annotations

from typing import Any

from mailer.auth.responses import MeOut, TokenPairOut
from mailer.http.pagination import Page
from mailer.notifications.responses import MessageAccepted, MessageDetail, MessageSummary, RecipientDetail
from mailer.observability.health import Health, Readiness
from mailer.openapi.spec import undocumented_api_routes
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_v1_route_is_documented(app):
    """A /v1/ route without @documented fails here, whoever adds it."""
    assert undocumented_api_routes(app) == []


def test_an_undocumented_route_is_reported(app):
    """The check above can fail: a bare new route is named (whatever else is undocumented at the time)."""
    before = undocumented_api_routes(app)
    app.add_url_rule("/v1/things/<thing_id>", "things", lambda thing_id: {}, methods=["GET", "DELETE"])
    after = undocumented_api_routes(app)
    assert sorted(set(after) - set(before)) == ["DELETE /v1/things/<thing_id>", "GET /v1/things/<thing_id>"]
    assert set(before) <= set(after)


def test_spec_describes_routes_models_errors_and_security(client):
    """Paths, bodies from the request models, problem errors, path parameters and the bearer scheme."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    send = spec["paths"]["/v1/messages"]["post"]
    body_schema = send["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/MessageRequest"}
    request_schema = spec["components"]["schemas"]["MessageRequest"]
    assert request_schema["additionalProperties"] is False
    assert {"to", "cc", "bcc", "subject", "template", "send_at"} <= set(request_schema["properties"])
    assert set(send["responses"]) == {"202", "400", "401", "403", "409", "413", "415", "422", "429"}
    assert send["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"}
    assert send["security"] == [{"bearerAuth": []}]

    recipient = spec["paths"]["/v1/messages/{message_id}/recipients/{recipient_id}"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in recipient["parameters"]] == [
        ("message_id", "path", True), ("recipient_id", "path", True)]
    assert "404" in recipient["responses"]

    login_op = spec["paths"]["/v1/auth/login"]["post"]
    assert login_op["security"] == [] and "401" in login_op["responses"]
    listing = {p["name"]: p for p in spec["paths"]["/v1/messages"]["get"]["parameters"]}
    assert listing["per_page"]["schema"]["maximum"] == 100 and not listing["status"]["required"]
    assert set(spec["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}

    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "code", "request_id"}
    for ref in _refs(spec):
        _, _, section, name = ref.split("/")
        assert name in spec["components"][section], ref


def test_real_responses_match_the_documented_models(app, client, worker):
    """The models that describe responses accept what the endpoints really return (no drift)."""
    create_tenant(app)
    pair = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                               "password": ADMIN_PASSWORD}).get_json()
    TokenPairOut.model_validate(pair)
    headers = bearer(pair["access_token"])
    MeOut.model_validate(client.get("/v1/auth/me", headers=headers).get_json())

    accepted = client.post("/v1/messages", headers=headers, json={
        "to": ["ann@example.com"], "subject": "Hi", "text": "x", "tags": ["t"], "metadata": {"k": "v"}})
    message = MessageAccepted.model_validate(accepted.get_json())
    worker()
    detail = MessageDetail.model_validate(client.get(f"/v1/messages/{message.id}", headers=headers).get_json())
    assert detail.recipients and detail.recipients[0].status == "sent"
    rid = detail.recipients[0].id
    one = RecipientDetail.model_validate(
        client.get(f"/v1/messages/{message.id}/recipients/{rid}", headers=headers).get_json())
    assert [e.outcome for e in one.events] == ["sent"]
    page = Page[MessageSummary].model_validate(client.get("/v1/messages", headers=headers).get_json())
    assert page.total == 1
    Health.model_validate(client.get("/healthz").get_json())
    Readiness.model_validate(client.get("/readyz").get_json())


def test_docs_page_points_at_the_description(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'spec-url="/openapi.json"' in page and "redoc.standalone.js" in page


def test_query_parameters_are_validated_by_the_model_that_documents_them(app, client):
    """?kind= must be one of the documented kinds; page is bounded; found by schemathesis on PostgreSQL."""
    create_tenant(app)
    headers = bearer(client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                          "password": ADMIN_PASSWORD}).get_json()["access_token"])
    assert client.get("/v1/messages?kind=custom&status=sent", headers=headers).status_code == 200
    for query in ("kind=bogus", "status=nope", "page=0", "page=99999999999999999999", "per_page=101"):
        response = client.get(f"/v1/messages?{query}", headers=headers)
        assert response.status_code == 422, query
        assert response.get_json()["errors"][0]["field"] == query.split("=")[0]


def test_nul_characters_are_a_validation_error_not_a_database_error(app, client):
    create_tenant(app)
    response = client.post("/v1/auth/login", json={"tenant": "ac\x00me", "email": "a@b.c", "password": "x"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "tenant", "message": "must not contain NUL characters"}]
    token = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                "password": ADMIN_PASSWORD}).get_json()["access_token"]
    response = client.get("/v1/messages?tag=a%00b", headers=bearer(token))
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "tag"
