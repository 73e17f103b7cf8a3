"""console indexes: a tenant's failed and bounced recipients, newest first (the overview's latest failures and
suppressed counts); on PostgreSQL, a trigram index on the tags' text for ?tag= (a rare tag no longer scans the
tenant's messages)

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
    if op.get_bind().dialect.name == 'postgresql':
        # The expression of notifications.search.tag_filter: CAST(tags AS VARCHAR) LIKE '%"tag"%'.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute('CREATE INDEX ix_messages_tags_trgm ON messages USING gin ((CAST(tags AS VARCHAR)) gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_messages_tags_trgm')
    op.drop_index('ix_recipients_tenant_failed', table_name='recipients')
