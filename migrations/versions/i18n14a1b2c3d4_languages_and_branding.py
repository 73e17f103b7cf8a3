"""Languages and branding (API.md §14): users.locale, the tenant's default_locale and branding, the
language a sign-up, a message and a broadcast copy were asked in, template language variants

Revision ID: i18n14a1b2c3d4
Revises: sec3a1b2c3d4e5
Create Date: 2026-12-06 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i18n14a1b2c3d4'
down_revision = 'sec3a1b2c3d4e5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_locale', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('brand_color', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('logo_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('postal_address', sa.String(length=500), nullable=True))
    with op.batch_alter_table('auth_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
    with op.batch_alter_table('broadcast_contents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variants', sa.JSON(), nullable=True))
    op.create_table(
        'template_variants',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('locale', sa.String(length=8), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('html', sa.Text(), nullable=True),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'name', 'locale', name='uq_template_variants_tenant_name_locale'),
    )


def downgrade():
    op.drop_table('template_variants')
    with op.batch_alter_table('broadcast_contents', schema=None) as batch_op:
        batch_op.drop_column('variants')
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('auth_requests', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('postal_address')
        batch_op.drop_column('logo_url')
        batch_op.drop_column('brand_color')
        batch_op.drop_column('default_locale')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
