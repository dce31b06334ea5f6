"""Console users and their sessions, and the indexes the console's ledger pages on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

console_user: people (not API keys) who sign in to /console; the password is an argon2 hash.
console_session: server-side sessions, so sign-out and `user disable` end them at once; the
cookie carries a random token whose SHA-256 is the key, and the CSRF token lives beside it.
The two invoice indexes serve the ledger's keyset paging in (kprq, id) order over a whole
corporation and over one taxpayer's direction.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("corp_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_user"),
        sa.ForeignKeyConstraint(["corp_id"], ["corporation.id"], name="fk_console_user_corp_id_corporation"),
        sa.UniqueConstraint("corp_id", "name", name="uq_console_user_corp_id_name"),
    )
    op.create_table(
        "console_session",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_console_session"),
        sa.ForeignKeyConstraint(["user_id"], ["console_user.id"], name="fk_console_session_user_id_console_user"),
    )
    op.create_index("ix_console_session_user_id", "console_session", ["user_id"])
    op.create_index("ix_invoice_corp_id_kprq_id", "invoice", ["corp_id", "kprq", "id"])
    op.create_index("ix_invoice_taxpayer_id_direction_kprq_id", "invoice", ["taxpayer_id", "direction", "kprq", "id"])


def downgrade() -> None:
    op.drop_index("ix_invoice_taxpayer_id_direction_kprq_id", "invoice")
    op.drop_index("ix_invoice_corp_id_kprq_id", "invoice")
    op.drop_table("console_session")
    op.drop_table("console_user")
