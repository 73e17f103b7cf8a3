"""API.md §1 Conventions, sentence by sentence, against the real app."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.helpers import bearer, login

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ZULU = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


def message(client, headers, **extra):
    body = {"to": ["ann@example.com"], "subject": "Hi", "text": "Hello", **extra}
    return client.post("/v1/messages", json=body, headers=headers)


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/v1/messages"), ("patch", "/v1/tenant"), ("put", "/v1/templates/welcome"),
    ("post", "/v1/broadcasts"), ("post", "/v1/api-keys"),
])
def test_a_body_that_is_not_application_json_is_415(client, acme, method, path):
    response = getattr(client, method)(path, data="name=x", content_type="application/x-www-form-urlencoded",
                                       headers=acme.admin)
    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


def test_a_non_json_body_is_415_even_where_the_route_reads_no_body(client, acme):
    sent = message(client, acme.admin).get_json()["id"]
    retried = client.post(f"/v1/messages/{sent}/retry", data="all=1", content_type="application/x-www-form-urlencoded",
                          headers=acme.admin)
    assert retried.status_code == 415 and retried.get_json()["code"] == "unsupported_media_type"
    assert client.post(f"/v1/messages/{sent}/retry", headers=acme.admin).status_code == 202  # no body: fine


@pytest.mark.parametrize(("method", "path", "body"), [
    ("patch", "/v1/tenant", {"name": "A", "id": str(uuid.uuid4())}),
    ("patch", "/v1/tenant", {"slug": "other"}),
    ("post", "/v1/api-keys", {"name": "ci", "tenant_id": str(uuid.uuid4())}),
    ("put", "/v1/templates/welcome", {"subject": "s", "text": "t", "tenant_id": str(uuid.uuid4())}),
    ("post", "/v1/broadcasts", {"subject": "s", "text": "t", "audience": {}, "status": "sent"}),
    ("post", "/v1/broadcasts", {"subject": "s", "text": "t", "audience": {"roles": ["user"], "tenant_id": "x"}}),
    ("post", "/v1/templates/broadcast/preview", {"data": {}, "tenant": {"name": "x"}}),
])
def test_unknown_fields_are_422_naming_the_field(client, acme, method, path, body):
    response = getattr(client, method)(path, json=body, headers=acme.admin)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert problem["errors"] and all(set(e) >= {"field", "message"} for e in problem["errors"])


def test_unknown_fields_of_a_user_patch_are_422(client, acme):
    response = client.patch(f"/v1/users/{acme.user_id}", json={"email": "x@example.com"}, headers=acme.admin)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "email"


def test_problem_json_has_exactly_the_contract_members_and_errors_only_for_validation(client, acme):
    not_found = client.get(f"/v1/messages/{uuid.uuid4()}", headers=acme.admin)
    assert not_found.status_code == 404
    assert not_found.headers["Content-Type"] == "application/problem+json"
    body = not_found.get_json()
    assert set(body) == PROBLEM_KEYS
    assert body["type"] == "urn:mailer:problem:not_found" and body["code"] == "not_found" and body["status"] == 404
    assert body["request_id"] == not_found.headers["X-Request-ID"]

    invalid = message(client, acme.admin, to=["a@example.com", "b@example.com", "not-an-address"])
    body = invalid.get_json()
    assert invalid.status_code == 422 and invalid.headers["Content-Type"] == "application/problem+json"
    assert set(body) == PROBLEM_KEYS | {"errors"}
    assert body["type"] == "urn:mailer:problem:validation_error"
    assert [e["field"] for e in body["errors"]] == ["to[2]"]
    assert isinstance(body["errors"][0]["message"], str)


def test_a_sane_client_request_id_is_echoed_and_an_insane_one_replaced(client, acme):
    echoed = client.get("/v1/messages", headers={**acme.admin, "X-Request-ID": "req-42.abc"})
    assert echoed.headers["X-Request-ID"] == "req-42.abc"
    replaced = client.get("/v1/messages", headers={**acme.admin, "X-Request-ID": "bad id\twith spaces" * 20})
    assert replaced.headers["X-Request-ID"] and "bad id" not in replaced.headers["X-Request-ID"]
    failed = client.post("/v1/messages", data="{", content_type="application/json",
                         headers={**acme.admin, "X-Request-ID": "req-43"})
    assert failed.headers["X-Request-ID"] == "req-43" and failed.get_json()["request_id"] == "req-43"


def test_ids_are_uuids_and_timestamps_iso8601_utc_with_z(client, acme, worker):
    created = message(client, acme.admin).get_json()
    assert UUID.match(created["id"]) and ZULU.match(created["created_at"])
    worker()
    shown = client.get(f"/v1/messages/{created['id']}", headers=acme.admin).get_json()
    assert UUID.match(shown["created_by"])
    [recipient] = shown["recipients"]
    assert UUID.match(recipient["id"]) and ZULU.match(recipient["sent_at"])
    [event] = client.get("/v1/audit-events?action=message.created", headers=acme.admin).get_json()["items"]
    assert UUID.match(event["id"]) and ZULU.match(event["at"])


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/users", "/v1/api-keys", "/v1/audit-events", "/v1/templates"])
def test_lists_answer_items_page_per_page_total_and_cap_per_page_at_100(client, acme, path):
    response = client.get(f"{path}?page=1&per_page=100", headers=acme.admin)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items", "page", "per_page", "total"}
    assert body["page"] == 1 and body["per_page"] == 100 and isinstance(body["total"], int)
    default = client.get(path, headers=acme.admin).get_json()
    assert default["page"] == 1 and default["per_page"] == 50
    too_many = client.get(f"{path}?per_page=101", headers=acme.admin)
    assert too_many.status_code == 422 and too_many.get_json()["errors"][0]["field"] == "per_page"


def test_paging_walks_the_list(client, acme):
    ids = [message(client, acme.admin).get_json()["id"] for _ in range(3)]
    first = client.get("/v1/messages?page=1&per_page=2", headers=acme.admin).get_json()
    second = client.get("/v1/messages?page=2&per_page=2", headers=acme.admin).get_json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {m["id"] for m in first["items"] + second["items"]} == set(ids)


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-jwt", "Basic YTpi", "Bearer mk_unknownkey"])
def test_missing_or_invalid_bearer_is_401_with_the_challenge(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/v1/messages", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.get_json()["code"] == "unauthorized"


def test_another_tenants_resources_are_404_never_403(client, acme, globex):
    sent = message(client, acme.admin).get_json()["id"]
    for path in (f"/v1/messages/{sent}", f"/v1/messages/{sent}/recipients"):
        response = client.get(path, headers=globex.admin)
        assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    retried = client.post(f"/v1/messages/{sent}/retry", headers=globex.admin)
    assert retried.status_code == 404
    # A plain user of the same tenant may not see the admin's message either: 404, not 403.
    assert client.get(f"/v1/messages/{sent}", headers=acme.user).status_code == 404


def test_role_too_low_is_403_forbidden(client, acme):
    response = client.get("/v1/users", headers=acme.user)
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"


def test_retry_after_is_sent_only_with_429(client, acme):
    accepted = message(client, acme.admin)
    assert accepted.status_code == 202 and "Retry-After" not in accepted.headers
    refused = message(client, acme.admin, to=["nope"])
    assert refused.status_code == 422 and "Retry-After" not in refused.headers
    registered = client.post("/v1/auth/register", json={"tenant": "acme", "email": "r@example.com",
                                                        "password": "long enough"})
    assert registered.status_code == 202 and "Retry-After" not in registered.headers


def test_204_answers_have_no_body_and_no_media_type(client, acme):
    key = client.post("/v1/api-keys", json={"name": "ci"}, headers=acme.admin).get_json()
    client.put("/v1/templates/welcome", json={"subject": "s", "text": "t"}, headers=acme.admin)
    token = login(client, "acme", acme.admin_email)
    for response in (
        client.delete(f"/v1/api-keys/{key['id']}", headers=acme.admin),
        client.delete("/v1/templates/welcome", headers=acme.admin),
        client.post("/v1/auth/logout", headers=bearer(token)),
    ):
        assert response.status_code == 204 and response.data == b""
        assert "Content-Type" not in response.headers
