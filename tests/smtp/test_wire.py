"""A message written directly (smtp/wire.py) is, byte for byte, the `email` package's build (smtp/mime.py)."""

from __future__ import annotations

import itertools
import re

import pytest

from mailer.smtp import wire
from mailer.smtp.mime import Address, Attachment, MessageContent, build_message, to_bytes
from mailer.smtp.wire import message_bytes

_BOUNDARY = re.compile(rb'boundary="([^"]+)"')
_DATE = re.compile(rb"\r\nDate: ([^\r]*)\r\n")
MESSAGE_ID = "<1765110000000.0123456789abcdef01234567@shop.example>"

SENDERS = [Address("no-reply@shop.example", "Shop"), Address("news@shop.example"),
           Address("ops@shop.example", "Ünïcode Shop"), Address("ventes@boutique.example", 'The "Best", Shop')]
RECIPIENTS = [
    (Address("ann@example.com", "Ann"),),
    (Address("ann.lee+tag@example.com", "Ann Lee"), Address("bob@example.com")),
    (Address("x@y.example", "O'Brien"), Address("z@y.example", "Doe, John")),
    (Address("chen@example.com", "陈小明"), Address("zoe@example.com", "Zoë Ünïcode-Straße")),
    (Address("用户@例子.example", "Ünï"),),  # a non-ASCII local part: SMTPUTF8
    (Address("x@y.example", "Jo  Two Spaces"), Address("t@y.example", " lead and trail ")),
    tuple(Address(f"member{i}@lists.example.com", f"Member Number {i}") for i in range(6)),  # folded
    (Address(f"{'l' * 64}@example.com", "Name Taking The Line Over"),),
    (Address("a" * 56 + "@b.example"),),  # "To: " + 74: a line of 78 exactly
    (Address("a" * 57 + "@b.example"),),  # 79: folded
]
SUBJECTS = ["Hello", "", "Your order #123 has shipped!", "Héllo wörld", "注文確認", "word " * 30,
            "x" * 120, "=?utf-8?q?looks_encoded?=", "two  spaces and a\ttab", " leading space",
            "S" * 69, "S" * 70, "Ünï " + "long " * 40 + "ending"]
BODIES = [
    ("Hi.\n", None), (None, "<p>Hi <b>there</b></p>"), ("Plain text.\n", "<h1>Title</h1><p>Para</p>"),
    ("", None), ("", "<p></p>"), ("no newline at end", None),
    ("From the start\n.dot line\nFrom again\r\n.\r\n", "<p>From here</p>\n.<br>"),
    ("CRLF\r\nand LF\nand CR\rmixed\r\n", None), ("x" * 1200 + "\n" + "y" * 80, None),
    ("Ünïcode text é ü 你好\n" * 5, "<p>Ünïcode é</p>" * 40), ("é" * 500, None),
    ("tab\t" * 30 + "\n\ntrailing \t", "a=b " * 40), ("\n".join(["line"] * 300), None),
    (None, "<table>" + "<tr><td>cell</td></tr>" * 50 + "</table>" + "x" * 2000),
]
HEADER_SETS = [(), (("X-Campaign", "q4"),), (("X-Tag", "Ünï value"), ("X-Long", "word " * 40)),
               (("X-Empty", ""), ("X-Encoded", "=?utf-8?b?w7w=?="), ("X-Ref", "a" * 80))]
CC_REPLY = [((), None), ((Address("cc@example.com"),), Address("help@shop.example")),
            ((Address("cc@example.com", "Çé"), Address("dd@example.com", "D D")), Address("r@x.org", "Support Team"))]


def reference(content: MessageContent, written: bytes, message_id: str = MESSAGE_ID) -> bytes:
    """The `email` package's build of ``content`` with the Date and boundaries ``written`` carries."""
    message = build_message(content, message_id=message_id)
    message.replace_header("Date", _DATE.search(written).group(1).decode())
    boundaries = iter(_BOUNDARY.findall(written))
    for part in message.walk():  # in the order the generator writes their headers
        if part.is_multipart():
            part.set_boundary(next(boundaries).decode())
    return to_bytes(message)


def cases() -> list[MessageContent]:
    """A few hundred messages: each list's every value appears against several of the others (deterministic)."""
    combos = itertools.product(range(len(SENDERS)), range(len(RECIPIENTS)), range(len(SUBJECTS)), range(len(BODIES)))
    picked = []
    for index, (sender, to, subject, body) in enumerate(combos):
        if index % 23:
            continue
        cc, reply_to = CC_REPLY[index % len(CC_REPLY)]
        text, html = BODIES[body]
        picked.append(MessageContent(sender=SENDERS[sender], to=RECIPIENTS[to], subject=SUBJECTS[subject],
                                     text=text, html=html, cc=cc, reply_to=reply_to,
                                     headers=HEADER_SETS[index % len(HEADER_SETS)]))
    # every recipient list and subject against the common body, headers and sender too
    picked += [MessageContent(sender=SENDERS[0], to=to, subject=subject, text="Hi.\n", html="<p>Hi</p>")
               for to, subject in itertools.product(RECIPIENTS, SUBJECTS)]
    return picked


def test_the_cases_cover_every_value() -> None:
    contents = cases()
    assert len(contents) >= 200
    for values, field in ((SENDERS, "sender"), (RECIPIENTS, "to"), (SUBJECTS, "subject")):
        assert {getattr(content, field) for content in contents} >= set(values)
    assert {(content.text, content.html) for content in contents} >= set(BODIES)


@pytest.mark.parametrize("content", cases())
def test_a_message_is_the_email_packages_build(content: MessageContent) -> None:
    written = message_bytes(content, message_id=MESSAGE_ID)
    assert written == reference(content, written)


def test_a_plain_message_is_written_without_the_email_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """ASCII names and subject that fit a line: no header is folded by the `email` package, no message built."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the email package was used")

    monkeypatch.setattr(wire, "fold", refuse)
    monkeypatch.setattr(wire, "build_message", refuse)
    content = MessageContent(sender=SENDERS[0], to=RECIPIENTS[1], subject=SUBJECTS[2], text="Hi", html="<p>Hi</p>",
                             cc=CC_REPLY[1][0], reply_to=CC_REPLY[1][1], headers=HEADER_SETS[1])
    assert message_bytes(content, message_id=MESSAGE_ID).startswith(b"From: Shop <no-reply@shop.example>\r\n")


def test_attachments_take_the_email_package() -> None:
    content = MessageContent(sender=SENDERS[0], to=RECIPIENTS[0], subject="Files", text="See attached.",
                             html="<p>See</p>", attachments=(Attachment("a.bin", "application/octet-stream", b"\0\1"),))
    written = message_bytes(content, message_id=MESSAGE_ID)
    assert b"multipart/mixed" in written and written == reference(content, written)


def test_a_boundary_in_a_part_takes_the_email_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated boundary occurs in the text: the `email` package picks one that does not."""
    boundary = b"===============0000000000000000042=="
    monkeypatch.setattr(wire, "new_boundary", lambda: boundary.decode())
    content = MessageContent(sender=SENDERS[0], to=RECIPIENTS[0], subject="s", text=f"--{boundary.decode()}\n",
                             html="<p>h</p>")
    written = message_bytes(content, message_id=MESSAGE_ID)
    assert _BOUNDARY.search(written).group(1) != boundary
    assert written == reference(content, written)


def test_a_known_custom_header_name_takes_the_email_package() -> None:
    content = MessageContent(sender=SENDERS[0], to=RECIPIENTS[0], subject="s", text="t",
                             headers=(("List-Unsubscribe", "<https://x.example/u>"), ("Sender", "a@b.example")))
    written = message_bytes(content, message_id=MESSAGE_ID)
    assert written == reference(content, written)


def test_a_new_message_id_is_made_on_the_senders_domain() -> None:
    written = message_bytes(MessageContent(sender=SENDERS[0], to=RECIPIENTS[0], subject="s", text="t"))
    assert re.search(rb"\r\nMessage-ID: <\d+\.[0-9a-f]{24}@shop\.example>\r\n", written)


@pytest.mark.parametrize("message_id", ["<a/b=c{d}@host.example>", f"<{'7' * 13}.{'f' * 70}@shop.example>",
                                        "<1.abc@xn--bcher-kva.example>", "<\"quoted local\"@shop.example>"])
def test_a_message_id_of_another_form_is_the_email_packages(message_id: str) -> None:
    content = MessageContent(sender=SENDERS[0], to=RECIPIENTS[0], subject="s", text="t", html="<p>h</p>")
    written = message_bytes(content, message_id=message_id)
    assert written == reference(content, written, message_id)


def test_quoted_printable_lines_are_the_same_after_the_kept_lines_are_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-process lines (_QP_LINES) are emptied when full, in the middle of a part: its lines stay encoded."""
    monkeypatch.setattr(wire, "_QP_LINES", {})
    monkeypatch.setattr(wire, "_QP_LINES_KEPT", 3)
    text = "".join(f"line {i} {'word ' * 20}= é\n" for i in range(12))
    content = MessageContent(sender=SENDERS[0], to=RECIPIENTS[0], subject="Hello", text=text, html=None)
    for _ in range(2):
        written = message_bytes(content, message_id=MESSAGE_ID)
        assert b"quoted-printable" in written and written == reference(content, written)
    assert len(wire._QP_LINES) <= 3
