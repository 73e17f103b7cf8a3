# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Account mail in its reader's language (users.locale), through a real worker drain to the test SMTP sink (§14)."""

from __future__ import annotations

from tests.helpers import PASSWORD, html_of, link_in, mails_to, register, text_of, token_in
from tests.i18n.conftest import set_tenant


def test_verification_mail_in_chinese_for_a_chinese_sign_up(client, smtp_server, worker, acme_ids):
    """Subject, HTML and text in zh-CN; the link is the same kind of link."""
    assert register(client, "li@example.com", name="李雷", locale="zh-CN").status_code == 202
    worker()
    [mail] = mails_to(smtp_server, "li@example.com")
    assert mail["Subject"] == "确认您在 Acme 的邮箱地址"
    text, html = text_of(mail), html_of(mail)
    assert "李雷，您好：" in text and "24 小时后失效" in text
    assert link_in(mail, "/verify-email") in text and link_in(mail, "/verify-email") in html
    assert "确认我的邮箱地址" in html and '<html lang="zh-CN"' in html
    assert "Confirm" not in text + html


def test_verification_mail_in_english_otherwise(client, smtp_server, worker, acme_ids):
    assert register(client, "ann@example.com", name="Ann", locale="en").status_code == 202
    worker()
    [mail] = mails_to(smtp_server, "ann@example.com")
    assert mail["Subject"] == "Confirm your email address for Acme"
    assert "Hello Ann," in text_of(mail) and "expires in 24 hours" in text_of(mail)
    assert "Confirm my email address" in html_of(mail) and '<html lang="en"' in html_of(mail)


def test_reset_changed_and_account_exists_follow_the_users_language(app, client, smtp_server, worker, acme_ids):
    """A user who switched to zh-CN gets the reset, password-changed and account-exists mail in zh-CN."""
    assert register(client, "wang@example.com", name="王", locale="en").status_code == 202
    worker()
    token = token_in(mails_to(smtp_server, "wang@example.com")[-1], "/verify-email")
    assert client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    access = client.post("/v1/auth/login", json={"tenant": "acme", "email": "wang@example.com",
                                                 "password": PASSWORD}).get_json()["access_token"]
    assert client.patch("/v1/auth/me", json={"locale": "zh-CN"},
                        headers={"Authorization": f"Bearer {access}"}).status_code == 200

    assert client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "wang@example.com"}
                       ).status_code == 202
    worker()
    reset = mails_to(smtp_server, "wang@example.com")[-1]
    assert reset["Subject"] == "重置您的 Acme 密码"
    assert "60 分钟后失效" in text_of(reset) and "设置新密码" in html_of(reset)
    reset_token = token_in(reset, "/reset-password")

    assert client.post("/v1/auth/reset-password", json={"token": reset_token, "password": "another passw0rd!"}
                       ).status_code == 200
    worker()
    changed = mails_to(smtp_server, "wang@example.com")[-1]
    assert changed["Subject"] == "您的 Acme 密码已更改"
    assert "所有已登录该账户的设备均已退出登录" in text_of(changed)

    assert register(client, "wang@example.com", locale="en").status_code == 202  # the account's language wins
    worker()
    exists = mails_to(smtp_server, "wang@example.com")[-1]
    assert exists["Subject"] == "您已有 Acme 账户"
    assert link_in(exists, "/reset-password") in html_of(exists)


def test_account_mail_carries_the_tenants_branding(client, smtp_server, worker, acme_ids):
    admin = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                "password": "correct horse battery staple"}).get_json()
    set_tenant(client, {"Authorization": f"Bearer {admin['access_token']}"}, brand_color="#aa3300",
               logo_url="https://cdn.acme.test/logo.png", default_locale="zh-CN")
    assert register(client, "new@example.com").status_code == 202  # no locale, no Accept-Language: the tenant's
    worker()
    [mail] = mails_to(smtp_server, "new@example.com")
    html = html_of(mail)
    assert mail["Subject"] == "确认您在 Acme 的邮箱地址"
    assert 'src="https://cdn.acme.test/logo.png"' in html and "background:#aa3300" in html
