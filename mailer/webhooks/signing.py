"""Secrets and signatures per Standard Webhooks, with the `standardwebhooks` library (never by hand).

A secret is `whsec_` + base64 of 32 random bytes; it is shown once and stored sealed under SECRETS_KEY.
After a rotation the previous secret signs too until its expiry (24 h): the `webhook-signature`
header then carries two space-separated `v1,<base64>` signatures, and a receiver holding either
secret verifies with the library unchanged.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_BYTES = 32
PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signature_header(secrets_in_use: Sequence[str], webhook_id: str, at: datetime, body: str) -> str:
    """The `webhook-signature` value: one signature per secret, newest first."""
    return " ".join(Webhook(secret).sign(webhook_id, at, body) for secret in secrets_in_use)


def signed_headers(secrets_in_use: Sequence[str], webhook_id: str, at: datetime, body: str) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature_header(secrets_in_use, webhook_id, at, body),
        "Content-Type": "application/json",
    }
