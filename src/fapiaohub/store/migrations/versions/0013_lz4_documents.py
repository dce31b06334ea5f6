"""On PostgreSQL, the invoices' stored texts are compressed with lz4 instead of pglz.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08

An invoice's row (its document, collection item and entity record: about 3 KB) is over the 2 KB
toast threshold, so PostgreSQL compresses it at every write. With pglz that took about a second of
the server's CPU for the 65,520 invoices of a 200,000-line import, with lz4 half of it, for sizes
within 4% (docs/performance.md); lz4 also decompresses faster. Values written before keep pglz
until they are written again: PostgreSQL reads both. A server older than 14, or built without lz4
(it is a build option), keeps pglz and this revision changes nothing there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = (("invoice", "doc"), ("invoice", "rendered"), ("invoice", "entity_rendered"), ("invoice_history", "doc"))


def _has_lz4() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    # no row before PostgreSQL 14; lz4 among the values only when the server was built with it
    return bool(bind.execute(sa.text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")).scalar())


def _set_compression(method: str) -> None:
    if _has_lz4():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
