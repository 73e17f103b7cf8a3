"""The HMAC keys that must keep verifying across a SECRETS_KEY rotation (review N7, API.md §6).

SECRETS_KEY is for encryption and rotates: an old key may be dropped once ``secrets rotate`` has
re-encrypted every sealed value. What is MAC'd with a key, not encrypted, cannot be re-encrypted: the
audit chain (every past event), address digests (an erased address's suppression: the address is gone,
its digest cannot be recomputed) and feedback tokens (return paths and unsubscribe links in mail already
delivered). So those keys do not derive from the Fernet keys in use: they are one set, generated once
and kept in the database (table ``hmac_keyring``) sealed under SECRETS_KEY and bound to their row, so
``secrets rotate`` re-encrypts them like any other secret and they never change.

API.md §7 names no setting for them, so the stable source is that row. When it is first needed it is
derived from the oldest listed SECRETS_KEY (during a rotation, the one existing data was MAC'd with),
giving exactly the keys the service used before the keyring existed: chains, digests and tokens made
before an upgrade keep verifying, with no data rewritten.
While older keys stay listed, values MAC'd under them (before the keyring existed) are also accepted
(``legacy_*``); once they are dropped only the keyring counts. Holding the keyring row needs
SECRETS_KEY to read; a database writer alone learns nothing from it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from mailer.config import Config
from mailer.models import HmacKeyring
from mailer.security.secret_box import secret_box

ROW = "stable-hmac-v1"
CONTEXT = f"hmac_keyring.sealed:{ROW}"  # as security.sealed.context_for gives it
AUDIT_LABEL = b"mailer audit chain v1"
TOKEN_LABEL = b"mailer feedback token v1"
DIGEST_CONTEXT = b"mailer address digest v1:"
_EXTENSION = "mailer_stable_keys"
# Outside an app context (the inbound receiver's SMTP thread): by database and keys.
_detached: dict[tuple[str, tuple[str, ...]], StableKeys] = {}


@dataclass(frozen=True)
class StableKeys:
    audit: bytes  # HMAC key of the audit chain
    digest: bytes  # HMAC key of address digests
    token: bytes  # HMAC key of feedback (return-path, unsubscribe) tokens


def legacy_audit_key(fernet_key: str) -> bytes:
    return hmac.new(fernet_key.encode(), AUDIT_LABEL, hashlib.sha256).digest()


def legacy_token_key(fernet_key: str) -> bytes:
    return hmac.new(fernet_key.encode("ascii"), TOKEN_LABEL, hashlib.sha256).digest()


def legacy_digest_key(fernet_key: str) -> bytes:
    # The digest used to be keyed with DIGEST_CONTEXT + the Fernet key (69 bytes). HMAC hashes a key longer
    # than SHA-256's 64-byte block, so this hash is the same key, without the Fernet key in it.
    material = DIGEST_CONTEXT + fernet_key.encode("ascii")
    return hashlib.sha256(material).digest() if len(material) > 64 else material


def _derived(fernet_key: str) -> StableKeys:
    return StableKeys(legacy_audit_key(fernet_key), legacy_digest_key(fernet_key), legacy_token_key(fernet_key))


def _encode(keys: StableKeys) -> str:
    return json.dumps({"audit": keys.audit.hex(), "digest": keys.digest.hex(), "token": keys.token.hex()})


def _decode(text: str) -> StableKeys:
    values = json.loads(text)
    return StableKeys(bytes.fromhex(values["audit"]), bytes.fromhex(values["digest"]), bytes.fromhex(values["token"]))


def stable_keys(config: Config | None = None) -> StableKeys:
    """The service's stable HMAC keys (created on first use). Raises SecretUnreadableError when the keyring
    row cannot be opened with SECRETS_KEY (a key dropped before ``secrets rotate`` finished)."""
    if has_app_context():
        config = config or current_app.config["MAILER"]
        cache = current_app.extensions.setdefault(_EXTENSION, {})
        keys = cache.get(config.SECRETS_KEY)
        if keys is None:
            keys = cache[config.SECRETS_KEY] = _load_in_session(config)
        return keys
    assert config is not None, "outside an app context the config must be given"
    slot = (config.DATABASE_URL, config.SECRETS_KEY)
    if slot not in _detached:
        _detached[slot] = _load_detached(config)
    return _detached[slot]


def _load_in_session(config: Config) -> StableKeys:
    from mailer.extensions import db  # noqa: PLC0415 - models import extensions too; kept next to its one use

    box = secret_box(config.SECRETS_KEY)
    row = db.session.get(HmacKeyring, ROW)
    if row is None:
        # Deterministic, so a creation lost to a rollback is made again identically.
        keys = _derived(config.SECRETS_KEY[-1])
        try:
            with db.session.begin_nested():
                db.session.add(HmacKeyring(name=ROW, sealed=box.seal(_encode(keys), context=CONTEXT)))
        except IntegrityError:  # another process made it first: theirs stands
            row = db.session.get(HmacKeyring, ROW, populate_existing=True)
        else:
            return keys
    assert row is not None
    return _decode(box.open(row.sealed, context=CONTEXT))


def _load_detached(config: Config) -> StableKeys:
    if not config.DATABASE_URL:
        raise RuntimeError("the stable HMAC keys live in the database: the config needs its DATABASE_URL")
    engine = create_engine(config.DATABASE_URL, poolclass=NullPool)
    box = secret_box(config.SECRETS_KEY)
    try:
        for _ in range(2):  # a second read when another process made the row between our read and insert
            with engine.begin() as connection:
                sealed = connection.scalar(select(HmacKeyring.sealed).where(HmacKeyring.name == ROW))
                if sealed is not None:
                    return _decode(box.open(sealed, context=CONTEXT))
                keys = _derived(config.SECRETS_KEY[-1])
                try:
                    connection.execute(HmacKeyring.__table__.insert().values(
                        name=ROW, sealed=box.seal(_encode(keys), context=CONTEXT)))
                except IntegrityError:
                    continue
                return keys
        raise RuntimeError("the stable HMAC keyring row could not be read or made")
    finally:
        engine.dispose()


def audit_keys(config: Config) -> list[bytes]:
    """The audit chain's key first, then keys of chains signed before the keyring (while still listed)."""
    return _with_legacy(stable_keys(config).audit, [legacy_audit_key(key) for key in config.SECRETS_KEY])


def digest_keys(config: Config) -> list[bytes]:
    return _with_legacy(stable_keys(config).digest, [legacy_digest_key(key) for key in config.SECRETS_KEY])


def token_keys(config: Config) -> list[bytes]:
    return _with_legacy(stable_keys(config).token, [legacy_token_key(key) for key in config.SECRETS_KEY])


def _with_legacy(current: bytes, legacy: Sequence[bytes]) -> list[bytes]:
    return [current, *(key for key in legacy if key != current)]
