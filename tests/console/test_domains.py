"""/console/domains: add, the records with copy buttons, "Check now" against a real DNS server showing what
it returned beside what is expected, rotate DKIM, delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser import served
from tests.console.admin import (
    assert_admin_only,
    assert_not_found,
    check_page,
    fill,
    globex,
    h1,
    notice,
    post_forged,
    sign_in,
    stored,
    submit,
)
from tests.domains.dnsserver import DnsServer


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer().start()
    yield server
    server.stop()


@pytest.fixture
def live_app(app_factory: Any, browser: Any, dns_server: DnsServer) -> Iterator[Any]:
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    with served(app_factory, DNS_RESOLVERS=(dns_server.address,), MAIL_FROM="no-reply@mailer.test") as live:
        yield live


def _records(browser: Any) -> list[dict[str, str]]:
    records = []
    for section in browser.find_elements(By.CSS_SELECTOR, "section.record"):
        values = section.find_elements(By.CSS_SELECTOR, ".record-value")
        found = section.find_elements(By.CSS_SELECTOR, ".found")
        records.append({"title": section.find_element(By.TAG_NAME, "h3").text, "name": values[0].text,
                        "value": values[1].text, "found": found[0].text if found else None})
    return records


def _domains(app: Any) -> list[tuple[str, str]]:
    from mailer.models import SendingDomain

    return stored(app, SendingDomain.name, SendingDomain.status)


def test_add_publish_check_rotate_delete(live_app: Any, acme: Any, browser: Any, dns_server: DnsServer) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/domains")
    assert h1(browser) == "Domains"
    check_page(browser)
    fill(browser, name="acme.com")
    submit(browser, "/console/domains")
    assert h1(browser) == "acme.com" and "Publish the records" in notice(browser)
    check_page(browser)
    dkim = _records(browser)[0]
    assert dkim["title"].startswith("DKIM") and dkim["name"].endswith("._domainkey.acme.com")
    assert dkim["value"].startswith("v=DKIM1;")
    assert browser.find_elements(By.CSS_SELECTOR, "button[data-copy]")  # copy buttons (script); text selectable
    submit(browser, "/check")
    assert "not found yet" in notice(browser)
    assert _records(browser)[0]["found"].startswith("Nothing")
    dns_server.publish("TXT", dkim["name"], "v=DKIM1; k=rsa; p=AAAAwrong")
    dns_server.publish("TXT", "acme.com", "v=spf1 include:mailer.test ~all")
    submit(browser, "/check")
    checked = _records(browser)
    assert "differs" in notice(browser)
    assert checked[0]["found"] == "v=DKIM1; k=rsa; p=AAAAwrong" and checked[0]["value"] == dkim["value"]
    spf = next(r for r in checked if r["title"].startswith("SPF"))
    assert spf["found"] == "v=spf1 include:mailer.test ~all" and "Verified" in spf["title"]
    check_page(browser)
    dns_server.withdraw(dkim["name"])
    dns_server.publish("TXT", dkim["name"], dkim["value"])
    submit(browser, "/check")
    assert "matches" in notice(browser)
    assert _domains(app) == [("acme.com", "verified")]
    submit(browser, "/rotate-dkim")
    assert "new DKIM key" in notice(browser)
    assert len([r for r in _records(browser) if r["title"].startswith("DKIM")]) == 2  # the old one signs until
    submit(browser, "/delete")
    assert _domains(app) == []


def test_a_resolver_that_cannot_answer_is_said_in_words(live_app: Any, acme: Any, browser: Any,
                                                        dns_server: DnsServer) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/domains")
    fill(browser, name="acme.com")
    submit(browser, "/console/domains")
    dns_server.stop()
    submit(browser, "/check")
    assert "unavailable right now" in notice(browser)
    assert _domains(app) == [("acme.com", "pending")]


def test_without_csrf_nothing_is_added(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    post_forged(browser, base, "/console/domains", "/console/domains", name="forged.example")
    assert _domains(app) == []


def test_another_tenants_domain_is_not_found_and_a_user_is_refused(live_app: Any, acme: Any,
                                                                   browser: Any) -> None:
    app, base = live_app
    other = globex(app)
    created = app.test_client().post("/v1/domains", json={"name": "globex.com"}, headers=other["headers"])
    sign_in(browser, base)
    assert_not_found(browser, base, f"/console/domains/{created.get_json()['id']}")
    assert_admin_only(browser, base, "/console/domains")
