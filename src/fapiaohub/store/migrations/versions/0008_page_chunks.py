"""Page chunks: each month's rendered items stored pre-joined, a hundred positions a row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

month_chunk holds, for chunk n of a month, the collection items at positions 100n+1 .. 100n+100
joined by commas, with each item's byte offset: a page of any size is cut from one or two chunks
instead of read as up to a hundred index and heap fetches (docs/performance.md).
invoice_month.chunk_version is the month version the chunks were last built for; readers cut pages
from chunks only when it equals the month's version and read items row by row otherwise.

On PostgreSQL the chunks are built here for every month (about a minute per million invoices) and
kept uncompressed out of line (STORAGE EXTERNAL), so that substring() of a chunk fetches only the
toast chunks the slice covers. On SQLite they are left unbuilt: months are read item by item until
a write next settles them.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# PostgreSQL: int[]; SQLite: the offsets packed as 32-bit little-endian integers in a blob
ItemOffsets = sa.LargeBinary().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql")

# the items of every settled month, grouped a hundred positions a chunk; offsets are each item's
# first byte (its running end less its own length and comma)
_BACKFILL = """
INSERT INTO month_chunk (month_id, chunk_no, joined, offsets)
SELECT month_id, chunk_no, string_agg(item, convert_to(',', 'UTF8') ORDER BY pos),
       array_agg((ends - octet_length(item) - 1)::int ORDER BY pos)
FROM (
    SELECT month_id, chunk_no, pos, item,
           sum(octet_length(item) + 1) OVER (PARTITION BY month_id, chunk_no ORDER BY pos) AS ends
    FROM (SELECT month_id, (pos - 1) / 100 AS chunk_no, pos, convert_to(rendered, 'UTF8') AS item
          FROM invoice WHERE pos IS NOT NULL) AS positioned
) AS items
GROUP BY month_id, chunk_no
"""


def upgrade() -> None:
    with op.batch_alter_table("invoice_month") as batch:
        batch.add_column(sa.Column("chunk_version", sa.Integer, nullable=True))
    op.create_table(
        "month_chunk",
        sa.Column("month_id", sa.Integer, nullable=False),
        sa.Column("chunk_no", sa.Integer, nullable=False),
        sa.Column("joined", sa.LargeBinary, nullable=False),
        sa.Column("offsets", ItemOffsets, nullable=False),
        sa.ForeignKeyConstraint(["month_id"], ["invoice_month.id"], name="fk_month_chunk_month_id_invoice_month"),
        sa.PrimaryKeyConstraint("month_id", "chunk_no", name="pk_month_chunk"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE month_chunk ALTER COLUMN joined SET STORAGE EXTERNAL")
        op.execute(_BACKFILL)
        # only months whose every invoice has its position (all of them, outside a bulk load)
        op.execute(
            "UPDATE invoice_month m SET chunk_version = m.version WHERE NOT EXISTS"
            " (SELECT 1 FROM invoice i WHERE i.month_id = m.id AND i.pos IS NULL)"
        )
        op.execute("DELETE FROM month_chunk c USING invoice_month m WHERE m.id = c.month_id AND m.chunk_version IS NULL")
        op.execute("ANALYZE month_chunk")


def downgrade() -> None:
    op.drop_table("month_chunk")
    with op.batch_alter_table("invoice_month") as batch:
        batch.drop_column("chunk_version")
