"""`POST /v1/webhooks/{id}/rotate-secret {"expire_previous": true}` (API.md §9): a leaked secret stops signing at
once, and it is gone from the row; the body is optional and any other field is 422."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from tests.fixtures import Seeded
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import dispatch, subscribe


def _rotate(client: FlaskClient, tenant: Seeded, webhook_id: str, **kwargs: object) -> str:
    response = client.post(f"/v1/webhooks/{webhook_id}/rotate-secret", headers=tenant.admin, **kwargs)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["secret"]


def test_expire_previous_ends_the_leaked_secret_at_once(app: Flask, client: FlaskClient, acme: Seeded,
                                                        receiver: Receiver, redis: Redis) -> None:
    """The next delivery carries one signature, by the new secret; the leaked one verifies nothing, and the
    sealed previous secret is no longer stored."""
    from mailer.extensions import db
    from mailer.models import WebhookEndpoint

    hook = subscribe(client, acme, receiver)
    leaked = hook["secret"]
    new = _rotate(client, acme, hook["id"], json={"expire_previous": True})
    receiver.secrets.append(new)
    assert client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin).status_code == 202
    dispatch(app, redis)
    [received] = receiver.requests
    assert received.verified_by == [new] and leaked not in received.verified_by
    assert len(received.headers["webhook-signature"].split(" ")) == 1
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, __import__("uuid").UUID(hook["id"]))
        assert endpoint.previous_secret_sealed is None and endpoint.previous_secret_expires_at is None


def test_expire_previous_also_ends_a_secret_still_in_its_overlap(app: Flask, client: FlaskClient, acme: Seeded,
                                                                receiver: Receiver, redis: Redis) -> None:
    """A plain rotation (A → B, A still signing), then a revoking one (B → C): only C signs, A and B verify nothing."""
    hook = subscribe(client, acme, receiver)
    first = hook["secret"]
    second = _rotate(client, acme, hook["id"])
    receiver.secrets.append(second)
    third = _rotate(client, acme, hook["id"], json={"expire_previous": True})
    receiver.secrets.append(third)
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    dispatch(app, redis)
    [received] = receiver.requests
    assert received.verified_by == [third] and first not in received.verified_by


def test_the_body_is_optional_false_keeps_the_overlap_and_other_fields_are_422(
    app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver, redis: Redis,
) -> None:
    """No body and `{"expire_previous": false}` both keep the 24 h overlap; an unknown field or a non-boolean → 422."""
    hook = subscribe(client, acme, receiver)
    for bad in ({"expire": True}, {"expire_previous": "yes"}, {"expire_previous": True, "x": 1}):
        response = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", json=bad, headers=acme.admin)
        assert response.status_code == 422, bad
    second = _rotate(client, acme, hook["id"], json={"expire_previous": False})
    receiver.secrets.append(second)
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    dispatch(app, redis)
    assert set(receiver.requests[0].verified_by) == {hook["secret"], second}
