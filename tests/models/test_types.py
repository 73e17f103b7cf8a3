"""Enum columns (models.types.enum_column) store their members' values, as the rows always held them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from mailer.extensions import db
from mailer.models import Role, User
from tests.helpers import create_tenant


def test_a_member_is_stored_as_its_value_and_read_back_as_the_member(app):
    """A role goes in as a member, lies in the column as its value (not the member's name), and comes out a member."""
    ids = create_tenant(app)
    with app.app_context():
        user = db.session.get(User, uuid.UUID(ids["admin_id"]))
        user.role = Role.USER
        db.session.commit()
        stored = db.session.scalar(text("SELECT role FROM users WHERE email = 'admin@acme.test'"))
        db.session.expire_all()
        read = db.session.scalar(select(User.role).where(User.id == uuid.UUID(ids["admin_id"])))
    assert stored == "user"
    assert read is Role.USER


def test_a_value_written_as_a_plain_string_reads_back_as_the_member(app):
    """Rows written before the enum columns (or by raw SQL) hold the value; the model reads it as the member."""
    create_tenant(app)
    with app.app_context():
        db.session.execute(text("UPDATE users SET role = 'user'"))
        db.session.commit()
        roles = set(db.session.scalars(select(User.role)))
    assert roles == {Role.USER}


def test_a_string_that_is_no_members_value_is_refused(app):
    """A misspelt status never reaches the database: binding it fails before the statement runs."""
    ids = create_tenant(app)
    with app.app_context():
        user = db.session.get(User, uuid.UUID(ids["admin_id"]))
        user.role = "ADMIN"  # the member's name, which SQLAlchemy's Enum would store by default
        with pytest.raises(StatementError, match="is not among the defined enum values"):
            db.session.commit()
