"""Template bombs: every way the review found (and the variants next to them) to make a render
allocate too much or run too long ends in a TemplateRenderError quickly, a 422 template_error in the API."""

from __future__ import annotations

import time

import pytest

from mailer.mail.templates import TemplateRenderError, TemplateSource, render

BOMBS = {
    "center": "{{ ('x'|center(300000000))|length }}",
    "str_center": "{{ 'x'.center(300000000)|length }}",
    "ljust": "{{ 'x'.ljust(300000000)|length }}",
    "zfill": "{{ '1'.zfill(300000000)|length }}",
    "printf_width": "{{ ('%0300000000d' % 1)|length }}",
    "printf_star": "{{ ('%*d' % (300000000, 1))|length }}",
    "format_filter": "{{ ('%0300000000d'|format(1))|length }}",
    "str_format_width": "{{ ('{:>300000000}'.format(1))|length }}",
    "str_format_nested": "{{ ('{:>{w}}'.format(1, w=300000000))|length }}",
    "tilde_doubling": "{% macro f(s,n) %}{% if n %}{{ f(s ~ s, n-1) }}{% else %}{{ s|length }}{% endif %}"
                      "{% endmacro %}{{ f('a', 34) }}",
    "plus_doubling": "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
                     "{% endfor %}{{ ns.s|length }}",
    "macro_body_doubling": "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{% set ns = namespace(s='a') %}"
                           "{% for i in range(40) %}{% set ns.s = d(ns.s) %}{% endfor %}{{ ns.s|length }}",
    "int_squaring": "{% set ns = namespace(x=10**64) %}{% for i in range(30) %}{% set ns.x = ns.x * ns.x %}"
                    "{% endfor %}{{ ns.x > 0 }}",
    "lipsum": "{{ lipsum(3000000, html=False)|length }}",
    "cycler": "{{ cycler(1, 2).next() }}",
    "replace_squaring": "{% set ns = namespace(s='aaaa') %}{% for i in range(20) %}"
                        "{% set ns.s = ns.s|replace('a', ns.s) %}{% endfor %}{{ ns.s|length }}",
    "str_replace": "{% set s = 'a' * 100000 %}{{ s.replace('a', s)|length }}",
    "join": "{% set s = 'a' * 100000 %}{{ ([s] * 10000)|join|length }}",
    "list_as_text": "{% set s = 'a' * 100000 %}{{ ([s] * 10000)|string|length }}",
    "list_output": "{% set s = 'a' * 100000 %}{{ [s] * 10000 }}",
    "tojson_indent": "{{ [1, 2]|tojson(indent=300000000) }}",
    "indent": "{% set s = 'a\\n' * 50000 %}{{ s|indent(100000)|length }}",
    "batch_fill": "{{ [1]|batch(300000000, 'x')|list|length }}",
    "sum_of_lists": "{% set s = [[1]] * 50000 %}{{ s|sum(start=[])|length }}",
    "expandtabs": "{{ ('\\t' * 1000).expandtabs(1000000)|length }}",
    "translate": "{{ 'abc'.translate({97: 'x'}) }}",
    "unbounded_recursion": "{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}",
    "slow_loop": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "slow_filters": "{% for i in range(10000) %}{{ (range(10000)|list|sort|first) }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_template_bomb_fails_fast_as_a_render_error(name):
    """Each bomb raises TemplateRenderError within seconds, however it tries to grow or spin."""
    started = time.monotonic()
    with pytest.raises(TemplateRenderError):
        render(TemplateSource("s", None, BOMBS[name]), {})
    assert time.monotonic() - started < 15.0  # a 2 s budget; generous for a loaded shared machine


@pytest.mark.parametrize("template", [
    "{{ '%5.2f'|format(3.14159) }} {{ '{:>8}'.format('x') }} {{ 'x'|center(11) }} {{ 'a-b'.replace('-', '+') }}",
    "{% for u in users %}{{ loop.index }}. {{ u.name|title }}{{ ', ' if not loop.last }}{% endfor %}",
    "{% macro row(n) %}{% if n %}{{ row(n - 1) }}{{ n }}{% endif %}{% endmacro %}{{ row(30) }}",
    "{{ (12345678901234567890 * 98765432109876543210) > 0 }} {{ users|map(attribute='name')|join(', ') }}",
])
def test_ordinary_templates_still_render(template):
    """Formatting, loops, modest recursion and big-ish numbers stay available."""
    users = [{"name": f"user {i}"} for i in range(50)]
    assert render(TemplateSource("s", None, template), {"users": users}).text


def test_a_bomb_in_a_preview_is_a_422_template_error(client, admin):
    """Black-box, as in the review: lipsum and unbounded recursion answer 422 within seconds."""
    for text in (BOMBS["lipsum"], BOMBS["unbounded_recursion"], BOMBS["tilde_doubling"]):
        assert client.put("/v1/templates/dos", json={"subject": "s", "text": text}, headers=admin).status_code in (
            200, 201)
        started = time.monotonic()
        response = client.post("/v1/templates/dos/preview", json={}, headers=admin)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["code"] == "template_error"
        assert time.monotonic() - started < 15.0


def test_a_bomb_in_a_message_is_a_422_template_error(client, admin):
    """POST /v1/messages with such a template stores and sends nothing."""
    client.put("/v1/templates/dos", json={"subject": "s", "text": BOMBS["center"]}, headers=admin)
    response = client.post("/v1/messages", json={"to": ["ann@example.com"], "template": "dos"}, headers=admin)
    assert response.status_code == 422 and response.get_json()["code"] == "template_error"
    assert client.get("/v1/messages", headers=admin).get_json()["total"] == 0
