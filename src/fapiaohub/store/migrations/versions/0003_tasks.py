"""Collection tasks (the queue), uploaded files, invoice history, sandbox behaviour.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Types as they were when this revision was written (frozen: editing tables.py must never change an
# old revision). Money: NUMERIC(18,2), integer cents on SQLite; ids: BIGINT, INTEGER on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "collection_task",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("taxpayer_id", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(2), nullable=False),
        sa.Column("kpyf", sa.Integer, nullable=True),
        sa.Column("fplx", sa.String(4), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("code", sa.String(8), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("inserted", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("rejections", sa.Text, nullable=False),
        sa.Column("months", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=True),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_collection_task"),
        sa.ForeignKeyConstraint(
            ["corp_id"], ["corporation.id"], name="fk_collection_task_corp_id_corporation"
        ),
        sa.ForeignKeyConstraint(
            ["taxpayer_id"], ["taxpayer.id"], name="fk_collection_task_taxpayer_id_taxpayer"
        ),
    )
    op.create_index("ix_collection_task_state_created_at", "collection_task", ["state", "created_at"])
    op.create_index("ix_collection_task_taxpayer_id_state", "collection_task", ["taxpayer_id", "state"])
    op.create_table(
        "task_file",
        sa.Column("task_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("task_id", "seq", name="pk_task_file"),
        sa.ForeignKeyConstraint(
            ["task_id"], ["collection_task.id"], name="fk_task_file_task_id_collection_task"
        ),
    )
    op.create_table(
        "invoice_history",
        sa.Column("id", BigId, nullable=False),
        sa.Column("invoice_id", BigId, nullable=False),
        sa.Column("fpzt_dm", sa.String(2), nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("replaced_at", Timestamp, nullable=False),
        sa.Column("task_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invoice_history"),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name="fk_invoice_history_invoice_id_invoice"
        ),
    )
    op.create_index("ix_invoice_history_invoice_id", "invoice_history", ["invoice_id"])
    op.create_table(
        "sandbox_behaviour",
        sa.Column("taxpayer_id", sa.Integer, nullable=False),
        sa.Column("fail_code", sa.String(8), nullable=True),
        sa.Column("invoices_per_month", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("taxpayer_id", name="pk_sandbox_behaviour"),
        sa.ForeignKeyConstraint(
            ["taxpayer_id"], ["taxpayer.id"], name="fk_sandbox_behaviour_taxpayer_id_taxpayer"
        ),
    )


def downgrade() -> None:
    for table in ("sandbox_behaviour", "invoice_history", "task_file", "collection_task"):
        op.drop_table(table)
