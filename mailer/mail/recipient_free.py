"""Whether a broadcast's template renders the same for every recipient, decided from its source alone.

A copy's context differs between recipients only in `recipient` (personalize.context_for); a template that
never names it, and uses no filter whose output differs from one call to the next, renders alike for all of
them, so a broadcast renders it once per language instead of once per copy. The decision reads the parsed
template (Jinja's own list of the names it takes from its context), never renders anything.
"""

from __future__ import annotations

import functools

from jinja2 import TemplateError, meta, nodes

from mailer.mail.rendering import _ENVIRONMENTS, TemplateSource

PER_RECIPIENT_NAMES = frozenset({"recipient"})
# Rendered once, `random` would pick one value for everyone instead of one per copy.
UNSTABLE_FILTERS = frozenset({"random"})


def is_recipient_free(source: TemplateSource) -> bool:
    """True when no part of ``source`` can render differently for two recipients of the same broadcast."""
    return all(_part_is_recipient_free(text, html) for text, html in
               ((source.subject, False), (source.html, True), (source.text, False)) if text is not None)


def subject_is_recipient_free(source: TemplateSource) -> bool:
    """True when ``source``'s subject renders the same for every recipient of the same broadcast."""
    return _part_is_recipient_free(source.subject, False)


@functools.lru_cache(maxsize=256)
def _part_is_recipient_free(text: str, html: bool) -> bool:
    try:
        tree = _ENVIRONMENTS[html].parse(text)
    except TemplateError:
        return False  # rendered per copy, which reports the error as it always has
    if meta.find_undeclared_variables(tree) & PER_RECIPIENT_NAMES:
        return False
    return not any(node.name in UNSTABLE_FILTERS for node in tree.find_all(nodes.Filter))
