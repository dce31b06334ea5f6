"""What each imported file left behind, so that importing the same file again can be answered
without reading it (tasks/known_files.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

task_file gets the file's SHA-256, the code that read it (a digest of fapiaohub's source), the
state of the taxpayer's months of that direction right after the file was stored, and what the
file counted: written (inserted, updated or unchanged), rejected, skipped. All null for files
imported before, and for a file whose import did not finish.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS: tuple[sa.Column[object], ...] = (
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("reader", sa.String(64), nullable=True),
    sa.Column("months_after", sa.Text, nullable=True),
    sa.Column("written", sa.Integer, nullable=True),
    sa.Column("rejected", sa.Integer, nullable=True),
    sa.Column("skipped", sa.Integer, nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("task_file") as batch:
        for column in COLUMNS:
            batch.add_column(column)
    op.create_index("ix_task_file_sha256", "task_file", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_task_file_sha256", "task_file")
    with op.batch_alter_table("task_file") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
