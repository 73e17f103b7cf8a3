"""Template language variants (`?locale=`), picked by a message's `locale` and by a broadcast recipient's
language (API.md §3, §14)."""

from __future__ import annotations

import re

from mailer.extensions import db
from mailer.models import User
from tests.fixtures import mail_to
from tests.i18n.conftest import add_users

BASE = {"subject": "Your order {{ order }}", "text": "Thanks for order {{ order }}.",
        "html": "<p>Thanks for order {{ order }}.</p>"}
ZH = {"subject": "您的订单 {{ order }}", "text": "感谢您的订单 {{ order }}。",
      "html": "<p>感谢您的订单 {{ order }}。</p>"}


def _put(client, admin, name, body, locale=None):
    path = f"/v1/templates/{name}" + (f"?locale={locale}" if locale else "")
    return client.put(path, json=body, headers=admin)


def test_variants_are_stored_read_listed_and_deleted(client, acme_seeded):
    admin = acme_seeded.admin
    assert _put(client, admin, "receipt", BASE).status_code == 201
    created = _put(client, admin, "receipt", ZH, "zh-CN")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["locale"] == "zh-CN" and created.get_json()["subject"] == ZH["subject"]
    assert _put(client, admin, "receipt", {**ZH, "subject": "订单 {{ order }}"}, "zh-CN").status_code == 200

    base = client.get("/v1/templates/receipt", headers=admin).get_json()
    assert base["locale"] is None and base["subject"] == BASE["subject"] and base["variants"] == ["zh-CN"]
    variant = client.get("/v1/templates/receipt?locale=zh-CN", headers=admin).get_json()
    assert variant["subject"] == "订单 {{ order }}" and variant["locale"] == "zh-CN"
    assert client.get("/v1/templates/receipt?locale=en", headers=admin).status_code == 404
    listed = {t["name"]: t for t in client.get("/v1/templates", headers=admin).get_json()["items"]}
    assert listed["receipt"]["variants"] == ["zh-CN"] and listed["verification"]["variants"] == []

    preview = client.post("/v1/templates/receipt/preview?locale=zh-CN", json={"data": {"order": 7}}, headers=admin)
    assert preview.get_json()["subject"] == "订单 7"

    assert client.delete("/v1/templates/receipt?locale=zh-CN", headers=admin).status_code == 204
    assert client.get("/v1/templates/receipt?locale=zh-CN", headers=admin).status_code == 404
    assert client.get("/v1/templates/receipt", headers=admin).get_json()["variants"] == []
    assert client.delete("/v1/templates/receipt?locale=zh-CN", headers=admin).status_code == 404

    _put(client, admin, "receipt", ZH, "zh-CN")
    assert client.delete("/v1/templates/receipt", headers=admin).status_code == 204  # with its variants
    assert client.get("/v1/templates/receipt?locale=zh-CN", headers=admin).status_code == 404
    actions = client.get("/v1/audit-events?action=template.changed", headers=admin).get_json()["items"]
    assert any(a["details"].get("locale") == "zh-CN" for a in actions)


def test_a_variant_locale_must_be_a_supported_language(client, acme_seeded):
    for bad in ("zh", "fr", "zh_CN", ""):
        response = _put(client, acme_seeded.admin, "receipt", ZH, bad or "%20")
        assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "locale"
    bad_template = _put(client, acme_seeded.admin, "receipt", {"subject": "{{ x", "text": "t"}, "zh-CN")
    assert bad_template.status_code == 422 and bad_template.get_json()["code"] == "template_error"


def test_a_message_renders_the_variant_of_its_locale(client, acme_seeded, smtp_server, worker):
    """`locale` picks the variant, else the base; it is stored and returned; batch items take it too."""
    _put(client, acme_seeded.admin, "receipt", BASE)
    _put(client, acme_seeded.admin, "receipt", ZH, "zh-CN")
    sent = client.post("/v1/messages", json={"to": ["li@example.com"], "template": "receipt", "data": {"order": 42},
                                             "locale": "zh-CN"}, headers=acme_seeded.admin)
    assert sent.status_code == 202, sent.get_json()
    english = client.post("/v1/messages", json={"to": ["ann@example.com"], "template": "receipt",
                                                "data": {"order": 43}, "locale": "en"}, headers=acme_seeded.admin)
    plain = client.post("/v1/messages", json={"to": ["bob@example.com"], "template": "receipt",
                                              "data": {"order": 44}}, headers=acme_seeded.admin)
    batch = client.post("/v1/messages/batch", json={"messages": [
        {"to": ["mei@example.com"], "template": "receipt", "data": {"order": 45}, "locale": "zh-CN"},
        {"to": ["x@example.com"], "subject": "s", "text": "t", "locale": "fr"},
    ]}, headers=acme_seeded.admin).get_json()["items"]
    assert batch[0]["status"] == 202 and batch[1]["status"] == 422
    worker()
    assert mail_to(smtp_server, "li@example.com")["Subject"] == "您的订单 42"
    assert mail_to(smtp_server, "mei@example.com")["Subject"] == "您的订单 45"
    assert mail_to(smtp_server, "ann@example.com")["Subject"] == "Your order 43"  # no en variant: the base
    assert mail_to(smtp_server, "bob@example.com")["Subject"] == "Your order 44"
    detail = client.get(f"/v1/messages/{sent.get_json()['id']}", headers=acme_seeded.admin).get_json()
    assert detail["locale"] == "zh-CN"
    assert client.get(f"/v1/messages/{plain.get_json()['id']}", headers=acme_seeded.admin).get_json()["locale"] is None
    listed = client.get("/v1/messages", headers=acme_seeded.admin).get_json()["items"]
    assert {m["id"]: m["locale"] for m in listed}[english.get_json()["id"]] == "en"
    refused = client.post("/v1/messages", json={"to": ["a@example.com"], "subject": "s", "text": "t",
                                                "locale": "de"}, headers=acme_seeded.admin)
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "locale"


def test_one_broadcast_two_users_two_languages(client, acme_seeded, smtp_server, worker):
    """Each copy is rendered from its recipient's variant and wrapped in the layout of its language."""
    add_users(client.application, acme_seeded.tenant_id, ["li@acme.test"], names=["李雷"])
    with client.application.app_context():
        db.session.query(User).filter_by(email="li@acme.test").update({"locale": "zh-CN"})
        db.session.commit()
    _put(client, acme_seeded.admin, "news", {"subject": "News for {{ recipient.name }}",
                                             "html": "<p>Big news.</p>", "text": "Big news."})
    _put(client, acme_seeded.admin, "news", {"subject": "{{ recipient.name }}的新闻",
                                             "html": "<p>重大新闻。</p>", "text": "重大新闻。"}, "zh-CN")
    client.patch("/v1/tenant", json={"postal_address": "Acme Inc., 1 Main St"}, headers=acme_seeded.admin)
    response = client.post("/v1/broadcasts", json={"template": "news", "audience": {"roles": ["user"]}},
                           headers=acme_seeded.admin)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["recipient_count"] == 2
    worker()
    chinese, english = mail_to(smtp_server, "li@acme.test"), mail_to(smtp_server, "user@acme.test")
    assert chinese["Subject"] == "李雷的新闻" and english["Subject"] == "News for Uma User"
    zh_html, en_html = chinese.get_body(("html",)).get_content(), english.get_body(("html",)).get_content()
    assert "<p>重大新闻。</p>" in zh_html and "退订此类邮件" in zh_html and '<html lang="zh-CN"' in zh_html
    assert "<p>Big news.</p>" in en_html and "Unsubscribe from these emails" in en_html
    for mail, html in ((chinese, zh_html), (english, en_html)):
        url = re.search(r"<(https?://[^>]+)>", mail["List-Unsubscribe"]).group(1)
        assert f'href="{url}"' in html and "Acme Inc., 1 Main St" in html
        text = mail.get_body(("plain",)).get_content()
        assert url in text and "Acme Inc., 1 Main St" in text


def test_inline_broadcast_is_wrapped_too(client, acme_seeded, smtp_server, worker):
    """A broadcast of subject/text only gets the layout's HTML, its text as paragraphs, the footer."""
    response = client.post("/v1/broadcasts", json={"subject": "Hi {{ recipient.name }}", "text": "One.\n\nTwo <b>",
                                                   "audience": {"roles": ["user"]}}, headers=acme_seeded.admin)
    assert response.status_code == 202, response.get_json()
    worker()
    mail = mail_to(smtp_server, "user@acme.test")
    html = mail.get_body(("html",)).get_content()
    assert "<p>One.</p><p>Two &lt;b&gt;</p>" in html and "<title>Hi Uma User</title>" in html


def test_a_builtin_account_mail_previews_in_either_language(client, acme_seeded):
    """`?locale=` previews the built-in mail in that language (no variant: the built-in one, translated)."""
    chinese = client.post("/v1/templates/verification/preview?locale=zh-CN", json={"data": {}},
                          headers=acme_seeded.admin)
    assert chinese.status_code == 200, chinese.get_json()
    assert chinese.get_json()["subject"] == "确认您在 Acme 的邮箱地址"
    english = client.post("/v1/templates/verification/preview", json={"data": {}}, headers=acme_seeded.admin)
    assert english.get_json()["subject"] == "Confirm your email address for Acme"
