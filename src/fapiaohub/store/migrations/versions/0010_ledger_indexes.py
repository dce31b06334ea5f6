"""The console ledger's indexes for a counterparty prefix in date order and for the sort by 价税合计.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Per direction (partial indexes: 进项 rows by their seller, 销项 rows by their buyer), the
counterparty's name and its 税号, compared by code point (COLLATE "C" on PostgreSQL, whatever the
database's collation; SQLite compares so by default), then (kprq, id): the ledger reads one range
per matching counterparty and merges them in date order (console.repository.ledger_page). And
(corp_id, jshj, id), the keyset order of the sort by 价税合计.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# (index, counterparty column, direction)
PARTY_INDEXES = (
    ("ix_invoice_ledger_seller_name", "xfmc", "jx"),
    ("ix_invoice_ledger_seller_id", "xfsbh", "jx"),
    ("ix_invoice_ledger_buyer_name", "gfmc", "xx"),
    ("ix_invoice_ledger_buyer_id", "gfsbh", "xx"),
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, column, direction in PARTY_INDEXES:
        collated = f'{column} COLLATE "C"' if postgresql else column
        op.execute(f"CREATE INDEX {name} ON invoice (taxpayer_id, {collated}, kprq, id) "
                   f"WHERE direction = '{direction}'")
    op.create_index("ix_invoice_corp_id_jshj_id", "invoice", ["corp_id", "jshj", "id"])


def downgrade() -> None:
    op.drop_index("ix_invoice_corp_id_jshj_id", "invoice")
    for name, _, _ in reversed(PARTY_INDEXES):
        op.drop_index(name, "invoice")
