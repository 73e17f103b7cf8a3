"""Per-recipient mail of a broadcast: its frozen template rendered for one recipient, then built.

A broadcast stores no wire form (raw_mime None), only a frozen copy of its template source, its
language variants and data (BroadcastContent). A copy is rendered from the variant of its recipient's
language (`recipients.locale`, API.md §14), else the template itself, in that language, and wrapped in
the built-in broadcast layout (mail/layout.py, rendered once per broadcast and language).
Workers call `render_broadcast_mail` (through mail/per_recipient.py) for each
recipient; one that cannot be rendered fails alone (`invalid_message`) and never stops the others. The broadcast service
(mailer.notifications.broadcast_service) builds the first recipient's mail with `build_mail` as a probe.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from babel.support import NullTranslations
from flask import current_app

from mailer.config import Config
from mailer.domains.signing import Signer, find_signer, sign_wire
from mailer.extensions import db
from mailer.i18n import catalog, rendered_in
from mailer.mail.compose import sender_of
from mailer.mail.copy_wire import Skeleton, make_skeleton
from mailer.mail.layout import Layout
from mailer.mail.recipient_free import is_recipient_free, subject_is_recipient_free
from mailer.mail.recipient_tokens import unsubscribe_link
from mailer.mail.rendering import translated_by
from mailer.mail.templates import (
    Rendered,
    TemplateRenderError,
    TemplateSource,
    as_builtin,
    reader_locale,
    render,
    render_untrusted_many,
    tenant_context,
)
from mailer.models import BroadcastContent, Message, Recipient, Tenant
from mailer.smtp.mime import Address, MessageContent, build_message, message_id_domain
from mailer.smtp.validation import MessageValidationError, check_display_name, check_size, check_subject
from mailer.smtp.wire import message_bytes

log = logging.getLogger(__name__)
MAX_SUBJECT_COLUMN = 998


class RecipientRenderError(Exception):
    """This recipient's mail cannot be built (template, size, or an account mail's account is gone); it fails alone."""


PROBE_UNSUBSCRIBE_URL = "https://unsubscribe.invalid/probe"


# Skeletons outlive a claim's CopyMaker (one per broadcast and language in a process, not one per claim of
# ~20 rows): a skeleton is built from four whole copies.
MAX_SKELETONS = 256
_skeletons: dict[tuple[Any, ...], Skeleton | None] = {}


@dataclass(frozen=True)
class Member:
    email: str
    name: str
    locale: str | None = None  # None: the tenant's default language


def context_for(tenant: Tenant, data: dict[str, Any], email: str, name: str) -> dict[str, Any]:
    """What a broadcast template sees: its data (also as `data`), `recipient` and `tenant`."""
    return {**data, "data": data, "recipient": {"email": email, "name": name},
            **tenant_context(tenant)}


@dataclass(frozen=True)
class CopyMaker:
    """What every copy of one broadcast shares, looked up once: the frozen source, its language variants and
    data, the tenant's context, default language and sender, the signing key, and the layout of each language
    met so far. ``build`` renders and builds one recipient's copy (unsigned)."""

    config: Config
    source: TemplateSource
    data: dict[str, Any]
    context: dict[str, Any]
    sender: Address
    signer: Signer | None = None
    variants: dict[str, TemplateSource] = field(default_factory=dict)
    default_locale: str = "en"
    layouts: dict[str, Layout] = field(default_factory=dict)
    spliced: bool = False
    skeletons: dict[str, Skeleton | None] = field(default_factory=dict)
    alike: dict[str, Rendered] = field(default_factory=dict)  # per language, when not rendered per copy
    subjects: dict[str, str] = field(default_factory=dict)  # per language, when the subject alone renders alike
    made: dict[tuple[str, str, str], Rendered | TemplateRenderError] = field(default_factory=dict)  # prerender's
    catalogs: dict[str, NullTranslations] = field(default_factory=dict)  # per language, looked up once

    @classmethod
    def of(cls, config: Config, tenant: Tenant, sender: str, source: TemplateSource, data: dict[str, Any],
           signer: Signer | None = None, variants: dict[str, TemplateSource] | None = None,
           *, spliced: bool = False) -> CopyMaker:
        context = {**data, "data": data, **tenant_context(tenant)}
        return cls(config, as_builtin(source), data, context, Address(sender, sender_of(tenant, config).name),
                   signer, dict(variants or {}), reader_locale(config, tenant, None), spliced=spliced)

    def layout(self, locale: str) -> Layout:
        if locale not in self.layouts:
            self.layouts[locale] = Layout.render(self.context, locale)
        return self.layouts[locale]

    def build(self, member: Member, message_id: str, headers: tuple[tuple[str, str], ...] = (),
              unsubscribe_url: str = PROBE_UNSUBSCRIBE_URL) -> bytes:
        """Render and build one recipient's mail. Raises TemplateRenderError or MessageValidationError.

        With ``spliced``, the copy is written from its language's skeleton (mail/copy_wire.py) when it can be."""
        locale = member.locale or self.default_locale
        to = Address(member.email, _header_name(member.name))
        subject, text, html = self.render(locale, member.email, member.name, unsubscribe_url)
        skeleton = self.skeleton(locale, message_id, headers, unsubscribe_url) if self.spliced else None
        wire = None if skeleton is None else skeleton.copy(to, message_id, headers, unsubscribe_url, subject, text,
                                                           html)
        if wire is None:
            content = MessageContent(sender=self.sender, to=(to,), subject=subject, text=text, html=html,
                                     headers=headers)
            wire = message_bytes(content, message_id=message_id)
        check_size(wire, self.config.MAX_MESSAGE_BYTES)
        return wire

    def render(self, locale: str, email: str, name: str, unsubscribe_url: str) -> tuple[str, str, str]:
        """(subject, text, html) of one recipient's copy, in the layout."""
        rendered = self.alike.get(locale) or self.rendered(locale, email, name)
        html, text = self.layout(locale).wrap(rendered, unsubscribe_url)
        return rendered.subject, text, html

    def rendered(self, locale: str, email: str, name: str) -> Rendered:
        """The template rendered for one recipient; kept for the language when it renders alike for all."""
        made = self.made.pop((locale, email, name), None)
        source = self.variants.get(locale, self.source)
        alike = made is None and is_recipient_free(source)
        if isinstance(made, TemplateRenderError):
            raise made
        if made is None:
            if locale not in self.catalogs:
                self.catalogs[locale] = catalog(locale)
            with translated_by(self.catalogs[locale]):  # as rendered_in(locale), without entering it per copy
                made = render(source, self.context if alike else self.recipient_context(email, name),
                              subject=self.subjects.get(locale))
        if locale not in self.subjects:  # a kept subject was checked when it was kept
            check_subject(made.subject)
            if subject_is_recipient_free(source):
                self.subjects[locale] = made.subject
        if alike:
            self.alike[locale] = made
        return made

    def recipient_context(self, email: str, name: str) -> dict[str, Any]:
        return {**self.context, "recipient": {"email": email, "name": name}}

    def prerender(self, members: list[Member]) -> None:
        """Render in advance, in one round trip per language to the render child, the copies of ``members``
        whose template a tenant wrote and names the recipient (a claim's copies); ``build`` takes them."""
        by_locale: dict[str, list[Member]] = defaultdict(list)
        for member in members:
            by_locale[member.locale or self.default_locale].append(member)
        for locale, group in by_locale.items():
            source = self.variants.get(locale, self.source)
            if len(group) < 2 or source.trusted or is_recipient_free(source):
                continue
            with rendered_in(locale):
                answers = render_untrusted_many(source, [self.recipient_context(m.email, m.name) for m in group])
            self.made.update(((locale, member.email, member.name), answer)
                             for member, answer in zip(group, answers, strict=True) if answer is not None)

    def skeleton(self, locale: str, message_id: str, headers: tuple[tuple[str, str], ...],
                 unsubscribe_url: str) -> Skeleton | None:
        """The language's skeleton, made from its first copy's values; None when its copies are built whole."""
        if locale not in self.skeletons:
            token = unsubscribe_url.rpartition("/")[2]
            # What the skeleton's bytes hold besides the copy's own values, all checked again per copy.
            key = (locale, self.sender, message_id[1 + 32:], unsubscribe_url[:-len(token) or None],
                   tuple((name, value.replace(token, "")) for name, value in headers))
            if key in _skeletons:
                self.skeletons[locale] = _skeletons[key]
                return self.skeletons[locale]

            def probe(to: Address, message_id: str, headers: tuple[tuple[str, str], ...], url: str) -> EmailMessage:
                subject, text, html = self.render(locale, to.email, to.name, url)
                return build_message(MessageContent(sender=self.sender, to=(to,), subject=subject, text=text,
                                                    html=html, headers=headers), message_id=message_id)

            if len(_skeletons) >= MAX_SKELETONS:
                _skeletons.clear()
            self.skeletons[locale] = _skeletons[key] = make_skeleton(probe, message_id, headers, unsubscribe_url)
        return self.skeletons[locale]

    def signed(self, wire: bytes) -> bytes:
        return wire if self.signer is None else sign_wire(self.signer, wire)


def _header_name(name: str) -> str:
    try:
        return check_display_name(name, field="name")
    except MessageValidationError:
        return ""  # a display name we cannot put in a header is dropped, not fatal


def build_mail(
    config: Config, tenant: Tenant, sender: str, source: TemplateSource, data: dict[str, Any],
    member: Member, message_id: str, headers: tuple[tuple[str, str], ...] = (),
    variants: dict[str, TemplateSource] | None = None,
) -> bytes:
    """Render and build one recipient's mail. Raises TemplateRenderError or MessageValidationError."""
    return CopyMaker.of(config, tenant, sender, source, data, variants=variants).build(member, message_id, headers)


def frozen_variants(content: BroadcastContent) -> dict[str, TemplateSource]:
    """A broadcast's frozen language variants, as template sources."""
    return {locale: TemplateSource(part["subject"], part.get("html"), part.get("text"))
            for locale, part in (content.variants or {}).items()}


def recipient_message_id(message: Message, recipient_id: uuid.UUID) -> str:
    """Stable per recipient, so a retried copy carries the same Message-ID."""
    return f"<{recipient_id.hex}.{message.id.hex[:12]}@{message_id_domain(message.sender)}>"


# One CopyMaker per loaded Message object: a delivery run loads its rows' messages once, so the
# content, tenant and key are looked up once a claim (not once a copy), and a later claim (new
# objects) sees a rotated key or a changed tenant name.
_makers: weakref.WeakKeyDictionary[Message, CopyMaker | None] = weakref.WeakKeyDictionary()


def _maker(message: Message) -> CopyMaker | None:
    if message in _makers:
        return _makers[message]
    config: Config = current_app.config["MAILER"]
    content = db.session.get(BroadcastContent, message.id)
    tenant = db.session.get(Tenant, message.tenant_id)
    maker = None
    if content is not None and tenant is not None:
        source = TemplateSource(content.subject, content.html, content.text)
        maker = CopyMaker.of(config, tenant, message.sender, source, content.data,
                             find_signer(config, tenant.id, message.sender), frozen_variants(content), spliced=True)
    _makers[message] = maker
    return maker


def prerender_broadcast(message: Message, recipients: list[Recipient]) -> None:
    """Render these recipients' copies together where their template is rendered per copy in the child."""
    maker = _maker(message)
    if maker is None:
        return
    try:
        maker.prerender([Member(r.email, r.name, r.locale) for r in recipients])
    except Exception:  # an optimisation only: each copy is then rendered alone, and fails alone
        log.exception("could not render a broadcast's copies together")


def render_broadcast_mail(message: Message, recipient: Recipient) -> tuple[bytes, str]:
    """(wire bytes, Message-ID) of one broadcast recipient's mail; RecipientRenderError if it cannot be built."""
    maker = _maker(message)
    if maker is None:
        raise RecipientRenderError("the broadcast's content is missing")
    message_id = recipient_message_id(message, recipient.id)
    try:
        url, headers = unsubscribe_link(maker.config, recipient.id)
        wire = maker.build(Member(recipient.email, recipient.name, recipient.locale), message_id, headers, url)
    except Exception as exc:  # building touches no database or queue: any failure is this mail's, for good
        raise RecipientRenderError(str(exc) or type(exc).__name__) from None
    return maker.signed(wire), message_id
