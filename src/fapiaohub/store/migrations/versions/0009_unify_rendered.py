"""Unify reads from stored bytes: invoice.entity_rendered, the entity form of listed invoices.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

invoice.entity_rendered holds the unify entity form (one element of a batch's `invoices` list)
of the invoices that unify batches list, written by pushes and kept true by the invoice writer
and reverts (store/entities.py). unify_forms_version: numbers those writers
bump in the same transaction (a row per taxpayer and direction, which only the holder of that
writer lock bumps), under whose sum API processes cache rendered batches.

The backfill renders the invoices listed before this revision. Rendering is the live code's
(shapes/entity_form.py), which a migration may not import (tests/store/test_migrations.py):
the code that runs the migrations hands its renderer over as the alembic config attribute
``render_entities`` (store.engine.alembic_config), a function of the connection that renders,
500 rows per statement, the listed rows that have no form. Without it (alembic run by hand) the
rows stay NULL, which readers render from the document: slower, never wrong.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("entity_rendered", sa.Text, nullable=True))
    op.create_table(
        "unify_forms_version",
        sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id", name="fk_unify_forms_version_corp_id_corporation"),
                  nullable=False),
        sa.Column("taxpayer_id", sa.Integer, sa.ForeignKey("taxpayer.id", name="fk_unify_forms_version_taxpayer_id_taxpayer"),
                  nullable=False),
        sa.Column("direction", sa.String(2), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "taxpayer_id", "direction", name="pk_unify_forms_version"),
    )
    config = op.get_context().config
    render = config.attributes.get("render_entities") if config is not None else None
    if render is not None:
        render(op.get_bind())


def downgrade() -> None:
    op.drop_table("unify_forms_version")
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("entity_rendered")
