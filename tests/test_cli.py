from __future__ import annotations

import json

from tests.helpers import create_tenant


def test_tenants_create_prints_only_json_and_list_shows_it(app, runner):
    created = create_tenant(app, "globex", "boss@globex.test")
    assert set(created) == {"tenant_id", "admin_id"}
    listed = [json.loads(line) for line in runner.invoke(args=["tenants", "list"]).stdout.splitlines()]
    assert [t["slug"] for t in listed] == ["globex"]
    assert listed[0]["id"] == created["tenant_id"]


def test_duplicate_slug_and_short_password_are_refused(app, runner):
    create_tenant(app, "globex")
    again = runner.invoke(args=["tenants", "create", "globex", "--name", "G", "--admin-email", "a@g.test",
                                "--admin-password", "long enough pw"])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(args=["tenants", "create", "other", "--name", "O", "--admin-email", "a@o.test",
                                "--admin-password", "short"])
    assert short.exit_code != 0
