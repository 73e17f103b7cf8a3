"""N1: every pattern run over request input is linear — the derived text part, log scrubbing, audit masking.

A regex such as ``<[^>]*>`` restarts at every ``<`` and runs to the end of the string: O(n²) in C, with
the GIL held. Each case below is a megabyte shaped to hit one pattern's worst case.
"""

from __future__ import annotations

import time

import pytest

from mailer.logs import scrub
from mailer.security.address_digest import mask_addresses
from mailer.smtp.mime import html_to_text

TO = ["ann@example.com"]
MB = 1_000_000


def _short(value: str) -> str:
    return f"{value[:6]!r}x{len(value)}"


@pytest.mark.parametrize("html", [
    "<" * MB,
    "<a" * (MB // 2),
    "<" + "a" * MB,
    "<aaaa" * (MB // 5),
    "<br" + " " * MB,
    "<br/" * (MB // 4),
    "\n" + " " * MB + "\n",
    "<p>" + "\n \n" * (MB // 3),
], ids=_short)
def test_text_is_derived_from_a_megabyte_of_hostile_html_in_linear_time(html):
    started = time.monotonic()
    text = html_to_text(html)
    assert time.monotonic() - started < 2.0
    assert text.endswith("\n") and len(text) <= len(html) + 1


def test_the_derived_text_is_still_sane():
    assert html_to_text("<p>a &lt; b</p>" * 20_000).startswith("a < b\na < b\n")
    # A stray "<" no longer swallows the rest of the text: only a real tag is dropped.
    assert html_to_text("x < y <b>bold</b><br >" * 10_000).startswith("x < y bold\nx < y bold\n")


def test_an_html_only_message_of_a_megabyte_of_lt_is_answered_quickly(client, admin):
    started = time.monotonic()
    response = client.post("/v1/messages", json={"to": TO, "subject": "s", "html": "<" * MB}, headers=admin)
    assert response.status_code == 202, response.get_json()
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("text", [
    "eyJ-" * (MB // 4),
    "eyJa." * (MB // 5),
    "a" * MB + "@",
    "a." * (MB // 2) + "@",
    "token=" + "?token" * (MB // 6),
], ids=_short)
def test_log_scrubbing_is_linear(text):
    started = time.monotonic()
    scrub(text)
    assert time.monotonic() - started < 2.0


def test_log_scrubbing_still_masks():
    assert scrub("to .ann@example.com and bob.x@example.org") == "to .a***@example.com and b***@example.org"
    assert scrub("Bearer eyJhbGciOi.eyJzdWIi.sig-x") == "Bearer [jwt]"


@pytest.mark.parametrize("text", ["a" * MB, "a" * MB + "@", "a@" + "b" * MB], ids=_short)
def test_audit_address_masking_is_linear(text):
    started = time.monotonic()
    mask_addresses({"detail": text}, None)  # no address in it: no key is needed
    assert time.monotonic() - started < 2.0


def test_audit_address_masking_still_masks(app):
    with app.app_context():  # the digests' key is the stable keyring's, in the database
        masked = mask_addresses({"detail": "x ann@example.com, bob@ex.org"}, app.config["MAILER"])["detail"]
    assert "example.com" not in masked and "ex.org" not in masked and masked.count("@erased.invalid") == 2
