"""tenants.domains_version: bumped by every change to the tenant's sending domains or DKIM keys

Revision ID: a7d2c4e9f031
Revises: a7c3e5f9b1d2
Create Date: 2026-12-02 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7d2c4e9f031'
down_revision = 'a7c3e5f9b1d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('domains_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('domains_version')
