"""Which of the tenant's messages a caller sees: one rule for lists and reads, one for stats.

The difference is the contract (API.md §4): an API key lists and reads only the messages it
created, but its stats count the whole tenant's, as an admin's do.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from mailer.models import Message, Role
from mailer.security.types import Principal


def readable_by(principal: Principal) -> tuple[ColumnElement[bool], ...]:
    """Admins read the tenant's messages; users and API keys the ones they created."""
    return () if principal.role == Role.ADMIN else (Message.created_by == principal.id,)


def counted_for(principal: Principal) -> tuple[ColumnElement[bool], ...]:
    """Stats: admins and API keys count the tenant's messages; users what they sent themselves."""
    return () if principal.role in (Role.ADMIN, Role.SERVICE) else (Message.created_by == principal.id,)
