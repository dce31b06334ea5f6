"""Trust: taxpayers' collection channel, who inserted an invoice, and what a revert needs.

Revision ID: 0007
Revises: 0006 (to be re-chained after 0006 by the lead)
Create Date: 2026-12-01

taxpayer.channel: how a task without a `source` collects (files | upstream | sandbox); sandbox
only for taxpayers an operator marked, because the sandbox bureau invents invoices.
invoice.created_by_task: the task that inserted the row, so that reverting the task deletes it.
invoice_history.flags: the flags of the replaced state, so that a revert restores them too.
collection_task.reverted_by: the revert task that undid this task (a task is reverted once).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("taxpayer") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False, server_default="files"))
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("created_by_task", sa.String(32), nullable=True))
    with op.batch_alter_table("invoice_history") as batch:
        batch.add_column(sa.Column("flags", sa.Text, nullable=True))
    with op.batch_alter_table("collection_task") as batch:
        batch.add_column(sa.Column("reverted_by", sa.String(32), nullable=True))
    op.create_index("ix_invoice_created_by_task", "invoice", ["created_by_task"])
    op.create_index("ix_invoice_history_task_id", "invoice_history", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_invoice_history_task_id", "invoice_history")
    op.drop_index("ix_invoice_created_by_task", "invoice")
    with op.batch_alter_table("collection_task") as batch:
        batch.drop_column("reverted_by")
    with op.batch_alter_table("invoice_history") as batch:
        batch.drop_column("flags")
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("created_by_task")
    with op.batch_alter_table("taxpayer") as batch:
        batch.drop_column("channel")
