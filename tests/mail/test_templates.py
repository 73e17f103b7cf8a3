"""Templates render in a sandbox: escaped HTML, strict variables, bounded time and size."""

from __future__ import annotations

import time

import pytest

from mailer.mail.templates import TemplateRenderError, TemplateSource, check_syntax, render


def test_html_is_escaped_and_text_is_not():
    rendered = render(TemplateSource("Hi {{ name }}", "<p>{{ name }}</p>", "Hi {{ name }}"), {"name": "<b>&"})
    assert rendered.html == "<p>&lt;b&gt;&amp;</p>"
    assert rendered.text == "Hi <b>&"
    assert rendered.subject == "Hi <b>&"


def test_subject_is_folded_to_one_line():
    assert render(TemplateSource("Hi\n{{ n }}\r\nthere"), {"n": "x\r\nBcc: y"}).subject == "Hi x Bcc: y there"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ self.__init__.__globals__ }}",
        "{{ 'a' * 1000000000 }}",
        "{{ 2 ** 100000000 }}",
        "{% for i in range(10**7) %}{% endfor %}",
    ],
)
def test_ssti_and_blowups_are_refused(payload):
    """Each payload is stopped by the sandbox or a bound, not by some unrelated error such as an undefined name."""
    with pytest.raises(TemplateRenderError, match="not allowed") as caught:
        render(TemplateSource(payload), {})
    assert "undefined" not in str(caught.value)


def test_the_sandbox_offers_no_lipsum_global():
    """`lipsum` (a way to functions' globals) is not there at all: a template naming it fails as undefined."""
    with pytest.raises(TemplateRenderError, match="'lipsum' is undefined"):
        render(TemplateSource("{{ lipsum.__globals__ }}"), {})


def test_a_loop_without_output_is_stopped_in_bounded_time():
    started = time.monotonic()
    with pytest.raises(TemplateRenderError, match="too long"):
        render(TemplateSource("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"), {})
    assert time.monotonic() - started < 10


def test_output_size_is_bounded():
    with pytest.raises(TemplateRenderError, match="too large"):
        render(TemplateSource("x", text="{% for i in range(10000) %}{{ 'y' * 99999 }}{% endfor %}"), {})


def test_undefined_variable_names_the_part_and_line():
    with pytest.raises(TemplateRenderError) as caught:
        render(TemplateSource("ok", html="<p>\n{{ missing }}</p>"), {})
    assert caught.value.part == "html" and caught.value.line == 2


def test_syntax_error_names_the_line():
    with pytest.raises(TemplateRenderError) as caught:
        check_syntax(TemplateSource("ok", text="line\nline\n{% if %}"))
    assert caught.value.part == "text" and caught.value.line == 3
