"""MAIL's and RCPT's argument is read as aiosmtpd reads it: the pattern for a plain ``<local@domain>`` in
mailer/submission/server.py must give aiosmtpd's own ``SMTP._getaddr`` answer for every argument, so an
upgrade of aiosmtpd that changes its reading fails here rather than in a session."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from aiosmtpd.smtp import SMTP

from mailer.submission.server import SubmissionSMTP

_PIECES = ["a", "b.c", "x-y", "Z9", "!#$%&'*+/=?^_`{|}~", ".", "..", "@", "@@", "<", ">", " ", "\t", '"q s"',
           "(comment)", "[127.0.0.1]", "@relay.example,@b.example:", "example.com", "xn--bcher-kva.example",
           " SIZE=1000", " BODY=8BITMIME", "=", ",", ":", ";", "\\", "é", "a" * 70]


def _arguments(count: int) -> list[str]:
    draw = random.Random(20261207)
    plain = [f"<{local}@{domain}>{rest}" for local in ("a", "first.last", "x+tag", "a" * 65)
             for domain in ("example.com", "mail.example.co.uk", "x")
             for rest in ("", " SIZE=2048", " BODY=8BITMIME SMTPUTF8", "  (note)", "\t")]
    made = ["", " ", "<>", "a@b", " <a@b>", "<a@b> ", "<a@b>(c)", "<@x.example:a@b>", "<a.@b>", "<.a@b>",
            "<a..b@c>", '<"a b"@c>', "<a@[127.0.0.1]>", "<a@b.>", "<a@b>x", "<<a@b>>", "<a@b", "a@b>"]
    while len(made) < count:
        made.append("".join(draw.choice(_PIECES) for _ in range(draw.randint(1, 8))))
    return plain + made


def _read(reader: Callable[[str], object], argument: str) -> object:
    """The answer, or the kind of error (the email package's parser raises IndexError on some blank arguments;
    aiosmtpd answers those with a 500, and so must we)."""
    try:
        return reader(argument)
    except Exception as error:  # compared, not handled
        return type(error)


@pytest.mark.parametrize("local_part_limit", [0, 64])
def test_every_argument_reads_as_aiosmtpd_reads_it(local_part_limit: int) -> None:
    theirs, ours = SMTP.__new__(SMTP), SubmissionSMTP.__new__(SubmissionSMTP)  # _getaddr reads only this limit
    theirs.local_part_limit = ours.local_part_limit = local_part_limit
    answers = [(argument, _read(theirs._getaddr, argument), _read(ours._getaddr, argument))
               for argument in _arguments(6000)]
    assert [answer for answer in answers if answer[1] != answer[2]] == []
    addresses = [answer for _, answer, _ in answers if isinstance(answer, tuple) and answer[0]]
    assert len(addresses) > 100  # the generated arguments include real addresses, not only refusals
