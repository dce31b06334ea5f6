"""Every rejected or skipped record of a task, kept in full; a task's count of skipped records.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

collection_task.rejections keeps the first 200 for the status answer; task_record keeps them all
(and the records passed over on purpose: sheets not understood, rows of other months), so that
`fapiaohub task show` and the task API can list every one later.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("collection_task", sa.Column("skipped", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "task_record",
        sa.Column("task_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),  # rejected | skipped
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("sheet", sa.Text, nullable=True),
        sa.Column("row", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("task_id", "seq", name="pk_task_record"),
        sa.ForeignKeyConstraint(["task_id"], ["collection_task.id"], name="fk_task_record_task_id_collection_task"),
    )


def downgrade() -> None:
    op.drop_table("task_record")
    op.drop_column("collection_task", "skipped")
