"""Initial schema: corporations, apps and tokens, taxpayers, invoices and their months.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types as they were when this revision was written (frozen: editing tables.py must never change an
# old revision). Money: NUMERIC(18,2), integer cents on SQLite; ids: BIGINT, INTEGER on SQLite.
Money = sa.Numeric(18, 2).with_variant(sa.BigInteger(), "sqlite")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "corporation",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_corporation"),
    )
    op.create_table(
        "api_app",
        sa.Column("app_key", sa.String(64), nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("app_key", name="pk_api_app"),
        sa.ForeignKeyConstraint(["corp_id"], ["corporation.id"], name="fk_api_app_corp_id_corporation"),
    )
    op.create_index("ix_api_app_corp_id", "api_app", ["corp_id"])
    op.create_table(
        "access_token",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("refresh_hash", sa.String(64), nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_access_token"),
        sa.UniqueConstraint("refresh_hash", name="uq_access_token_refresh_hash"),
        sa.ForeignKeyConstraint(
            ["corp_id"], ["corporation.id"], name="fk_access_token_corp_id_corporation"
        ),
    )
    op.create_index("ix_access_token_corp_id", "access_token", ["corp_id"])
    op.create_table(
        "taxpayer",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("nsrsbh", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("collection_enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_taxpayer"),
        sa.UniqueConstraint("corp_id", "nsrsbh", name="uq_taxpayer_corp_id_nsrsbh"),
        sa.ForeignKeyConstraint(["corp_id"], ["corporation.id"], name="fk_taxpayer_corp_id_corporation"),
    )
    op.create_table(
        "invoice_month",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("taxpayer_id", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(2), nullable=False),
        sa.Column("fplx", sa.String(4), nullable=False),
        sa.Column("kpyf", sa.Integer, nullable=False),
        sa.Column("invoice_count", sa.Integer, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoice_month"),
        sa.UniqueConstraint(
            "taxpayer_id", "direction", "fplx", "kpyf",
            name="uq_invoice_month_taxpayer_id_direction_fplx_kpyf",
        ),
        sa.ForeignKeyConstraint(
            ["taxpayer_id"], ["taxpayer.id"], name="fk_invoice_month_taxpayer_id_taxpayer"
        ),
    )
    op.create_table(
        "invoice",
        sa.Column("id", BigId, nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("taxpayer_id", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(2), nullable=False),
        sa.Column("invoice_key", sa.String(64), nullable=False),
        sa.Column("fplx", sa.String(4), nullable=False),
        sa.Column("fpdm", sa.String(12), nullable=False),
        sa.Column("fphm", sa.String(32), nullable=False),
        sa.Column("kprq", sa.DateTime, nullable=False),
        sa.Column("kpyf", sa.Integer, nullable=False),
        sa.Column("xfsbh", sa.String(20), nullable=False),
        sa.Column("xfmc", sa.String(200), nullable=False),
        sa.Column("gfsbh", sa.String(20), nullable=False),
        sa.Column("gfmc", sa.String(200), nullable=False),
        sa.Column("je", Money, nullable=False),
        sa.Column("se", Money, nullable=False),
        sa.Column("jshj", Money, nullable=False),
        sa.Column("fpzt_dm", sa.String(2), nullable=False),
        sa.Column("month_id", sa.Integer, nullable=False),
        sa.Column("pos", sa.Integer, nullable=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("rendered", sa.Text, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invoice"),
        sa.UniqueConstraint(
            "taxpayer_id", "direction", "invoice_key",
            name="uq_invoice_taxpayer_id_direction_invoice_key",
        ),
        sa.ForeignKeyConstraint(["corp_id"], ["corporation.id"], name="fk_invoice_corp_id_corporation"),
        sa.ForeignKeyConstraint(["taxpayer_id"], ["taxpayer.id"], name="fk_invoice_taxpayer_id_taxpayer"),
        sa.ForeignKeyConstraint(
            ["month_id"], ["invoice_month.id"], name="fk_invoice_month_id_invoice_month"
        ),
    )
    op.create_index("ix_invoice_month_id_pos", "invoice", ["month_id", "pos"])


def downgrade() -> None:
    for table in ("invoice", "invoice_month", "taxpayer", "access_token", "api_app", "corporation"):
        op.drop_table(table)
