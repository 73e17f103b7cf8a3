"""daily quota counters: tenants and users keep the day's accepted recipients (quota_day, quota_used)

Revision ID: f2b7c9d4e1a8
Revises: c5a1e0f7b2d4
Create Date: 2026-12-02 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2b7c9d4e1a8'
down_revision = 'c5a1e0f7b2d4'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('tenants', 'users'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('quota_day', sa.Date(), nullable=True))
            batch_op.add_column(sa.Column('quota_used', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    for table in ('users', 'tenants'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('quota_used')
            batch_op.drop_column('quota_day')
