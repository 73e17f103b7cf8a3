"""Broadcast copies spliced from a skeleton (mail/copy_wire.py) are the `email` package's whole build."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable
from email.policy import SMTP
from email.utils import parsedate_to_datetime
from typing import Any

import dkim
import pytest
from flask import Flask

from mailer.domains.keys import dkim_txt_value, new_dkim_key
from mailer.domains.signing import Signer, sign_wire
from mailer.extensions import db
from mailer.mail import personalize
from mailer.mail.personalize import CopyMaker, Member
from mailer.mail.recipient_tokens import unsubscribe_link
from mailer.mail.templates import TemplateSource, load_builtin
from mailer.models import Tenant
from mailer.smtp.mime import Address, MessageContent, build_message, to_bytes
from mailer.smtp.wire import address_line, date_value, encode_part
from tests.helpers import create_tenant

SENDER = "news@acme.test"
MESSAGE = uuid.uuid4()
_DATE = re.compile(rb"^Date: [^\r]*\r\n", re.MULTILINE)
_BOUNDARY = re.compile(rb"===============\d+==")

MEMBERS = [
    Member("ann@example.com", "Ann Lee"),
    Member("bob@example.com", ""),
    Member("zoe@example.com", "Zoë Ünïcode-Straße", "de"),
    Member("chen@example.com", "陈小明", "zh-CN"),
    Member("quote@example.com", 'Smith, John "Jack" (ops)'),
    Member(f"{'x' * 60}.{'y' * 3}@{'sub.' * 10}example.com", "A Rather Long Display Name For One Line"),
    Member("eve@example.com", "Eve\r\nBcc: victim@example.com"),
    Member("mallory@example.com", "=?utf-8?q?Admin?= <admin@acme.test>"),
    Member("δοκιμή@example.com", "Local Part"),
]


def _normal(wire: bytes) -> bytes:
    """The Date (the second it was built) and the MIME boundary (random per build) made equal."""
    return _BOUNDARY.sub(b"BOUNDARY", _DATE.sub(b"Date: D\r\n", wire))


def _makers(app: Flask, source: Callable[[], TemplateSource], data: dict[str, Any]) -> tuple[CopyMaker, CopyMaker]:
    config, source = app.config["MAILER"], source()
    tenant = db.session.get(Tenant, uuid.UUID(create_tenant(app)["tenant_id"]))
    return (CopyMaker.of(config, tenant, SENDER, source, data, spliced=True),
            CopyMaker.of(config, tenant, SENDER, source, data))


def _copy_values(maker: CopyMaker) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """A new recipient's Message-ID, unsubscribe headers and link, as a broadcast's worker makes them."""
    recipient_id = uuid.uuid4()
    url, headers = unsubscribe_link(maker.config, recipient_id)
    return f"<{recipient_id.hex}.{MESSAGE.hex[:12]}@acme.test>", headers, url


def _copy(maker: CopyMaker, member: Member) -> bytes:
    return maker.build(member, *_copy_values(maker))


def _pair(spliced: CopyMaker, whole: CopyMaker, member: Member) -> tuple[bytes, bytes]:
    """The same copy spliced and built whole (the same recipient id, so the same token)."""
    values = _copy_values(spliced)
    return spliced.build(member, *values), whole.build(member, *values)


def _builtin() -> TemplateSource:
    """The built-in `broadcast` template as a broadcast freezes it (rendered like a tenant's)."""
    builtin = load_builtin("broadcast")
    assert builtin is not None
    return TemplateSource(builtin.subject, builtin.html, builtin.text)


SOURCES = {
    "builtin, greets by name": (_builtin, {"subject": "December news", "body": "Hello.\n\nBye."}),
    "the same for everyone": (lambda: TemplateSource("Offices closed {{ day }}", "<p>Closed on {{ day }}.</p>", None),
                              {"day": "24 December"}),
    "personal subject, long lines": (
        lambda: TemplateSource("Für {{ recipient.name or recipient.email }}", "<p>" + "Grüße aus Köln. " * 40 + "</p>",
                       "Grüße, {{ recipient.name }}! " + "Lange Zeile ohne Umbruch. " * 20),
        {}),
    "mostly CJK (base64)": (lambda: TemplateSource("通知", None,
                                                   "你好 {{ recipient.name }}! " + "这是一个很长的句子。" * 30),
                            {}),
}


@pytest.mark.parametrize("name", SOURCES)
def test_a_spliced_copy_is_the_whole_build(app: Flask, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """For every recipient (non-ASCII, quoted, long, injected names, long addresses) the bytes are the same."""
    source, data = SOURCES[name]
    with app.app_context():
        spliced, whole = _makers(app, source, data)
        for member in MEMBERS:
            fast, slow = _pair(spliced, whole, member)
            assert _normal(fast) == _normal(slow), member
        assert None not in spliced.skeletons.values()
        # Once the skeletons exist, only a local part needing SMTPUTF8 is built by the email package.
        monkeypatch.setattr(personalize, "build_message", None)
        for member in MEMBERS[:-1]:
            _copy(spliced, member)


def test_copies_are_crlf_with_lines_of_at_most_998_and_no_injected_header(app: Flask) -> None:
    source, data = SOURCES["personal subject, long lines"]
    with app.app_context():
        spliced, _ = _makers(app, source, data)
        wire = _copy(spliced, MEMBERS[6])
    assert b"\n" not in wire.replace(b"\r\n", b"")
    assert max(len(line) for line in wire.split(b"\r\n")) <= 998
    head = wire.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head  # the name is dropped from To; the subject holds it on one line
    assert b"\r\nTo: eve@example.com\r\n" in head


def test_the_skeleton_is_built_once_per_language(app: Flask) -> None:
    source, data = SOURCES["builtin, greets by name"]
    with app.app_context():
        spliced, _ = _makers(app, source, data)
        for member in MEMBERS[:3]:
            _copy(spliced, member)
        first = dict(spliced.skeletons)
        for member in MEMBERS[:3]:
            _copy(spliced, member)
    assert set(first) == {"en", "de"} and spliced.skeletons == first


def test_a_copy_that_does_not_fit_is_built_whole(app: Flask) -> None:
    """A Message-ID of another form falls back to the whole build: the skeleton refuses it, the copy is whole."""
    source, data = SOURCES["the same for everyone"]
    with app.app_context():
        spliced, whole = _makers(app, source, data)
        _copy(spliced, MEMBERS[0])
        url, headers = unsubscribe_link(spliced.config, uuid.uuid4())
        locale = MEMBERS[0].locale or spliced.default_locale
        skeleton = spliced.skeletons[locale]
        assert skeleton is not None
        to, rendered = Address(MEMBERS[0].email, ""), spliced.render(locale, MEMBERS[0].email, "", url)
        good_id, good_headers, good_url = _copy_values(spliced)
        assert skeleton.copy(to, good_id, good_headers, good_url, *rendered) is not None
        assert skeleton.copy(to, "<other@acme.test>", headers, url, *rendered) is None
        fast = spliced.build(MEMBERS[0], "<other@acme.test>", headers, url)
        slow = whole.build(MEMBERS[0], "<other@acme.test>", headers, url)
    assert _normal(fast) == _normal(slow)


def test_a_spliced_copy_is_dkim_signed_and_verifies(app: Flask) -> None:
    """Signing stays per copy: each spliced copy carries its own signature, and dkimpy verifies it."""
    key = new_dkim_key()
    signer = Signer("acme.test", key.selector, key.private_pem.encode())
    source, data = SOURCES["builtin, greets by name"]
    with app.app_context():
        spliced, _ = _makers(app, source, data)
        copies = [sign_wire(signer, _copy(spliced, member)) for member in MEMBERS[:4]]

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == f"{key.selector}._domainkey.acme.test"
        return dkim_txt_value(key.public_key).encode()

    assert len({wire.split(b"\r\n\r\n")[0] for wire in copies}) == len(copies)
    assert all(wire.startswith(b"DKIM-Signature:") and dkim.verify(wire, dnsfunc=dnsfunc) for wire in copies)


@pytest.mark.parametrize("address", [
    Address("a@b.example"), Address("ann.lee+tag@example.com", "Ann Lee"), Address("x@y.example", "O'Brien"),
    Address("x@y.example", "Jo  Two Spaces"), Address(f"{'l' * 64}@example.com", "Name Taking The Line Over"),
    Address("x@y.example", "Ünïcode"), Address("x@y.example", "a, b"),
])
def test_the_to_line_is_the_email_packages(address: Address) -> None:
    wire = to_bytes(build_message(MessageContent(sender=Address(SENDER), to=(address,), subject="s", text="t")))
    [line] = re.findall(rb"\r\n(To: .*?\r\n)(?=[^ \t])", wire, re.DOTALL)
    assert address_line("To", (address,), SMTP) == line


@pytest.mark.parametrize("text", ["", "short\n", "ascii line\r\nand more", "é ascii-short", "long " * 40,
                                  "ü" * 100, "你" * 200, "\n".join(["x" * 90] * 12), "trailing space \nx",
                                  # quoted-printable, encoded line by line: escapes at the soft breaks, spaces
                                  # and tabs ending a long line, empty lines, lines repeated (encoded once)
                                  "a=b " * 30, "x" * 74 + "=é" + "y" * 10, "y" * 75 + "=\n" + "z" * 80,
                                  "tab\t" * 30 + "\n\n" + "end \t", ("x" * 79 + " \n") * 3,
                                  "\x0bvertical\x0c " * 20, "\n".join(["<td style=\"a:b\">" * 9] * 4) + "\n\n",
                                  "é" * 40 + "=" * 5 + "\r\n" + "x" * 200])
def test_a_part_is_encoded_as_set_content_encodes_it(text: str) -> None:
    wire = to_bytes(build_message(MessageContent(sender=Address(SENDER), to=(Address("a@b.example"),),
                                                 subject="s", text=text, html="<p>h</p>")))
    first = wire.split(b"\r\n--", 2)[1].split(b"\r\n", 1)[1]
    assert encode_part("plain", text) == first


def test_the_date_is_written_as_the_email_package_writes_build_messages() -> None:
    wire = to_bytes(build_message(MessageContent(sender=Address(SENDER), to=(Address("a@b.example"),),
                                                 subject="s", text="t")))
    [built] = re.findall(rb"\r\nDate: ([^\r]*)\r\n", wire)
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000", date_value())
    assert abs(parsedate_to_datetime(built.decode()) - parsedate_to_datetime(date_value())).total_seconds() <= 2
    assert date_value(0) == "Thu, 01 Jan 1970 00:00:00 +0000"


def test_a_later_claims_copy_maker_reuses_the_broadcasts_skeleton(app: Flask) -> None:
    """A claim builds a new CopyMaker; the skeleton (four whole builds) is made once per broadcast and language."""
    source, data = SOURCES["builtin, greets by name"]
    with app.app_context():
        first, _ = _makers(app, source, data)
        _copy(first, MEMBERS[0])
        later = dataclasses.replace(first, skeletons={}, layouts={})
        _copy(later, MEMBERS[1])
    assert later.skeletons["en"] is first.skeletons["en"] is not None
