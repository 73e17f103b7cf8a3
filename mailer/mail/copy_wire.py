"""Broadcast copies spliced from a skeleton: one broadcast's MIME built once per language by the `email`
package, each recipient's copy then written as bytes around its own parts.

Per copy the template is still rendered (it may greet the recipient), but the `email` package's header
objects, folding and generator — most of a copy's cost — run once per skeleton. What a copy changes:

- the To header: written by smtp/wire.py as a single message's is (plain ASCII that fits one line directly, else
  folded by the `email` package alone under the skeleton's policy); the Subject likewise when the template
  personalises it;
- the Date, the recipient's half of the Message-ID (32 hex digits) and the unsubscribe token (base32): they
  keep their length and need no encoding, so the `email` package lays every copy's headers out alike (the
  List-Unsubscribe header comes out as RFC 2047 words the token runs through); the skeleton finds their
  characters by building the probe again with each value changed and comparing the bytes;
- the text and HTML parts: encoded by smtp/wire.py by the `email` package's rules (7bit, 8bit, quoted-printable or
  base64, chosen per part as `set_content` chooses) between the skeleton's boundary lines.

A skeleton is only used when a copy spliced from it equals the `email` package's whole build of a second
probe (a non-ASCII name, other values); a copy whose values do not have the probe's shape (a Message-ID of
another form, a local part that needs SMTPUTF8 when the skeleton does not) is built whole by the caller.
All copies of a skeleton share its MIME boundary, random per skeleton; a copy whose body holds it is built
whole.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, EmailPolicy

from mailer.smtp.mime import Address, needs_smtputf8, to_bytes
from mailer.smtp.wire import address_line, date_value, encode_part, fold, needs_utf8, new_boundary

Headers = tuple[tuple[str, str], ...]
# (to, message_id, headers, unsubscribe_url) → the message as the whole build makes it.
Build = Callable[[Address, str, Headers, str], EmailMessage]

_HEX, _BASE32 = "0123456789abcdef", "abcdefghijklmnopqrstuvwxyz234567"
_TOKEN = re.compile(r"[a-z2-7]+")
_MESSAGE_ID = re.compile(r"<[0-9a-f]{32}\.")
_ID_DIGITS = 32
PROBE_TO = Address("probe@copy-wire.invalid")
CHECK_TO = Address("probe.check@copy-wire.invalid", 'Prøbe Čheck, "Jr"')

# A piece of the skeleton's headers: literal bytes, or (value, start, end) — a slice of one copy's value
# (end 0: to its end).
Piece = bytes | tuple[str, int, int]


@dataclass(frozen=True)
class Skeleton:
    """One broadcast's copy in one language: its headers cut where a recipient's values go, its boundary."""

    pieces: tuple[Piece, ...]
    policy: EmailPolicy
    boundary: bytes
    subject: str
    subject_line: bytes
    token_length: int
    headers: Headers  # the probe's headers, holding probe_token
    probe_token: str
    id_tail: str  # the Message-ID after its recipient digits: ".<message>@<domain>>"

    def copy(self, to: Address, message_id: str, headers: Headers, url: str, subject: str, text: str,
             html: str) -> bytes | None:
        """One recipient's copy, or None when its values do not fit the skeleton (build it whole)."""
        token = url.rpartition("/")[2]
        if (len(token) != self.token_length or not _TOKEN.fullmatch(token)
                or len(message_id) != len(self.id_tail) + 1 + _ID_DIGITS or not message_id.endswith(self.id_tail)
                or not _MESSAGE_ID.match(message_id)
                or headers != tuple((name, value.replace(self.probe_token, token)) for name, value in self.headers)
                or (needs_utf8(to) and self.policy is not SMTPUTF8)):
            return None
        return self.splice(to, message_id[1:1 + _ID_DIGITS], token, date_value(), subject, text, html)

    def splice(self, to: Address, id_digits: str, token: str, date: str, subject: str, text: str,
               html: str) -> bytes | None:
        subject_line = self.subject_line if subject == self.subject else fold("Subject", subject, self.policy)
        values = {"to": address_line("To", (to,), self.policy), "id": id_digits.encode("ascii"),
                  "token": token.encode("ascii"), "date": date.encode("ascii"), "subject": subject_line}
        parts = encode_part("plain", text), encode_part("html", html)
        if any(self.boundary in part for part in parts):
            return None
        delimiter = b"--" + self.boundary
        return b"".join([
            *(piece if isinstance(piece, bytes) else values[piece[0]][piece[1]:piece[2] or None]
              for piece in self.pieces),
            delimiter, b"\r\n", parts[0], b"\r\n", delimiter, b"\r\n", parts[1], b"\r\n", delimiter, b"--\r\n",
        ])


def make_skeleton(build: Build, message_id: str, headers: Headers, url: str) -> Skeleton | None:
    """The skeleton of the copies whose first one has these values, or None when copies cannot be spliced.

    ``build`` makes the whole message with the `email` package: multipart/alternative[text, html]."""
    token = url.rpartition("/")[2]
    if not _TOKEN.fullmatch(token) or not _MESSAGE_ID.match(message_id):
        return None
    boundary, date = new_boundary(), date_value()
    tail = message_id[1 + _ID_DIGITS:]
    id_a, id_b, id_c = _probe(_HEX, _ID_DIGITS)
    token_a, token_b, token_c = _probe(_BASE32, len(token))

    def wire(to: Address, id_digits: str, probe_token: str) -> tuple[bytes, EmailMessage]:
        values = tuple((name, value.replace(token, probe_token)) for name, value in headers)
        message = build(to, f"<{id_digits}{tail}", values, url.replace(token, probe_token))
        message.replace_header("Date", date)
        if message.is_multipart():
            message.set_boundary(boundary)
        return to_bytes(message), message

    a, message = wire(PROBE_TO, id_a, token_a)
    if [part.get_content_type() for part in message.iter_parts()] != ["text/plain", "text/html"]:
        return None
    policy = SMTPUTF8 if needs_smtputf8(message) else SMTP
    subject = str(message["Subject"])
    subject_line = fold("Subject", subject, policy)
    pieces = _cut(a, wire(PROBE_TO, id_a, token_b)[0], wire(PROBE_TO, id_b, token_a)[0], date, len(token),
                  address_line("To", (PROBE_TO,), policy), subject_line)
    if pieces is None:
        return None
    skeleton = Skeleton(pieces, policy, boundary.encode("ascii"), subject, subject_line, len(token),
                        tuple((name, value.replace(token, token_a)) for name, value in headers), token_a, tail)
    # The proof: copies spliced with the probes' values (one with a name to encode) are those builds.
    for to, id_digits, probe_token, built, check in ((PROBE_TO, id_a, token_a, a, message),
                                                      (CHECK_TO, id_c, token_c, *wire(CHECK_TO, id_c, token_c))):
        text, html = (part.get_content() for part in check.iter_parts())
        if skeleton.splice(to, id_digits, probe_token, date, str(check["Subject"]), text, html) != built:
            return None
    return skeleton


def _probe(alphabet: str, length: int) -> tuple[str, str, str]:
    """Three values of ``length`` characters of ``alphabet``, differing from each other at every position."""
    first = [secrets.randbelow(len(alphabet)) for _ in range(length)]
    a, b, c = ("".join(alphabet[(i + shift) % len(alphabet)] for i in first) for shift in (0, 1, 2))
    return a, b, c


def _cut(a: bytes, other_token: bytes, other_id: bytes, date: str, token_length: int, probe_to: bytes,
         subject_line: bytes) -> tuple[Piece, ...] | None:
    """Probe ``a``'s headers cut into pieces, from probes that differ from it only in the token or the id."""
    end = a.find(b"\r\n\r\n") + 4
    if end < 4 or other_token.find(b"\r\n\r\n") + 4 != end or other_id.find(b"\r\n\r\n") + 4 != end:
        return None
    slots: dict[int, tuple[str, int]] = {}
    for name, other, width in (("token", other_token, token_length), ("id", other_id, _ID_DIGITS)):
        positions = [i for i in range(end) if a[i] != other[i]]
        if not positions or len(positions) % width:
            return None
        slots.update((position, (name, k % width)) for k, position in enumerate(positions))
    date_line = b"\r\nDate: " + date.encode("ascii") + b"\r\n"
    date_at = a.find(date_line, 0, end)
    if date_at < 0:
        return None
    slots.update((date_at + 8 + k, ("date", k)) for k in range(len(date)))
    lines: dict[int, tuple[str, int]] = {}
    for name, line in (("to", probe_to), ("subject", subject_line)):
        at = a.find(b"\r\n" + line, 0, end) + 2
        if at < 2:
            return None
        lines[at] = (name, at + len(line))
    return _pieces(a[:end], slots, lines)


def _pieces(a: bytes, slots: dict[int, tuple[str, int]], lines: dict[int, tuple[str, int]]) -> tuple[Piece, ...]:
    """``a`` as literal bytes and slices of the copy's values; ``lines`` maps a start to a whole value's (name, end)."""
    pieces: list[Piece] = []
    literal = bytearray()
    position = 0
    while position < len(a):
        if position in lines:
            name, position = lines[position]
            pieces += [bytes(literal), (name, 0, 0)]
        elif position in slots:
            name, start = slots[position]
            end = start
            while slots.get(position) == (name, end):
                position, end = position + 1, end + 1
            pieces += [bytes(literal), (name, start, end)]
        else:
            literal.append(a[position])
            position += 1
            continue
        literal.clear()
    pieces.append(bytes(literal))
    return tuple(piece for piece in pieces if piece != b"")
