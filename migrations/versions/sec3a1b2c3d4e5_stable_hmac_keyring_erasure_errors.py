"""stable HMAC keyring (sealed, survives SECRETS_KEY rotation); erasures.last_error

Revision ID: sec3a1b2c3d4e5
Revises: a7d2c4e9f031
Create Date: 2026-12-06 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from mailer.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'sec3a1b2c3d4e5'
down_revision = 'a7d2c4e9f031'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'hmac_keyring',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('sealed', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    with op.batch_alter_table('erasures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('erasures', schema=None) as batch_op:
        batch_op.drop_column('last_error')
    op.drop_table('hmac_keyring')
