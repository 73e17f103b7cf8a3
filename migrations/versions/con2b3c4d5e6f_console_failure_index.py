"""console overview: a tenant's failed and bounced recipients, newest first (the latest failures, suppressed counts)

Revision ID: con2b3c4d5e6f
Revises: con1a2b3c4d5e
Create Date: 2026-12-06 03:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'con2b3c4d5e6f'
down_revision = 'con1a2b3c4d5e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_recipients_tenant_failed', 'recipients', ['tenant_id', 'created_at'],
                    postgresql_where=sa.text("status IN ('failed', 'bounced')"),
                    sqlite_where=sa.text("status IN ('failed', 'bounced')"))


def downgrade():
    op.drop_index('ix_recipients_tenant_failed', table_name='recipients')
