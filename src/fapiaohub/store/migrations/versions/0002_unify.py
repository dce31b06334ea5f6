"""Unified invoicing: unify corporations, batches and the invoices of each batch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Types as they were when this revision was written (frozen: editing tables.py must never change an
# old revision). Money: NUMERIC(18,2), integer cents on SQLite; ids: BIGINT, INTEGER on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "unify_corporation",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_spell", sa.String(400), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.Column("last_batch_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_unify_corporation"),
        sa.UniqueConstraint("corp_id", "code", name="uq_unify_corporation_corp_id_code"),
        sa.ForeignKeyConstraint(
            ["corp_id"], ["corporation.id"], name="fk_unify_corporation_corp_id_corporation"
        ),
    )
    op.create_table(
        "unify_batch",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("unify_corp_id", sa.String(32), nullable=False),
        sa.Column("batch_no", sa.String(64), nullable=False),
        sa.Column("period", sa.String(32), nullable=True),
        sa.Column("relations", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_unify_batch"),
        sa.UniqueConstraint("unify_corp_id", "batch_no", name="uq_unify_batch_unify_corp_id_batch_no"),
        sa.UniqueConstraint(
            "unify_corp_id", "update_time", name="uq_unify_batch_unify_corp_id_update_time"
        ),
        sa.ForeignKeyConstraint(["corp_id"], ["corporation.id"], name="fk_unify_batch_corp_id_corporation"),
        sa.ForeignKeyConstraint(
            ["unify_corp_id"], ["unify_corporation.id"],
            name="fk_unify_batch_unify_corp_id_unify_corporation",
        ),
    )
    op.create_table(
        "unify_batch_invoice",
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("invoice_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "seq", name="pk_unify_batch_invoice"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["unify_batch.id"], name="fk_unify_batch_invoice_batch_id_unify_batch"
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name="fk_unify_batch_invoice_invoice_id_invoice"
        ),
    )
    op.create_index("ix_unify_batch_invoice_invoice_id", "unify_batch_invoice", ["invoice_id"])


def downgrade() -> None:
    for table in ("unify_batch_invoice", "unify_batch", "unify_corporation"):
        op.drop_table(table)
