"""inbound reports carry a lease: a job claims a batch of pending reports, and a killed worker's come back
when the lease ends

Revision ID: fb1a2c3d4e5f
Revises: cn2b7e41d9a03
Create Date: 2026-12-06 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fb1a2c3d4e5f'
down_revision = 'cn2b7e41d9a03'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inbound_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('inbound_reports', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
