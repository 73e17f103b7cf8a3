"""DKIM signing (dkimpy, rsa-sha256, relaxed/relaxed) of mail whose From is on a verified tenant domain.

Called where the wire bytes are built: once per composed message, once per recipient where the
content differs (broadcasts). The signature is the message's first header; nothing after signing
may re-encode or reorder the message (the SMTP client sends the bytes as they are).

The header is the one dkimpy's DKIM.sign writes: dkimpy folds the tag list (and parses a message that is not
all CRLF lines), mailer/domains/relaxed.py canonicalizes as dkimpy does, and the RSA step is OpenSSL's
(cryptography): dkimpy's pure-Python modular exponentiation costs ~17 ms per 2048-bit signature, which would
make signing, not SMTP, the limit of a broadcast (bench/signing.py).

The signer of a (tenant, sender domain) is looked up once per process and kept with the tenant's
``domains_version``, which every change to its domains and keys raises in the same transaction
(domains/service.py). A lookup reads the tenant row the session already has (loaded with the caller's
credentials in a request: no query) and reuses the signer only while the version matches, so a
deleted, failed or rotated domain stops signing at the next request of every process, and in a
worker at its next transaction (the session reloads the tenant row after a commit).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import select

from mailer.config import Config
from mailer.domains.names import domain_of
from mailer.domains.relaxed import Field, header_fields, relaxed_body, relaxed_value, signed_part
from mailer.domains.versioned import AsOfVersion
from mailer.extensions import db
from mailer.models import DkimKey, RecordStatus, SendingDomain, Tenant
from mailer.security.sealed import open_value
from mailer.security.secret_box import SecretUnreadableError

log = logging.getLogger(__name__)

# The headers receivers check, signed when present; From once more, so that no second From can be added.
SIGNED_HEADERS = (
    "from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type", "reply-to",
    "list-unsubscribe", "list-unsubscribe-post",
)
_SIGNED = tuple(name.encode("ascii") for name in SIGNED_HEADERS)
_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)
_HEADER = b"DKIM-Signature"


@dataclass(frozen=True)
class Signer:
    domain: str
    selector: str
    private_pem: bytes = field(repr=False)

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return _loaded(self.private_pem)


@functools.lru_cache(maxsize=256)
def _loaded(pem: bytes) -> rsa.RSAPrivateKey:
    """The key parsed once per PEM (a rotated or re-made Signer with the same key finds it here too)."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _signature(signer: Signer, fields: list[Field], body: bytes, include: list[bytes]) -> bytes:
    """The DKIM-Signature header (rsa-sha256, relaxed/relaxed) as dkimpy's DKIM.sign writes it, its RSA step
    OpenSSL's with the key parsed once per key (dkimpy parses the PEM in pure Python on every call)."""
    domain = signer.domain.encode("ascii")
    tags = [
        (b"v", b"1"), (b"a", b"rsa-sha256"), (b"c", b"relaxed/relaxed"), (b"d", domain), (b"i", b"@" + domain),
        (b"q", b"dns/txt"), (b"s", signer.selector.encode("ascii")), (b"t", str(int(time.time())).encode("ascii")),
        (b"h", b" : ".join(include)),
        (b"bh", base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())),
        (b"b", b"0" * 60),  # dkimpy's placeholder: b= folds onto its own line
    ]
    value = dkim.fold(b"; ".join(b"=".join(x) for x in tags), namelen=len(_HEADER), linesep=b"\r\n")
    # The signed fields, then this header with an empty b= and no CRLF (RFC 6376 §3.7), hashed in one call.
    signed = signed_part(fields, include) + b"dkim-signature:" + relaxed_value(dkim.RE_BTAG.sub(b"\\1", value))
    signature = signer.private_key.sign(hashlib.sha256(signed).digest(), padding.PKCS1v15(),
                                        Prehashed(hashes.SHA256()))
    tags[-1] = (b"b", base64.b64encode(signature))
    value = b"; ".join(b"=".join(x) for x in tags) + b"\r\n"
    return _HEADER + b": " + dkim.fold(value, namelen=len(_HEADER), linesep=b"\r\n")  # type: ignore[no-any-return]


_signers: AsOfVersion[tuple[uuid.UUID, str], Signer | None] = AsOfVersion()  # (tenant id, domain) → its signer


def find_signer(config: Config, tenant_id: uuid.UUID, sender: str, version: int | None = None) -> Signer | None:
    """The newest verified key of the tenant's verified domain equal to the sender's, if any (kept while the
    tenant's domains_version and SECRETS_KEY stay the same). ``version``: that version as the caller read it in its
    transaction, else it is the identity map's Tenant's."""
    domain = domain_of(sender)
    if version is None:
        tenant = db.session.get(Tenant, tenant_id)  # the identity map's row in a request: no query
        version = tenant.domains_version if tenant is not None else -1
    return _signers.get((tenant_id, domain), (version, config.SECRETS_KEY),
                        lambda: _lookup_signer(config, tenant_id, domain))


def _lookup_signer(config: Config, tenant_id: uuid.UUID, domain: str) -> Signer | None:
    row = db.session.execute(
        select(DkimKey.id, DkimKey.selector, DkimKey.private_key_sealed)
        .join(SendingDomain, SendingDomain.id == DkimKey.domain_id)
        .where(SendingDomain.tenant_id == tenant_id, SendingDomain.name == domain,
               SendingDomain.status == RecordStatus.VERIFIED, DkimKey.status == RecordStatus.VERIFIED)
        .order_by(DkimKey.created_at.desc()).limit(1)
    ).first()
    if row is None:
        return None
    try:
        pem = _opened(config, row.id, row.private_key_sealed)
    except SecretUnreadableError:
        log.error("a DKIM key cannot be decrypted with SECRETS_KEY; mail goes unsigned",
                  extra={"dkim_key_id": str(row.id)})
        return None
    return Signer(domain, row.selector, pem)


@functools.lru_cache(maxsize=256)
def _opened(config: Config, key_id: uuid.UUID, sealed: str) -> bytes:
    return open_value(config, DkimKey.private_key_sealed, key_id, sealed).encode("ascii")


def signed_headers(wire: bytes) -> list[bytes]:
    """The SIGNED_HEADERS present in the message's header block, in that order, and From twice."""
    head = wire.split(b"\r\n\r\n", 1)[0]
    return _included({name.lower() for name in _HEADER_NAME.findall(head)})


def _included(present: set[bytes]) -> list[bytes]:
    """The SIGNED_HEADERS among the lower-cased field names ``present``, in that order, and From twice."""
    return [*(name for name in _SIGNED if name in present), b"from"]


def sign_wire(signer: Signer, wire: bytes) -> bytes:
    head, blank, body = wire.partition(b"\r\n\r\n")
    # Only the header block is parsed when every line ends in CRLF: the body is then the bytes after the first
    # blank line, as dkimpy's own parse gives it.
    crlf = blank and not wire.startswith(b"\r\n") and wire.count(b"\n") == wire.count(b"\r\n")
    fields = header_fields(head) if crlf else None
    if fields is None:
        headers, body = dkim.rfc822_parse(wire)
        fields = [(name, value) for name, value in headers]
    return _signature(signer, fields, body, _included({name.lower() for name, _ in fields})) + wire


def dkim_sign(config: Config, tenant_id: uuid.UUID, sender: str, wire: bytes, version: int | None = None) -> bytes:
    """``wire`` with a DKIM-Signature when the sender's domain is a verified domain of the tenant, else as is
    (``version``: find_signer's)."""
    signer = find_signer(config, tenant_id, sender, version)
    return wire if signer is None else sign_wire(signer, wire)
