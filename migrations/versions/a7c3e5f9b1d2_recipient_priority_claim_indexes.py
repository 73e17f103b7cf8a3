"""recipient priority and claim indexes: recipients.priority (copied from messages.queue), two partial
indexes that make the delivery loop's claim an index range scan instead of a join and sort of every due row,
and one of unfinished rows by message for the roll-up

Revision ID: a7c3e5f9b1d2
Revises: f2b7c9d4e1a8
Create Date: 2026-12-02 02:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e5f9b1d2'
down_revision = 'f2b7c9d4e1a8'
branch_labels = None
depends_on = None

WAITING = sa.text("status IN ('queued', 'deferred')")
LEASED = sa.text("status = 'sending'")
OPEN = sa.text("status IN ('queued', 'deferred', 'sending')")


def upgrade():
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.SmallInteger(), server_default=sa.text('1'), nullable=False))
    # Same mapping as mailer.models.message.QUEUE_PRIORITY (a migration must not import the app).
    op.execute(
        "UPDATE recipients SET priority = CASE (SELECT queue FROM messages WHERE messages.id = recipients.message_id)"
        " WHEN 'critical' THEN 0 WHEN 'default' THEN 1 ELSE 2 END"
    )
    op.create_index('ix_recipients_tenant_waiting', 'recipients', ['tenant_id', 'priority', 'created_at', 'position'],
                    unique=False, postgresql_where=WAITING, sqlite_where=WAITING)
    op.create_index('ix_recipients_tenant_leased', 'recipients', ['tenant_id', 'lease_until'],
                    unique=False, postgresql_where=LEASED, sqlite_where=LEASED)
    op.create_index('ix_recipients_message_open', 'recipients', ['message_id'],
                    unique=False, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade():
    op.drop_index('ix_recipients_message_open', table_name='recipients')
    op.drop_index('ix_recipients_tenant_leased', table_name='recipients')
    op.drop_index('ix_recipients_tenant_waiting', table_name='recipients')
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.drop_column('priority')
