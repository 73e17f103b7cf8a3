"""/metrics: DB gauges, Redis-mirrored counters from any process, and operator-only access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from mailer.errors import RateLimitedError
from mailer.models import Recipient
from mailer.observability import metrics
from tests.helpers import bearer, create_tenant, login


def scrape(client, **kwargs) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_delivery_shows_up_in_gauges_counters_and_histogram(app, client, smtp_server, worker):
    """One sent and one refused recipient: message/recipient gauges, attempts by class, latency."""
    smtp_server.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    client.post("/v1/messages", json={"to": ["ann@example.com", "gone@example.com"], "subject": "Hi", "text": "x"},
                headers=bearer(token))
    before = scrape(client)
    assert before[("mailer_queue_depth", (("queue", "default"),))] == 1
    assert before[("mailer_recipients", (("status", "queued"), ("tenant", "acme")))] == 2

    worker()

    after = scrape(client)
    assert after[("mailer_queue_depth", (("queue", "default"),))] == 0
    assert after[("mailer_messages", (("status", "partially_failed"), ("tenant", "acme")))] == 1
    assert after[("mailer_recipients", (("status", "sent"), ("tenant", "acme")))] == 1
    assert after[("mailer_recipients", (("status", "failed"), ("tenant", "acme")))] == 1
    assert after[("mailer_smtp_attempts_total", (("outcome", "sent"), ("reply_class", "2xx")))] == 1
    assert after[("mailer_smtp_attempts_total", (("outcome", "failed"), ("reply_class", "5xx")))] == 1
    assert after[("mailer_smtp_latency_seconds_count", ())] == 2
    assert after[("mailer_smtp_latency_seconds_bucket", (("le", "+Inf"),))] == 2
    assert 0 < after[("mailer_smtp_latency_seconds_sum", ())] < 10
    assert after[("mailer_oldest_due_recipient_age_seconds", ())] == 0
    assert after[("mailer_metrics_redis_up", ())] == 1 and after[("mailer_metrics_database_up", ())] == 1


def test_oldest_due_recipient_age(app, client, db):
    """The age counts from when the longest-waiting recipient became due."""
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi", "text": "x"},
                headers=bearer(token))
    db.session.execute(update(Recipient).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=300)))
    db.session.commit()
    age = scrape(client)[("mailer_oldest_due_recipient_age_seconds", ())]
    assert 300 <= age < 360


def test_rate_limited_answers_are_counted_by_scope(app, client):
    def limited():
        raise RateLimitedError()

    app.add_url_rule("/v1/limited-probe", "limited_probe", limited)
    assert client.get("/v1/limited-probe").status_code == 429
    assert client.get("/v1/limited-probe").status_code == 429
    assert scrape(client)[("mailer_rate_limited_total", (("scope", "limited_probe"),))] == 2


class FakePoolHandler:
    def __init__(self) -> None:
        self.counts = {"opened": 0, "reused": 0, "discarded": 0}

    def stats(self) -> dict[str, int]:
        return dict(self.counts)


def test_pool_stats_are_mirrored_as_monotonic_counters(app, client, redis):
    """Whatever grew in the handler's pool since the last look is added once."""
    handler = FakePoolHandler()
    metrics._pool_seen.clear()
    try:
        with app.app_context():
            handler.counts.update(opened=2, reused=5)
            metrics.observe_pool(handler)
            metrics.observe_pool(handler)  # nothing new: nothing added
            handler.counts.update(reused=7, discarded=1)
            metrics.observe_pool(handler)
            metrics.observe_pool(object())  # a handler without stats is ignored
        values = scrape(client)
        assert values[("mailer_smtp_pool_connections_total", (("event", "opened"),))] == 2
        assert values[("mailer_smtp_pool_connections_total", (("event", "reused"),))] == 7
        assert values[("mailer_smtp_pool_connections_total", (("event", "discarded"),))] == 1
    finally:
        metrics._pool_seen.clear()  # module state: never leaks into later tests


def test_without_token_only_direct_loopback_may_scrape(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 404


def test_with_token_the_bearer_must_match(app_factory):
    client = app_factory(METRICS_TOKEN="scrape-secret-0123456789").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer("wrong")).status_code == 401
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", headers=bearer("scrape-secret-0123456789"), environ_base=remote).status_code == 200


def test_scrape_survives_redis_down(app_factory):
    """Database metrics are still served; redis_up says what is missing."""
    client = app_factory(REDIS_URL="redis://127.0.0.1:1/0").test_client()
    values = scrape(client)
    assert values[("mailer_metrics_redis_up", ())] == 0
    assert values[("mailer_metrics_database_up", ())] == 1
