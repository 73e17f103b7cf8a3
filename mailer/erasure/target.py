"""Who and what an erasure is about, and the tenant's messages to that address."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, select

from mailer.models import UNFINISHED, Message, Recipient


@dataclass(frozen=True)
class Target:
    tenant_id: uuid.UUID
    address: str  # lower-cased
    digest: str  # what it becomes
    digests: tuple[str, ...]  # every digest it may already be stored as (key rotation)

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.address, *self.digests)


Eraser = Callable[[Target], int]
Remainder = Callable[[Target], int]


def tenant_messages(target: Target, *, finished: bool) -> Select[tuple[uuid.UUID]]:
    """Every message of the tenant, finished or still being delivered."""
    unfinished = exists().where(Recipient.message_id == Message.id, Recipient.status.in_(UNFINISHED))
    return select(Message.id).where(Message.tenant_id == target.tenant_id, ~unfinished if finished else unfinished)


def messages_to(target: Target, *, finished: bool) -> Select[tuple[uuid.UUID]]:
    """The tenant's messages to the address (already erased or not), finished or still being delivered."""
    unfinished = exists().where(Recipient.message_id == Message.id, Recipient.status.in_(UNFINISHED))
    to_address = select(Recipient.message_id).where(
        Recipient.tenant_id == target.tenant_id, func.lower(Recipient.email).in_(target.forms)
    )
    return select(Message.id).where(Message.tenant_id == target.tenant_id, Message.id.in_(to_address),
                                    ~unfinished if finished else unfinished)
