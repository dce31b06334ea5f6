"""Each invoice month keeps the sums of its invoices' 金额, 税额 and 价税合计 beside its count.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

The console's overview and its ledger's totals line summed every invoice of the months they show
(1.1 s for a corporation of a million invoices); the months' own sums, kept by the statement that
keeps their counts (store.months), answer the same from a row per month. Backfilled here from the
invoices, in the stored representation of money on either database (integer cents on SQLite).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Money = sa.Numeric(18, 2).with_variant(sa.BigInteger(), "sqlite")
SUMS = ("je", "se", "jshj")


def upgrade() -> None:
    for name in SUMS:
        op.add_column("invoice_month", sa.Column(name, Money, nullable=False, server_default="0"))
    op.execute(
        "UPDATE invoice_month SET (je, se, jshj) = (SELECT coalesce(sum(invoice.je), 0), coalesce(sum(invoice.se), 0),"
        " coalesce(sum(invoice.jshj), 0) FROM invoice WHERE invoice.month_id = invoice_month.id)"
    )


def downgrade() -> None:
    # plain ALTER TABLE, SQLite's too (3.35 and later): a batch copy of the table would break the
    # foreign keys that point at invoice_month
    for name in reversed(SUMS):
        op.drop_column("invoice_month", name)
