"""batch, search, retention, erasure (API.md §11): search indexes, tenant retention_days,
hourly stats of purged mail, erasure requests

Revision ID: c5a1e0f7b2d4
Revises: cd37ca3ba814
Create Date: 2026-12-01 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5a1e0f7b2d4'
down_revision = 'cd37ca3ba814'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_tenant_creator_created', ['tenant_id', 'created_by', 'created_at'],
                              unique=False)
    op.create_index('ix_recipients_tenant_email', 'recipients', ['tenant_id', sa.text('lower(email)')], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # ?subject= is a substring match: trigram GIN makes ILIKE '%…%' an index search, not a scan.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute('CREATE INDEX ix_messages_subject_trgm ON messages USING gin (lower(subject) gin_trgm_ops)')

    op.create_table('delivery_stats',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_delivery_stats_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_stats'))
    )
    with op.batch_alter_table('delivery_stats', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_stats_tenant_period', ['tenant_id', 'period_start'], unique=False)

    op.create_table('erasures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('digest', sa.String(length=80), nullable=False),
    sa.Column('sealed_address', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_erasures_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures'))
    )
    with op.batch_alter_table('erasures', schema=None) as batch_op:
        batch_op.create_index('ix_erasures_status', ['status'], unique=False)


def downgrade():
    op.drop_table('erasures')
    op.drop_table('delivery_stats')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_messages_subject_trgm')
    op.drop_index('ix_recipients_tenant_email', table_name='recipients')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_tenant_creator_created')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('retention_days')
