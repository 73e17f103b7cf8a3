"""RFC 6376's relaxed canonicalization of a CRLF message, as dkimpy computes it for a signature, in fewer steps.

dkimpy parses every header line with a regular expression, canonicalizes every header (not only the signed
ones), selects the signed ones scanning the list once per name, and feeds the hash a piece at a time; its
relaxed body runs two regular expressions over every blank of the body. Here the header block is split once,
only the signed fields are canonicalized, the hash input is joined once, and a body whose only blanks to
change are runs of spaces (what our copies hold) is changed by one literal-prefixed substitution.
tests/domains/test_signing.py checks the signatures against dkimpy's own, byte for byte.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from dkim import canonicalization

# dkimpy's rfc822_parse: a field's name runs to its first colon, printable ASCII without blanks.
_FIELD_NAME = re.compile(rb"([!-~]+?):")
_WSP = re.compile(rb"[\t ]+")
_SPACES = re.compile(rb"   *")  # two or more: the two literal spaces let the search skip along the body

Field = tuple[bytes, bytes]  # (name, value with its folding CRLFs, no final CRLF)


def header_fields(head: bytes) -> list[Field] | None:
    """The fields of a header block of CRLF lines (no blank line), as dkimpy's rfc822_parse reads them; None
    when a line is neither a field nor a continuation (dkimpy's parse then decides: an mbox From_ line is
    skipped, anything else refused)."""
    fields: list[Field] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not fields:
                return None
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
            continue
        match = _FIELD_NAME.match(line)
        if match is None:
            return None
        fields.append((match.group(1), line[match.end():]))
    return fields


def relaxed_value(value: bytes) -> bytes:
    """A field's value unfolded, each run of blanks one space, stripped (dkimpy's Relaxed; no bare LF)."""
    unfolded = value.replace(b"\r\n", b"")
    if b"\t" in unfolded or b"  " in unfolded:
        unfolded = _WSP.sub(b" ", unfolded)
    return unfolded.strip()


def signed_part(fields: Sequence[Field], include: Sequence[bytes]) -> bytes:
    """What the hash takes of the signed fields: for each name of ``include`` the last field of that name not
    yet taken (RFC 6376 §5.4.2, dkimpy's select_headers), relaxed, each ending in CRLF; a name with no field
    left adds nothing."""
    positions: dict[bytes, list[int]] = {}
    for index, (name, _) in enumerate(fields):
        positions.setdefault(name.lower(), []).append(index)
    parts = []
    for name in include:
        left = positions.get(name)
        if left:
            field_name, value = fields[left.pop()]
            parts += [field_name.lower(), b":", relaxed_value(value), b"\r\n"]
    return b"".join(parts)


def relaxed_body(body: bytes) -> bytes:
    """The relaxed body of a CRLF body, as dkimpy's Relaxed.canonicalize_body."""
    if b"\t" in body or b" \r\n" in body:
        lines = body.split(b"\r\n")
        body = b"\r\n".join([*map(_relaxed_line, lines[:-1]), _WSP.sub(b" ", lines[-1])])
    elif b"  " in body:  # no blank ends a line: only runs of spaces change
        body = _SPACES.sub(b" ", body)
    return canonicalization.correct_empty_body(canonicalization.strip_trailing_lines(body))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=8192)
def _relaxed_line(line: bytes) -> bytes:
    return _WSP.sub(b" ", line.rstrip(b"\t "))
