"""A broadcast template that never names `recipient` renders once per language; one that does, once per copy; a
frozen copy of the built-in `broadcast` template renders in-process, a tenant's only ever in the child."""

from __future__ import annotations

import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import dkim
import pytest
from flask import Flask

from mailer.domains.keys import dkim_txt_value, new_dkim_key
from mailer.domains.signing import Signer
from mailer.extensions import db
from mailer.mail import personalize
from mailer.mail.personalize import CopyMaker, Member, context_for
from mailer.mail.recipient_free import is_recipient_free
from mailer.mail.recipient_tokens import unsubscribe_link
from mailer.mail.templates import (
    TemplateRenderError,
    TemplateSource,
    as_builtin,
    load_builtin,
    render,
    render_untrusted_many,
)
from mailer.models import Tenant
from tests.hardening.test_template_isolation import BOMBS, TWIN
from tests.helpers import create_tenant

SENDER = "news@acme.test"
MESSAGE = uuid.uuid4()
ALIKE = TemplateSource("Offices closed {{ day }}", "<p>Closed on {{ day }}.</p>", "Closed on {{ data.day }}.")
PERSONAL = TemplateSource("News", "<p>Dear {{ recipient.name or recipient.email }}</p>", None)
MEMBERS = [Member("ann@example.com", "Ann Lee"), Member("bob@example.com", ""),
           Member("zoe@example.com", "Zoë Straße", "zh-CN")]


@pytest.mark.parametrize(("text", "free"), [
    ("Closed on {{ day }} for {{ tenant.name }}", True),
    ("{% macro greet(recipient) %}Hi {{ recipient }}{% endmacro %}{{ greet('all') }}", True),
    ("{% set recipient = 'all' %}{{ recipient }}", True),
    ("{{ data.recipient }}", True),
    ("Hi {{ recipient.name }}", False),
    ("{% if recipient %}x{% endif %}", False),
    ("{% trans %}Hello {{ recipient }}{% endtrans %}", False),
    ("{% trans name=recipient.email %}Hello {{ name }}{% endtrans %}", False),
    ("{% for r in [recipient] %}{{ r.email }}{% endfor %}", False),
    ("{% set who = recipient %}{{ who.name }}", False),
    ("{{ ['a', 'b']|random }}", False),
    ("{{ unclosed", False),
])
def test_what_renders_alike_for_every_recipient_is_read_from_the_source(text: str, free: bool) -> None:
    assert is_recipient_free(TemplateSource("s", None, text)) is free
    assert is_recipient_free(TemplateSource(text, None, None)) is free


def test_the_built_in_broadcast_greets_each_recipient() -> None:
    builtin = load_builtin("broadcast")
    assert builtin is not None and not is_recipient_free(builtin)


def _tenant(app: Flask) -> Tenant:
    tenant = db.session.get(Tenant, uuid.UUID(create_tenant(app)["tenant_id"]))
    assert tenant is not None
    return tenant


def _maker(app: Flask, source: TemplateSource, data: dict[str, Any], tenant: Tenant | None = None) -> CopyMaker:
    return CopyMaker.of(app.config["MAILER"], tenant or _tenant(app), SENDER, source, data, spliced=True)


def _copy(maker: CopyMaker, member: Member) -> tuple[bytes, str]:
    """A copy (signed when the maker has a key) and its unsubscribe link."""
    recipient_id = uuid.uuid4()
    url, headers = unsubscribe_link(maker.config, recipient_id)
    wire = maker.build(member, f"<{recipient_id.hex}.{MESSAGE.hex[:12]}@acme.test>", headers, url)
    return maker.signed(wire), url


def _parts(wire: bytes) -> tuple[str, str, str]:
    mail = message_from_bytes(wire, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    text, html = (part.get_content().replace("\r\n", "\n") for part in mail.iter_parts())
    return str(mail["Subject"]), text, html


def _counting_renders(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Whom personalize renders a copy for, one at a time (None: no recipient); the real render runs."""
    calls: list[str | None] = []

    def counted(source: TemplateSource, context: dict[str, Any], **kwargs: Any) -> Any:
        calls.append(context.get("recipient", {}).get("email"))
        return render(source, context, **kwargs)

    monkeypatch.setattr(personalize, "render", counted)
    return calls


def test_a_template_the_same_for_everyone_renders_once_per_language(app: Flask,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each copy holds what rendering it for its own recipient gives, from one render per language."""
    calls = _counting_renders(monkeypatch)
    data = {"day": "24 December"}
    with app.app_context():
        tenant = _tenant(app)
        maker = _maker(app, ALIKE, data, tenant)
        copies = [(member, *_copy(maker, member)) for member in [*MEMBERS, *MEMBERS]]
        assert len(calls) == 2  # one per language (the skeleton's probes take the same render)
        for member, wire, url in copies:
            alone = render(ALIKE, context_for(tenant, data, member.email, member.name))
            html, text = maker.layout(member.locale or maker.default_locale).wrap(alone, url)
            assert _parts(wire) == (alone.subject, text, html)


def test_a_template_naming_the_recipient_renders_per_copy(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_renders(monkeypatch)
    with app.app_context():
        maker = _maker(app, PERSONAL, {})
        htmls = [_parts(_copy(maker, member)[0])[2] for member in MEMBERS]
    assert "<p>Dear Ann Lee</p>" in htmls[0]
    assert "<p>Dear bob@example.com</p>" in htmls[1]
    assert "<p>Dear Zoë Straße</p>" in htmls[2]
    assert len(calls) >= len(MEMBERS)  # each copy (and the probes of a skeleton not made before)


def test_a_frozen_built_in_renders_in_process_in_the_readers_language(app: Flask) -> None:
    """The frozen `broadcast` template is ours: trusted, and translated like the layout around it."""
    builtin = load_builtin("broadcast")
    assert builtin is not None
    frozen = TemplateSource(builtin.subject, builtin.html, builtin.text)
    assert as_builtin(frozen).trusted
    assert not as_builtin(TemplateSource(builtin.subject, builtin.html, (builtin.text or "") + " ")).trusted
    with app.app_context():
        maker = _maker(app, frozen, {"subject": "News", "body": "Hello.\n\nBye."})
        assert maker.source.trusted
        _, text, html = _parts(_copy(maker, MEMBERS[2])[0])
        greeting = "Zoë Straße\uff0c您好\uff1a"  # the zh-CN catalog's "Hello %(name)s,"
        assert greeting in text and greeting in html and "退订" in text
        _, text, _ = _parts(_copy(maker, MEMBERS[0])[0])
        assert text.startswith("Hello Ann Lee,")


def test_a_tenant_template_rendered_once_still_renders_in_the_limited_child(app: Flask) -> None:
    """Rendered once per language, a tenant's template is still a tenant's: a bomb fails its copies in time."""
    bomb = TemplateSource("s", None, BOMBS["aliased_compare"])
    assert is_recipient_free(bomb) and not as_builtin(bomb).trusted
    with app.app_context():
        maker = _maker(app, bomb, {})
        for member in MEMBERS[:2]:
            started = time.monotonic()
            with pytest.raises(TemplateRenderError):
                _copy(maker, member)
            assert time.monotonic() - started < 20.0
        assert maker.alike == {}


@pytest.mark.parametrize("source", [ALIKE, PERSONAL], ids=["alike", "personal"])
def test_copies_are_dkim_signed_and_verify(app: Flask, source: TemplateSource) -> None:
    key = new_dkim_key()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == f"{key.selector}._domainkey.acme.test"
        return dkim_txt_value(key.public_key).encode()

    with app.app_context():
        maker = _maker(app, source, {"day": "today"})
        signed = CopyMaker(**{**maker.__dict__, "signer": Signer("acme.test", key.selector, key.private_pem.encode())})
        copies = [_copy(signed, member)[0] for member in MEMBERS]
    assert all(wire.startswith(b"DKIM-Signature:") and dkim.verify(wire, dnsfunc=dnsfunc) for wire in copies)


def test_a_claims_copies_naming_the_recipient_render_in_one_round_trip(app: Flask,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """prerender sends a language's copies to the child together; each copy then takes its own render."""
    alone = _counting_renders(monkeypatch)
    together: list[int] = []

    def counted(source: TemplateSource, contexts: list[dict[str, Any]], **kwargs: Any) -> Any:
        together.append(len(contexts))
        return render_untrusted_many(source, contexts, **kwargs)

    monkeypatch.setattr(personalize, "render_untrusted_many", counted)
    members = [*MEMBERS, Member("cy@example.com", "Cy", "zh-CN")]
    with app.app_context():
        maker = _maker(app, PERSONAL, {})
        maker.prerender(members)
        assert sorted(together) == [2, 2]
        htmls = [_parts(_copy(maker, member)[0])[2] for member in members]
    assert not {member.email for member in members} & set(alone)
    for member, html in zip(members, htmls, strict=True):
        assert f"<p>Dear {member.name or member.email}</p>" in html
    assert maker.made == {}


def test_a_bomb_in_a_claims_copies_fails_that_copy_alone(app: Flask) -> None:
    """The child killed on one copy's render: that copy fails; those it never began render alone."""
    text = TWIN + ("{% if recipient.email == 'bob@example.com' %}{{ ns.a == ns.b }}"
                   "{% else %}Hi {{ recipient.name }}{% endif %}")
    members = [Member("ann@example.com", "Ann"), Member("bob@example.com", "Bob"), Member("cy@example.com", "Cy")]
    with app.app_context():
        maker = _maker(app, TemplateSource("s", None, text), {})
        maker.prerender(members)
        assert set(maker.made) == {("en", "ann@example.com", "Ann"), ("en", "bob@example.com", "Bob")}
        with pytest.raises(TemplateRenderError, match="too long"):
            _copy(maker, members[1])
        texts = [_parts(_copy(maker, member)[0])[1] for member in (members[0], members[2])]
    assert texts[0].startswith("Hi Ann") and texts[1].startswith("Hi Cy")


# Ours (trusted, rendered in-process): a subject that never names the recipient above a body that does.
GREETING = TemplateSource("Offices closed {{ data.day }}", "<p>Dear {{ recipient.name or recipient.email }}</p>",
                          "Dear {{ recipient.email }}", trusted=True)


def test_a_subject_the_same_for_everyone_renders_once_per_language(app: Flask,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The body is rendered per copy; the subject once per language, then kept (its part is not rendered again)."""
    kept: list[str | None] = []

    def counted(source: TemplateSource, context: dict[str, Any], **kwargs: Any) -> Any:
        kept.append(kwargs.get("subject"))
        return render(source, context, **kwargs)

    monkeypatch.setattr(personalize, "render", counted)
    data = {"day": "24 December"}
    with app.app_context():
        tenant = _tenant(app)
        maker = _maker(app, GREETING, data, tenant)
        copies = [(member, *_copy(maker, member)) for member in [*MEMBERS, *MEMBERS]]
        for member, wire, url in copies:
            alone = render(GREETING, context_for(tenant, data, member.email, member.name))
            html, text = maker.layout(member.locale or maker.default_locale).wrap(alone, url)
            assert _parts(wire) == ("Offices closed 24 December", text, html)
    assert kept.count(None) == 2  # the first render of each language
    assert len(kept) >= len(MEMBERS) * 2 and set(kept) == {None, "Offices closed 24 December"}


def test_a_subject_naming_the_recipient_renders_per_copy(app: Flask) -> None:
    source = TemplateSource("For {{ recipient.email }}", GREETING.html, GREETING.text, trusted=True)
    with app.app_context():
        maker = _maker(app, source, {})
        subjects = [_parts(_copy(maker, member)[0])[0] for member in [*MEMBERS, *MEMBERS]]
    assert subjects == [f"For {member.email}" for member in [*MEMBERS, *MEMBERS]]


def test_a_kept_subject_is_not_rendered_again() -> None:
    broken = TemplateSource("{{ 1 / 0 }}", "<p>{{ x }}</p>", None, trusted=True)
    assert render(broken, {"x": "a"}, subject="Kept").subject == "Kept"
    with pytest.raises(TemplateRenderError):
        render(broken, {"x": "a"})
