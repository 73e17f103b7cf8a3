"""The compiled built-in mail (templates/email, from templates/email/mjml): responsive, one column of at most
600 px, inline styles, a preheader, dark-mode safe, a text part with the link, in both languages (API.md §14)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailer.config import ROOT
from mailer.i18n import rendered_in
from mailer.mail.layout import Layout
from mailer.mail.templates import Rendered, load_builtin, render, tenant_context
from mailer.models import Tenant

URL = "https://app.acme.test/verify-email?token=tok_123"
ACCOUNT_MAIL = {
    "verification": {"verification_url": URL, "expires_in_hours": 24},
    "password_reset": {"reset_url": URL, "expires_in_minutes": 60},
    "account_exists": {"reset_url": URL},
    "password_changed": {},
}
WHITE = re.compile(r"(?:^|;)\s*color:\s*(?:#fff(?:fff)?|white)\b", re.IGNORECASE)


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent, self.text = tag, attrs, parent, ""

    @property
    def style(self) -> str:
        return self.attrs.get("style", "") or ""


class Page(HTMLParser):
    """Every element with its inline style and direct text; the <style> blocks; the <meta> tags."""

    VOID = {"br", "img", "meta", "link", "input", "hr"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.stack: list[Element] = []
        self.styles: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.stack[-1] if self.stack else None)
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.stack:
            if self.stack[-1].tag == "style":
                self.styles.append(data)
            self.stack[-1].text += data

    def body(self) -> list[Element]:
        start = next(i for i, e in enumerate(self.elements) if e.tag == "body")
        return self.elements[start + 1:]


def _tenant(**branding: str | None) -> Tenant:
    return Tenant(name="Acme", slug="acme", default_locale=None, brand_color=branding.get("brand_color"),
                  logo_url=branding.get("logo_url"), postal_address=branding.get("postal_address"))


def _account_mail(app, name: str, locale: str, tenant: Tenant) -> Rendered:
    context = {**tenant_context(tenant), "user": {"email": "ann@example.com", "name": "Ann"}, "locale": locale,
               **ACCOUNT_MAIL[name]}
    with app.app_context(), rendered_in(locale):
        return render(load_builtin(name), context)


def _broadcast(app, locale: str, tenant: Tenant) -> Rendered:
    content = Rendered("Maintenance tonight", "<html><body><p>We will be down.</p></body></html>", None)
    with app.app_context():
        html, text = Layout.render(tenant_context(tenant), locale).wrap(content, URL)
    return Rendered(content.subject, html, text)


def _check_layout(html: str) -> Page:
    page = Page(html)
    body = page.body()
    # a preheader: the first thing in the body, hidden, with text
    assert "display:none" in body[0].style and body[0].text.strip(), body[0].attrs
    assert any(e.tag == "meta" and e.attrs.get("name") == "color-scheme" and "dark" in e.attrs.get("content", "")
               for e in page.elements)
    assert any("prefers-color-scheme: dark" in style for style in page.styles)
    # one column, at most 600 px wide, however it is said
    for element in body:
        for width in re.findall(r"(?:^|;)\s*(?:max-)?width:\s*(\d+)px", element.style):
            assert int(width) <= 600, element.attrs
        if element.attrs.get("width", "").isdigit():
            assert int(element.attrs["width"]) <= 600, element.attrs
    assert sum("max-width:600px" in e.style for e in body) >= 2
    assert not any("mj-column-per-50" in e.attrs.get("class", "") for e in body)
    # styles inline: every block of text carries its own font, size and colour
    texts = [e for e in body if e.tag == "div" and e.text.strip() and "display:none" not in e.style]
    assert texts
    for element in texts:
        assert "font-size:" in element.style and "color:" in element.style, (element.text, element.style)
    # no white-on-transparent: white text only on a background of its own, and every surface is coloured
    for element in body:
        if WHITE.search(element.style) and "display:none" not in element.style:
            assert "background" in element.style, element.attrs
    assert "background-color:#f4f4f5" in page.elements[[e.tag for e in page.elements].index("body")].style
    assert any("background-color:#ffffff" in e.style for e in body)
    return page


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("name", sorted(ACCOUNT_MAIL))
def test_account_mail_is_responsive_branded_and_has_a_text_part(app, name, locale):
    tenant = _tenant(brand_color="#ffdd00", logo_url="https://cdn.acme.test/logo.png")
    rendered = _account_mail(app, name, locale, tenant)
    page = _check_layout(rendered.html or "")
    assert f'lang="{locale}"' in rendered.html
    assert any(e.tag == "img" and e.attrs.get("src") == "https://cdn.acme.test/logo.png" for e in page.elements)
    assert "#ffdd00" in rendered.html
    assert rendered.text and rendered.subject
    if ACCOUNT_MAIL[name]:
        assert URL in rendered.text
        button = [e for e in page.elements if e.tag == "a" and e.attrs.get("href") == URL]
        assert button and "color:#111827" in button[0].style  # dark text on a light brand colour


def test_account_mail_without_branding_uses_the_name_and_the_default_colour(app):
    rendered = _account_mail(app, "verification", "en", _tenant())
    page = _check_layout(rendered.html or "")
    assert not any(e.tag == "img" for e in page.elements)
    assert "#2563eb" in rendered.html and ">Acme<" in rendered.html


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_broadcast_layout(app, locale):
    tenant = _tenant(postal_address="Acme Inc.\n1 Main St", logo_url="https://cdn.acme.test/logo.png")
    rendered = _broadcast(app, locale, tenant)
    page = _check_layout(rendered.html or "")
    assert page.body()[0].text.strip() == "Maintenance tonight"
    assert "<p>We will be down.</p>" in rendered.html and "<body><p>" not in rendered.html
    assert any(e.tag == "a" and e.attrs.get("href") == URL for e in page.elements)
    assert "Acme Inc.<br>1 Main St" in rendered.html
    assert "We will be down." in rendered.text and URL in rendered.text and "Acme Inc.\n1 Main St" in rendered.text
    word = "Unsubscribe" if locale == "en" else "退订"
    assert word in rendered.html and word in rendered.text


MJML = Path(ROOT) / "node_modules" / ".bin" / "mjml"


@pytest.mark.skipif(not MJML.exists() or not shutil.which("node"),
                    reason="no mjml here (make mail-templates runs npm ci; only needed to author the mail)")
def test_the_committed_templates_are_what_the_mjml_sources_compile_to(tmp_path):
    """`make mail-templates` was run after the last change to templates/email/mjml."""
    email = Path(ROOT) / "templates" / "email"
    committed = {p: p.read_text(encoding="utf-8") for p in [*email.glob("*/body.html"), email / "broadcast/layout.html"]
                 if p.parent.name != "broadcast" or p.name == "layout.html"}
    try:
        subprocess.run([sys.executable, str(email / "mjml" / "build.py")], check=True, capture_output=True,
                       env={**os.environ})
        for path, text in committed.items():
            assert path.read_text(encoding="utf-8") == text, f"{path} differs: run make mail-templates"
    finally:
        for path, text in committed.items():
            path.write_text(text, encoding="utf-8")
