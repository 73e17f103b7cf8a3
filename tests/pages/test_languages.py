"""The hosted pages in the reader's language by API.md §14's order (?lang=, the lang cookie, Accept-Language,
the tenant's default_locale, DEFAULT_LOCALE), with a language switch and the tenant's branding."""

from __future__ import annotations

import re
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import ActionPurpose, Tenant, User
from mailer.security.action_tokens import issue_action_token
from tests.browser import until_settled
from tests.fixtures import add_users
from tests.helpers import create_tenant

ZH_VERIFY, EN_VERIFY = "确认您的邮箱地址", "Confirm your email address"


def _token(app, purpose: ActionPurpose, **tenant_fields: str) -> str:
    """A live link of a new user of tenant acme (created here), the tenant changed as given."""
    with app.app_context():
        tenant = db.session.scalars(select(Tenant).where(Tenant.slug == "acme")).first()
        if tenant is None:
            tenant_id = create_tenant(app)["tenant_id"]
            tenant = db.session.get(Tenant, uuid.UUID(tenant_id))
        for name, value in tenant_fields.items():
            setattr(tenant, name, value)
        db.session.commit()
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        add_users(app, str(tenant.id), [email], verified=False)
        user = db.session.scalars(select(User).where(User.email == email)).one()
        token = issue_action_token(user, purpose, 3600)
        db.session.commit()
        return token


def _heading(response) -> str:
    return re.search(r'<h1[^>]*id="result"[^>]*>([^<]*)</h1>', response.get_data(as_text=True)).group(1)


def test_english_by_default(app, client):
    token = _token(app, ActionPurpose.VERIFICATION)
    response = client.get(f"/verify-email?token={token}")
    body = response.get_data(as_text=True)
    assert _heading(response) == EN_VERIFY and '<html lang="en">' in body
    assert "lang" not in response.headers.get("Set-Cookie", "").split("=")[0]


def test_lang_parameter_wins_and_is_remembered_in_a_cookie(app, client):
    token = _token(app, ActionPurpose.VERIFICATION)
    response = client.get(f"/verify-email?token={token}&lang=zh-CN", headers={"Accept-Language": "en"})
    assert _heading(response) == ZH_VERIFY and '<html lang="zh-CN">' in response.get_data(as_text=True)
    assert any(c.startswith("lang=zh-CN;") for c in response.headers.getlist("Set-Cookie"))
    again = client.get(f"/verify-email?token={token}", headers={"Accept-Language": "en"})  # the cookie now
    assert _heading(again) == ZH_VERIFY
    back = client.get(f"/verify-email?token={token}&lang=en")
    assert _heading(back) == EN_VERIFY and _heading(client.get(f"/verify-email?token={token}")) == EN_VERIFY


@pytest.mark.parametrize("header", ["zh-CN", "zh", "zh-Hans;q=0.9, en;q=0.5", "fr, zh-SG;q=0.8"])
def test_accept_language(app, client, header):
    token = _token(app, ActionPurpose.VERIFICATION)
    assert _heading(client.get(f"/verify-email?token={token}", headers={"Accept-Language": header})) == ZH_VERIFY


def test_the_tenants_default_language_comes_after_the_reader(app, client):
    token = _token(app, ActionPurpose.VERIFICATION, default_locale="zh-CN")
    assert _heading(client.get(f"/verify-email?token={token}")) == ZH_VERIFY
    assert _heading(client.get(f"/verify-email?token={token}", headers={"Accept-Language": "fr, de"})) == ZH_VERIFY
    assert _heading(client.get(f"/verify-email?token={token}", headers={"Accept-Language": "en-US"})) == EN_VERIFY


def test_the_default_locale_setting_comes_last(app_factory):
    app = app_factory(DEFAULT_LOCALE="zh-CN")
    assert _heading(app.test_client().get("/verify-email?token=unknown")) == "此链接无效"


def test_reset_and_unsubscribe_pages_are_translated_too(app, client):
    token = _token(app, ActionPurpose.PASSWORD_RESET, default_locale="zh-CN")
    body = client.get(f"/reset-password?token={token}").get_data(as_text=True)
    assert "设置新密码" in body and "新密码" in body and "再次输入" in body
    assert re.search(r"此链接有效期至 \d{4}年\d{1,2}月\d{1,2}日", body), body  # a date as Chinese writes it
    english = client.get(f"/reset-password?token={token}&lang=en").get_data(as_text=True)
    assert "Choose a new password" in english and re.search(r"works until [A-Z][a-z]{2} \d{1,2}, \d{4}", english)
    assert "此链接无效" in client.get("/unsubscribe/not-a-token?lang=zh-CN").get_data(as_text=True)


def test_a_page_offers_a_language_switch_and_the_tenants_branding(app, client):
    token = _token(app, ActionPurpose.VERIFICATION, brand_color="#aa3300", logo_url="https://cdn.acme.test/l.png")
    response = client.get(f"/verify-email?token={token}")
    body = response.get_data(as_text=True)
    links = dict(re.findall(r'<a href="([^"]+)" hreflang="([^"]+)"', body))
    assert {v: k for k, v in links.items()} == {
        "en": f"/verify-email?token={token}&amp;lang=en", "zh-CN": f"/verify-email?token={token}&amp;lang=zh-CN"}
    assert "简体中文" in body and 'aria-current="true">English' in body
    assert '<img src="https://cdn.acme.test/l.png" alt="Acme">' in body and "#aa3300" in body
    assert "img-src https://cdn.acme.test" in response.headers["Content-Security-Policy"]
    assert "img-src" not in client.get("/verify-email?token=unknown").headers["Content-Security-Policy"]


@pytest.mark.browser
def test_language_switch_in_a_real_browser(live_app, browser):
    """Chromium opens the link in English, switches to Chinese with the page's link, stays in Chinese (the cookie)
    through the confirmation, and switches back."""
    app, base = live_app
    token = _token(app, ActionPurpose.VERIFICATION)

    def heading() -> str:
        return until_settled(browser, lambda b: b.find_element(By.ID, "result").text)

    browser.get(f"{base}/verify-email?token={token}")
    assert heading() == EN_VERIFY
    browser.find_element(By.ID, "lang-zh-CN").click()
    WebDriverWait(browser, 10).until(lambda b: "lang=zh-CN" in b.current_url)
    assert heading() == ZH_VERIFY and browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    browser.get(f"{base}/verify-email?token={token}")  # no ?lang=: the cookie remembers
    assert heading() == ZH_VERIFY
    browser.find_element(By.ID, "confirm").click()
    until_settled(browser, lambda b: b.find_element(By.ID, "result").get_attribute("data-status") == "verified")
    assert heading() == "您的邮箱地址已验证"
    browser.find_element(By.ID, "lang-en").click()
    WebDriverWait(browser, 10).until(lambda b: "lang=en" in b.current_url)
    assert heading() == "This link is not valid"  # the link was used; the page says so in English
