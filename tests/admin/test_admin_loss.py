"""Losing admin: two admins demoting each other at once cannot leave the tenant without one (L14), and the
keys an admin created stop working when that admin is demoted or disabled (L13)."""

from __future__ import annotations

import threading
import time

import pytest

from mailer.admin import service
from tests.conftest import TEST_DATABASE_URL
from tests.fixtures import add_users, make_api_key
from tests.helpers import bearer, login


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="row locks need PostgreSQL; SQLite has one writer anyway")
def test_two_admins_demoting_each_other_at_once_leave_one_admin(app_factory, acme_seeded, monkeypatch):
    """Each request counts the other admins, then (slowly) commits; with the tenant locked first, the second
    sees the first's demotion and is refused with 422, so one admin is left."""
    first = app_factory()
    [other_id] = add_users(first, acme_seeded.tenant_id, ["second@acme.test"], role="admin")
    counted = service._other_active_admins

    def slow_count(user):
        count = counted(user)
        time.sleep(0.5)  # widen the window between the check and the commit
        return count

    monkeypatch.setattr(service, "_other_active_admins", slow_count)
    apps = [first, app_factory()]
    clients = [a.test_client() for a in apps]
    heads = [acme_seeded.admin, bearer(login(clients[1], "acme", "second@acme.test"))]
    targets = [other_id, acme_seeded.admin_id]
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def demote(index: int) -> None:
        barrier.wait()
        response = clients[index].patch(f"/v1/users/{targets[index]}", json={"role": "user"}, headers=heads[index])
        answers.append(response.status_code)

    threads = [threading.Thread(target=demote, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 422]
    from mailer.extensions import db
    from mailer.models import Role, User

    with first.app_context():
        admins = db.session.query(User).filter_by(role=Role.ADMIN.value, is_active=True).count()
    assert admins == 1


@pytest.mark.parametrize("change", [{"role": "user"}, {"is_active": False}])
def test_keys_of_an_admin_who_loses_admin_are_revoked(app, client, acme_seeded, change):
    [other_id] = add_users(app, acme_seeded.tenant_id, ["second@acme.test"], role="admin")
    other = bearer(login(client, "acme", "second@acme.test"))
    theirs, mine = make_api_key(client, other, "theirs"), make_api_key(client, acme_seeded.admin, "mine")
    send = {"to": ["x@example.com"], "subject": "s", "text": "t"}
    assert client.post("/v1/messages", json=send, headers=bearer(theirs["key"])).status_code == 202
    assert client.patch(f"/v1/users/{other_id}", json=change, headers=acme_seeded.admin).status_code == 200
    assert client.post("/v1/messages", json=send, headers=bearer(theirs["key"])).status_code == 401
    assert client.post("/v1/messages", json=send, headers=bearer(mine["key"])).status_code == 202
    revoked = client.get("/v1/audit-events", query_string={"action": "api_key.revoked"},
                         headers=acme_seeded.admin).get_json()["items"]
    assert [e["details"]["api_key_id"] for e in revoked] == [theirs["id"]]
