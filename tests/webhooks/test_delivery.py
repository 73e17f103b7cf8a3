"""Signed delivery (API.md §9) to real HTTP receivers: signatures a stock library verifies, retries,
410, redirects, replay, rotation, tenant isolation, the guard at delivery time, and the outbox."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from tests.fixtures import Drainer, Seeded, SmtpSink
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import deliveries, dispatch, dispatch_until, subscribe


def _send(client: FlaskClient, tenant: Seeded, to: str = "ann@example.com", **extra: Any) -> str:
    response = client.post("/v1/messages", json={"to": [to], "subject": "Hi", "text": "Hello", **extra},
                           headers=tenant.admin)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def _detail(client: FlaskClient, tenant: Seeded, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries/{delivery_id}", headers=tenant.admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_message_sent_arrives_signed_and_verifies(client: FlaskClient, acme: Seeded, receiver: Receiver,
                                                  worker: Drainer, smtp_server: SmtpSink) -> None:
    """A sent message reaches the receiver once as `message.sent`, verified by standardwebhooks.Webhook,
    with the contract's data fields; the delivery is `succeeded` with one attempt."""
    hook = subscribe(client, acme, receiver)
    message_id = _send(client, acme, tags=["welcome"], metadata={"order": "42"})
    worker()  # delivers the mail, then the dispatcher job the commit nudged
    assert len(smtp_server.messages) == 1
    [received] = receiver.requests
    assert received.verified_by == [hook["secret"]]
    event = received.json
    assert event["type"] == "message.sent" and event["timestamp"].endswith("Z")
    data = event["data"]
    assert set(data) == {"message_id", "recipient_id", "email", "status", "kind", "tags", "metadata", "smtp_code",
                         "enhanced_code", "response"}
    assert data["message_id"] == message_id and data["email"] == "ann@example.com" and data["status"] == "sent"
    assert data["smtp_code"] == 250 and data["tags"] == ["welcome"] and data["metadata"] == {"order": "42"}
    [delivery] = deliveries(client, acme, hook["id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1 and delivery["last_status_code"] == 200
    assert delivery["event_type"] == "message.sent" and delivery["event_id"] == received.webhook_id


def test_event_filter_and_tenants_are_respected(client: FlaskClient, acme: Seeded, globex: Seeded,
                                                receiver: Receiver, worker: Drainer) -> None:
    """Globex's mail never reaches acme's endpoint; an endpoint gets only the types it lists."""
    other = Receiver().start()
    try:
        subscribe(client, acme, receiver, events=["message.sent"])
        subscribe(client, acme, other, events=["message.failed"])
        _send(client, globex)
        worker()
        assert receiver.requests == [] and other.requests == []
        _send(client, acme)
        worker()
        assert [r.json["type"] for r in receiver.requests] == ["message.sent"]
        assert other.requests == []
    finally:
        other.stop()


def test_failures_are_retried_then_succeed(app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver,
                                           redis: Redis) -> None:
    """500, 500, then 200: exactly one success, three attempts in the log, every one signed alike."""
    hook = subscribe(client, acme, receiver)
    receiver.script = [500, 500]
    test = client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin).get_json()
    dispatch_until(app, redis, lambda: len(receiver.requests) == 3)
    assert [r.webhook_id for r in receiver.requests] == [test["event_id"]] * 3
    assert all(r.verified_by for r in receiver.requests)
    detail = _detail(client, acme, hook["id"], test["delivery_id"])
    assert detail["status"] == "succeeded" and detail["attempts"] == 3
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 500, 200]
    assert detail["attempt_log"][0]["error"] == "HTTP 500" and detail["attempt_log"][2]["error"] is None
    assert all(a["latency_ms"] is not None for a in detail["attempt_log"])
    dispatch(app, redis)
    assert len(receiver.requests) == 3


def test_retries_run_out_then_failed_and_replay_delivers(app: Flask, client: FlaskClient, acme: Seeded,
                                                        receiver: Receiver, redis: Redis) -> None:
    """A first attempt plus one per WEBHOOK_RETRY_DELAYS, then `failed`; a replay sends it again now."""
    hook = subscribe(client, acme, receiver)
    receiver.default = 503
    test = client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin).get_json()
    dispatch_until(app, redis, lambda: deliveries(client, acme, hook["id"], status="failed"))
    assert len(receiver.requests) == 3  # WEBHOOK_RETRY_DELAYS has two delays
    [failed] = deliveries(client, acme, hook["id"], status="failed")
    assert failed["attempts"] == 3 and failed["last_status_code"] == 503 and failed["next_attempt_at"] is None
    receiver.default = 200
    replay = client.post(f"/v1/webhooks/{hook['id']}/deliveries/{test['delivery_id']}/retry", headers=acme.admin)
    assert replay.status_code == 202 and replay.get_json()["status"] == "pending"
    dispatch_until(app, redis, lambda: len(receiver.requests) == 4)
    assert receiver.requests[3].webhook_id == test["event_id"] and receiver.requests[3].verified_by
    assert _detail(client, acme, hook["id"], test["delivery_id"])["status"] == "succeeded"


def test_gone_disables_the_endpoint(app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver,
                                    redis: Redis) -> None:
    """A 410 fails the delivery, disables the endpoint, and nothing more is sent until it is enabled."""
    hook = subscribe(client, acme, receiver)
    receiver.script = [410]
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    dispatch(app, redis)
    shown = client.get(f"/v1/webhooks/{hook['id']}", headers=acme.admin).get_json()
    assert shown["enabled"] is False and "410" in shown["disabled_reason"]
    assert deliveries(client, acme, hook["id"])[0]["status"] == "failed"
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    dispatch(app, redis)
    assert len(receiver.requests) == 1
    client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=acme.admin)
    dispatch(app, redis)
    assert len(receiver.requests) == 2 and receiver.requests[1].json["type"] == "webhook.test"


def test_redirects_are_not_followed(app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver,
                                    redis: Redis) -> None:
    """A 302 is a failed attempt to retry; its Location never gets a request."""
    elsewhere = Receiver().start()
    try:
        hook = subscribe(client, acme, receiver)
        receiver.script = [("redirect", elsewhere.url)]
        client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
        dispatch(app, redis)
        [delivery] = deliveries(client, acme, hook["id"])
        assert delivery["status"] == "pending" and delivery["last_status_code"] == 302
        assert "redirect not followed" in delivery["last_error"]
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_rotation_signs_with_both_secrets_for_a_day(app: Flask, client: FlaskClient, acme: Seeded,
                                                    receiver: Receiver, redis: Redis) -> None:
    """After rotate-secret both the old and the new secret verify; once the overlap ends, only the new one."""
    from sqlalchemy import update

    from mailer.extensions import db
    from mailer.models import WebhookEndpoint
    from mailer.models.types import utcnow

    hook = subscribe(client, acme, receiver)
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=acme.admin)
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    new = rotated.get_json()["secret"]
    assert new != hook["secret"]
    receiver.secrets.append(new)
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    dispatch(app, redis)
    first = receiver.requests[0]
    assert set(first.verified_by) == {hook["secret"], new}
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    with app.app_context():  # a day later
        db.session.execute(update(WebhookEndpoint).values(previous_secret_expires_at=utcnow()))
        db.session.commit()
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    dispatch(app, redis)
    assert receiver.requests[1].verified_by == [new]


def test_hanging_endpoint_times_out_and_mail_still_flows(app: Flask, client: FlaskClient, acme: Seeded,
                                                         receiver: Receiver, worker: Drainer,
                                                         smtp_server: SmtpSink, redis: Redis) -> None:
    """A receiver that sits on the request costs one bounded attempt (timeout, retried later); mail is sent."""
    hook = subscribe(client, acme, receiver)
    receiver.script = [("hang", 5)]
    started = time.monotonic()
    _send(client, acme)
    worker()
    assert len(smtp_server.messages) == 1
    assert time.monotonic() - started < 6.5  # WEBHOOK_TIMEOUT_SECONDS is 1: the 5 s hang was not waited out
    [delivery] = deliveries(client, acme, hook["id"])
    # The delivery loop may still be running when the 1 s retry falls due, and then the retry went out too.
    if delivery["status"] == "pending":
        assert delivery["last_status_code"] is None and "timed out" in delivery["last_error"]
    else:
        assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)  # the first attempt was cut
    dispatch_until(app, redis, lambda: len(receiver.requests) == 2)
    assert receiver.requests[0].webhook_id == receiver.requests[1].webhook_id


def test_dispatcher_gives_the_worker_back_when_mail_waits(app: Flask, client: FlaskClient, acme: Seeded,
                                                         receiver: Receiver, redis: Redis) -> None:
    """While a POST hangs, a waiting mail job makes the run stop at once; the abandoned delivery is tried
    again after its lease, with the same webhook-id."""
    from mailer.webhooks.wakeup import mail_waiting

    hook = subscribe(client, acme, receiver)
    receiver.script = [("hang", 3)]
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    _send(client, acme)  # a job now waits in `default`
    assert mail_waiting(redis)
    started = time.monotonic()
    report = dispatch(app, redis, should_yield=lambda: mail_waiting(redis))
    assert report.yielded and time.monotonic() - started < 1.0
    [delivery] = deliveries(client, acme, hook["id"])
    assert delivery["status"] == "pending" and delivery["attempts"] == 0


def test_redis_flush_loses_no_event(app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver,
                                    redis: Redis) -> None:
    """Events committed while their nudge is lost (Redis flushed) are found by the sweep and delivered."""
    from mailer.mail.sweeper import sweep
    from mailer.queues import get_queue

    subscribe(client, acme, receiver, events=["webhook.test"])
    hook = client.get("/v1/webhooks", headers=acme.admin).get_json()["items"][0]
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    redis.flushdb()
    assert get_queue("bulk", redis).count == 0
    with app.app_context():
        sweep(redis, app.config["MAILER"].DELIVERY_LEASE_SECONDS)
    assert get_queue("bulk", redis).count == 1  # the sweep hook nudged the dispatcher
    Drainer(app, redis)()
    assert len(receiver.requests) == 2 and all(r.verified_by for r in receiver.requests)


def test_dns_rebinding_is_refused_at_delivery(client_factory: Any, dns_server: Any, redis: Redis) -> None:
    """A name that was public at creation and resolves to 127.0.0.1 at delivery is not connected to."""
    dns_server.records["rebind.hooks.test"] = "93.184.215.14"
    app, client, tenant = client_factory(WEBHOOK_ALLOW_PRIVATE=False, DNS_RESOLVERS=(dns_server.address,))
    created = client.post("/v1/webhooks", json={"url": "https://rebind.hooks.test/hook", "events": ["webhook.test"]},
                          headers=tenant.admin)
    assert created.status_code == 201
    hook = created.get_json()
    dns_server.records["rebind.hooks.test"] = "127.0.0.1"
    client.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.admin)
    dispatch(app, redis)
    [delivery] = deliveries(client, tenant, hook["id"])
    assert delivery["status"] == "pending" and delivery["last_status_code"] is None
    assert delivery["last_error"].startswith("refused:") and "127.0.0.1" not in delivery["last_error"]


def test_broadcast_finished_once(app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver,
                                 worker: Drainer) -> None:
    """A broadcast's roll-up to a final status sends one `broadcast.finished` with its counts."""
    subscribe(client, acme, receiver, events=["broadcast.finished"])
    response = client.post("/v1/broadcasts", json={"subject": "News", "text": "Hello {{ recipient.email }}"},
                           headers=acme.admin)
    assert response.status_code == 202, response.get_json()
    message_id = response.get_json()["id"]
    worker()
    worker()
    [received] = receiver.requests
    event = received.json
    assert event["type"] == "broadcast.finished" and received.verified_by
    assert event["data"]["message_id"] == message_id and event["data"]["status"] == "sent"
    assert event["data"]["counts"]["total"] == event["data"]["counts"]["sent"] == 2


def test_https_connects_to_the_checked_address_and_verifies_the_name(client_factory: Any, dns_server: Any,
                                                                      redis: Redis, tmp_path: Any,
                                                                      monkeypatch: Any) -> None:
    """An https URL whose name resolves (real DNS server) to the receiver: the POST goes to that address with
    the name as SNI and a verified certificate; a certificate for another name is refused, nothing is sent."""
    import ssl

    import trustme

    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the CA the dispatcher's default context trusts
    right = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    wrong = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("hooks.test").configure_cert(right)
    authority.issue_cert("other.test").configure_cert(wrong)
    good = Receiver(tls=right, host="hooks.test").start()
    bad = Receiver(tls=wrong, host="hooks.test").start()
    try:
        dns_server.records["hooks.test"] = "127.0.0.1"
        app, client, tenant = client_factory(DNS_RESOLVERS=(dns_server.address,))
        hooks = [subscribe(client, tenant, receiver, events=["webhook.test"]) for receiver in (good, bad)]
        for hook in hooks:
            client.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.admin)
        dispatch(app, redis)
        assert len(good.requests) == 1 and good.requests[0].verified_by
        assert good.requests[0].headers["host"] == f"hooks.test:{good.server.server_address[1]}"
        assert bad.requests == []
        [refused] = deliveries(client, tenant, hooks[1]["id"])
        assert refused["status"] == "pending" and "SSL" in refused["last_error"]
    finally:
        good.stop()
        bad.stop()


def test_dispatcher_yields_between_rounds(app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver,
                                          redis: Redis, monkeypatch: Any) -> None:
    """A run whose rounds end quickly still gives its worker back once mail waits: not every due delivery
    is sent in that run; the next run sends the rest."""
    monkeypatch.setattr("mailer.webhooks.rounds.ROUND_SIZE", 1)  # one delivery per round
    hook = subscribe(client, acme, receiver)
    for _ in range(3):
        client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin)
    report = dispatch(app, redis, should_yield=lambda: len(receiver.requests) >= 1)
    assert report.yielded and 1 <= len(receiver.requests) < 3
    dispatch(app, redis)
    assert len(receiver.requests) == 3 and len({r.webhook_id for r in receiver.requests}) == 3
