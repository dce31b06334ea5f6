"""The schema, as SQLAlchemy Core tables; migrations/ creates exactly this (a test compares them)."""

from __future__ import annotations

import sys
from array import array
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Money(sa.TypeDecorator[Decimal]):
    """Exact money: NUMERIC(18,2) on PostgreSQL; integer cents on SQLite, which has no decimal type
    and would otherwise round-trip amounts through binary floats."""

    impl = sa.Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        cents = value.scaleb(2)
        if cents != cents.to_integral_value():
            raise ValueError(f"amount {value} has more than two decimal places")
        return int(cents)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None or dialect.name != "sqlite":
            return value
        return Decimal(value).scaleb(-2)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A moment, always read back aware and in UTC: timestamptz on PostgreSQL; on SQLite, which
    keeps no time zone, written as naive UTC and read back with UTC attached. Every timestamp
    column is one, so no reader has to guess what a naive value means."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value} has no time zone: fapiaohub writes moments in UTC")
        return value.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ItemOffsets(sa.TypeDecorator[list[int]]):
    """Byte offsets of the items in a page chunk: int[] on PostgreSQL, which slices chunks by them
    in SQL; on SQLite, which has no arrays, little-endian 32-bit integers in a blob."""

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.Integer()))
        return dialect.type_descriptor(sa.LargeBinary())

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        packed = array("I", value)
        if sys.byteorder == "big":
            packed.byteswap()
        return packed.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> list[int] | None:
        if value is None or dialect.name == "postgresql":
            return value
        packed = array("I", bytes(value))
        if sys.byteorder == "big":
            packed.byteswap()
        return packed.tolist()


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs BIGINT for millions of rows.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = UtcDateTime()

corporation = sa.Table(
    "corporation",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the API's corpId / corporationId
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# appKey/appSecurity pairs; the secret is stored as its SHA-256 only.
api_app = sa.Table(
    "api_app",
    metadata,
    sa.Column("app_key", sa.String(64), primary_key=True),
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False, index=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# Issued tokens, stored as SHA-256 hashes; a refresh deletes the row and inserts a new pair.
access_token = sa.Table(
    "access_token",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("refresh_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False, index=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # epoch ms, as the API reports it
    sa.Column("created_at", Timestamp, nullable=False),
)

taxpayer = sa.Table(
    "taxpayer",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False),
    sa.Column("nsrsbh", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("collection_enabled", sa.Boolean, nullable=False),  # 增值税发票全量采集 switched on
    # how a task without a `source` collects: files | upstream | sandbox (sandbox invents invoices:
    # only for taxpayers an operator marked, `fapiaohub taxpayer channel`)
    sa.Column("channel", sa.String(16), nullable=False, server_default="files"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("corp_id", "nsrsbh"),
)

# One row per (taxpayer, direction, fplx, kpyf): the unit a collection page is drawn from. It keeps
# the count (so totalCount costs no COUNT(*)) and is the lock writers take to renumber positions.
invoice_month = sa.Table(
    "invoice_month",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("taxpayer_id", sa.Integer, sa.ForeignKey("taxpayer.id"), nullable=False),
    sa.Column("direction", sa.String(2), nullable=False),
    sa.Column("fplx", sa.String(4), nullable=False),
    sa.Column("kpyf", sa.Integer, nullable=False),
    sa.Column("invoice_count", sa.Integer, nullable=False),
    # the sums of its invoices' amounts, kept with the count: the console's overview and totals (0012)
    sa.Column("je", Money, nullable=False, server_default="0"),
    sa.Column("se", Money, nullable=False, server_default="0"),
    sa.Column("jshj", Money, nullable=False, server_default="0"),
    # +1 on every renumbering: API processes cache rendered pages under (month id, version)
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    # the version month_chunk was last brought up to (None: never): pages are cut from the chunks
    # only when it is the month's version, else read item by item (0008)
    sa.Column("chunk_version", sa.Integer, nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("taxpayer_id", "direction", "fplx", "kpyf"),
)

# A month's rendered items pre-joined, CHUNK_ITEMS (100) consecutive positions a row: chunk n holds
# positions 100n+1 .. 100n+100, their items joined by commas, and each item's byte offset in it, so
# that a page of any size and start is cut from at most two chunks. Rebuilt by the writer that
# renumbers the month, in the same transaction (store/months.py). Kept uncompressed and out of line
# on PostgreSQL (STORAGE EXTERNAL, 0008) so that a slice reads only the toast chunks it needs.
month_chunk = sa.Table(
    "month_chunk",
    metadata,
    sa.Column("month_id", sa.Integer, sa.ForeignKey("invoice_month.id"), primary_key=True),
    sa.Column("chunk_no", sa.Integer, primary_key=True),
    sa.Column("joined", sa.LargeBinary, nullable=False),  # the items, comma-joined UTF-8 JSON
    sa.Column("offsets", ItemOffsets(), nullable=False),
)

invoice = sa.Table(
    "invoice",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False),
    sa.Column("taxpayer_id", sa.Integer, sa.ForeignKey("taxpayer.id"), nullable=False),
    sa.Column("direction", sa.String(2), nullable=False),  # jx: taxpayer is the buyer; xx: the seller
    sa.Column("invoice_key", sa.String(64), nullable=False),  # 数电 number, or 发票代码:发票号码
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
    sa.Column("month_id", sa.Integer, sa.ForeignKey("invoice_month.id"), nullable=False),
    # 1-based rank within its month in (kprq, invoice_key) order: pages are ranges of pos
    sa.Column("pos", sa.Integer, nullable=True),
    sa.Column("doc", sa.Text, nullable=False),  # the canonical Invoice as JSON (Invoice.to_doc)
    # the collection item JSON, rendered on write; kept inline on PostgreSQL (STORAGE MAIN, 0004)
    sa.Column("rendered", sa.Text, nullable=False),
    sa.Column("flags", sa.Text, nullable=False),  # JSON list of soft validation findings
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # the unify entity form (a batch's `invoices` element), for invoices batches list (store.entities)
    sa.Column("entity_rendered", sa.Text, nullable=True),
    # the task that inserted the row (None: a unify push or a bulk load): reverting it deletes the row
    sa.Column("created_by_task", sa.String(32), nullable=True, index=True),
    sa.UniqueConstraint("taxpayer_id", "direction", "invoice_key"),
    sa.Index(None, "month_id", "pos"),
    # the console ledger's keyset paging, over a corporation and over one taxpayer's direction (0005)
    sa.Index(None, "corp_id", "kprq", "id"),
    sa.Index(None, "taxpayer_id", "direction", "kprq", "id"),
    # its counterparty prefix in date order (0008): per direction (partial), the counterparty's name
    # or 税号 compared by code point (COLLATE "C" on PostgreSQL, SQLite's default), then (kprq, id)
    *(sa.Index(f"ix_invoice_ledger_{side}_{key}", "taxpayer_id", column, "kprq", "id",
               postgresql_ops={column: 'COLLATE "C"'}, postgresql_where=sa.text(f"direction = '{direction}'"),
               sqlite_where=sa.text(f"direction = '{direction}'"))
      for side, direction, prefix in (("seller", "jx", "xf"), ("buyer", "xx", "gf"))
      for key, column in (("name", f"{prefix}mc"), ("id", f"{prefix}sbh"))),
    # and its sort by 价税合计 over a corporation (0008)
    sa.Index(None, "corp_id", "jshj", "id"),
)

# 统一开票方: a platform (travel agency, taxi, airline, railway) that invoices a corporation in
# batches. last_batch_time is the high-water mark writers lock to hand out batch updateTimes.
unify_corporation = sa.Table(
    "unify_corporation",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # unifyInvoiceCorporationId
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),  # the platform's own code, e.g. its tax id
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("name_spell", sa.String(400), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("create_time", sa.BigInteger, nullable=False),  # epoch ms, as on the wire
    sa.Column("update_time", sa.BigInteger, nullable=False),
    sa.Column("last_batch_time", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("corp_id", "code"),
)

unify_batch = sa.Table(
    "unify_batch",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False),
    sa.Column("unify_corp_id", sa.String(32), sa.ForeignKey("unify_corporation.id"), nullable=False),
    sa.Column("batch_no", sa.String(64), nullable=False),
    sa.Column("period", sa.String(32), nullable=True),  # masterBillPeriods
    sa.Column("relations", sa.Text, nullable=False),  # JSON list of {flowId, flowCode, feeDetailId, …}
    sa.Column("create_time", sa.BigInteger, nullable=False),
    # strictly increasing per unify corporation: the cursor of GET /invoice/unify
    sa.Column("update_time", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("unify_corp_id", "batch_no"),
    sa.UniqueConstraint("unify_corp_id", "update_time"),
)

# Bumped by every write that changes invoices some unify batch lists, in its transaction and per
# taxpayer and direction, as writers lock (store.entities.refresh_listed). API processes cache
# rendered batches under the sum of a corporation's rows (unify.batch_cache).
unify_forms_version = sa.Table(
    "unify_forms_version",
    metadata,
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), primary_key=True),
    sa.Column("taxpayer_id", sa.Integer, sa.ForeignKey("taxpayer.id"), primary_key=True),
    sa.Column("direction", sa.String(2), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

unify_batch_invoice = sa.Table(
    "unify_batch_invoice",
    metadata,
    sa.Column("batch_id", sa.String(32), sa.ForeignKey("unify_batch.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("invoice_id", BigId, sa.ForeignKey("invoice.id"), nullable=False, index=True),
)

# 发票归集任务: the task table is the queue. Workers claim a row by setting a lease (owner and
# expiry) and extend it while they work; a row whose lease expired is claimed again.
collection_task = sa.Table(
    "collection_task",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False),
    sa.Column("taxpayer_id", sa.Integer, sa.ForeignKey("taxpayer.id"), nullable=False),
    sa.Column("direction", sa.String(2), nullable=False),
    sa.Column("kpyf", sa.Integer, nullable=True),  # None: a file import, months from the files
    sa.Column("fplx", sa.String(4), nullable=True),  # None: every kind
    sa.Column("source", sa.String(16), nullable=False),  # sandbox | files | upstream
    sa.Column("options", sa.Text, nullable=False),  # JSON: source settings (upstream URL, keys …)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("code", sa.String(8), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),  # passed over on purpose
    sa.Column("rejections", sa.Text, nullable=False),  # JSON list, the first REJECTIONS_KEPT (all: task_record)
    sa.Column("months", sa.Text, nullable=False),  # JSON list of kpyf the task wrote
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Column("reverted_by", sa.String(32), nullable=True),  # the task (source "revert") that undid this one
    sa.Index(None, "state", "created_at"),
    sa.Index(None, "taxpayer_id", "state"),
)

task_file = sa.Table(
    "task_file",
    metadata,
    sa.Column("task_id", sa.String(32), sa.ForeignKey("collection_task.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),  # the uploaded name, for messages
    sa.Column("path", sa.Text, nullable=False),  # where the worker reads it
    sa.Column("size", sa.BigInteger, nullable=False),
    # once the file is stored (0011, tasks/known_files.py): its digest, the code that read it, the
    # state of the taxpayer's months of the task's direction right after, and what it counted
    sa.Column("sha256", sa.String(64), nullable=True, index=True),
    sa.Column("reader", sa.String(64), nullable=True),
    sa.Column("months_after", sa.Text, nullable=True),
    sa.Column("written", sa.Integer, nullable=True),
    sa.Column("rejected", sa.Integer, nullable=True),
    sa.Column("skipped", sa.Integer, nullable=True),
)

# Every rejected or skipped record of a task, in the order met (collection_task keeps the first few).
task_record = sa.Table(
    "task_record",
    metadata,
    sa.Column("task_id", sa.String(32), sa.ForeignKey("collection_task.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # rejected | skipped
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("sheet", sa.Text, nullable=True),
    sa.Column("row", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
)

# Earlier states of invoices a later collection changed (e.g. 正常 → 作废): what was, and when.
invoice_history = sa.Table(
    "invoice_history",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("invoice_id", BigId, sa.ForeignKey("invoice.id"), nullable=False, index=True),
    sa.Column("fpzt_dm", sa.String(2), nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
    sa.Column("replaced_at", Timestamp, nullable=False),
    sa.Column("task_id", sa.String(32), nullable=True, index=True),  # the task that replaced it
    sa.Column("flags", sa.Text, nullable=True),  # the replaced state's flags (None: recorded before 0007)
)

# The sandbox tax bureau's behaviour per taxpayer: end tasks with this result code (None: succeed).
sandbox_behaviour = sa.Table(
    "sandbox_behaviour",
    metadata,
    sa.Column("taxpayer_id", sa.Integer, sa.ForeignKey("taxpayer.id"), primary_key=True),
    sa.Column("fail_code", sa.String(8), nullable=True),
    sa.Column("invoices_per_month", sa.Integer, nullable=False),
)

# People who sign in to the console (not API keys): role admin | viewer; argon2 password hashes.
# failed_attempts and locked_until implement the back-off after repeated failed sign-ins.
console_user = sa.Table(
    "console_user",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("corp_id", sa.String(32), sa.ForeignKey("corporation.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("failed_attempts", sa.Integer, nullable=False),
    sa.Column("locked_until", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("corp_id", "name"),
)

# Server-side console sessions: the cookie holds a random token, stored here as its SHA-256.
console_session = sa.Table(
    "console_session",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("console_user.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # epoch seconds
    sa.Column("created_at", Timestamp, nullable=False),
)
