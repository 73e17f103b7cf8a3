"""a partial index of a tenant's broadcasts, newest first: the console's broadcast list stays an index range
scan however many other messages the tenant has

Revision ID: cn2b7e41d9a03
Revises: con2b3c4d5e6f
Create Date: 2026-12-06 03:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'cn2b7e41d9a03'
down_revision = 'con2b3c4d5e6f'
branch_labels = None
depends_on = None

BROADCASTS = sa.text("kind = 'broadcast'")


def upgrade():
    op.create_index('ix_messages_tenant_broadcasts', 'messages', ['tenant_id', 'created_at'], unique=False,
                    postgresql_where=BROADCASTS, sqlite_where=BROADCASTS)


def downgrade():
    op.drop_index('ix_messages_tenant_broadcasts', table_name='messages')
