"""keyed audit chain (HMAC from SECRETS_KEY), tenants.signup_enabled

Revision ID: c4e1a7b9d2f3
Revises: b01df61a1b66
Create Date: 2026-12-01 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e1a7b9d2f3'
down_revision = 'b01df61a1b66'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signup_enabled', sa.Boolean(), server_default=sa.true(), nullable=False))
    _key_existing_chains()


def _key_existing_chains():
    """Re-sign every stored chain with the HMAC key (newest SECRETS_KEY), in its order; heads follow."""
    from flask import current_app

    from mailer.audit import GENESIS, audit_keys, canonical_content, keyed_hash
    from mailer.models.types import UTCDateTime

    events = sa.table(
        'audit_events', sa.column('id', sa.Uuid()), sa.column('tenant_id', sa.Uuid()), sa.column('action'),
        sa.column('actor_id', sa.Uuid()), sa.column('actor_type'), sa.column('ip'), sa.column('at', UTCDateTime()),
        sa.column('details', sa.JSON()), sa.column('seq'), sa.column('prev_hash'), sa.column('hash'),
    )
    tenants = sa.table('tenants', sa.column('id', sa.Uuid()), sa.column('audit_seq'), sa.column('audit_head'))
    bind = op.get_bind()
    rows = bind.execute(sa.select(events).order_by(events.c.tenant_id, events.c.seq)).mappings().all()
    if not rows:
        return
    key = audit_keys(current_app.config["MAILER"].SECRETS_KEY)[0]
    heads = {}
    for row in rows:
        prev = heads.get(row['tenant_id'], (0, GENESIS))[1]
        digest = keyed_hash(canonical_content(
            tenant_id=row['tenant_id'], seq=row['seq'], prev_hash=prev, action=row['action'],
            actor_id=row['actor_id'], actor_type=row['actor_type'], ip=row['ip'], at=row['at'],
            details=row['details'],
        ), key)
        bind.execute(events.update().where(events.c.id == row['id']).values(prev_hash=prev, hash=digest))
        heads[row['tenant_id']] = (row['seq'], digest)
    for tenant_id, (seq, digest) in heads.items():
        bind.execute(tenants.update().where(tenants.c.id == tenant_id).values(audit_seq=seq, audit_head=digest))


def downgrade():
    # The chain stays keyed: an unkeyed re-sign would only make it forgeable again.
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('signup_enabled')
