"""The schema: migrations create exactly the tables the code uses, money is stored exactly, and what a
migration backfills is what the writer keeps."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from fapiaohub.auth.service import create_tenant
from fapiaohub.demo.generator import demo_taxpayers, generate_taxpayer_month
from fapiaohub.store.engine import alembic_config, make_engine, normalise_url, upgrade
from fapiaohub.store.invoices import store_invoices
from fapiaohub.store.tables import Money, invoice_month, metadata
from fapiaohub.store.taxpayers import add_taxpayer
from tests.conftest import scratch_postgres


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_upgrade_is_idempotent_and_downgrade_round_trips(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'round.db'}")
    upgrade(engine)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    upgrade(engine)
    assert {"invoice", "invoice_month", "taxpayer", "corporation"} <= set(sa.inspect(engine).get_table_names())


def test_plain_postgresql_urls_use_psycopg3() -> None:
    assert normalise_url("postgresql://u@h:5432/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("amount", ["0.00", "896.00", "-103.08", "99999999999.99", "0.01"])
def test_money_round_trips_exactly(engine: Engine, amount: str) -> None:
    table = sa.Table("money_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("amount", Money))
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
        conn.execute(sa.delete(table))
        conn.execute(sa.insert(table).values(id=1, amount=Decimal(amount)))
        stored = conn.execute(sa.select(table.c.amount)).scalar_one()
        table.drop(conn)
    assert isinstance(stored, Decimal)
    assert stored == Decimal(amount)
    assert f"{stored:.2f}" == amount


def test_money_refuses_fractions_of_a_cent_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    table = sa.Table("m", sa.MetaData(), sa.Column("amount", Money))
    with engine.begin() as conn:
        table.create(conn)
        with pytest.raises(sa.exc.StatementError, match="more than two decimal places"):
            conn.execute(sa.insert(table).values(amount=Decimal("1.005")))



def test_migrations_use_no_live_types() -> None:
    """An old revision must create what it created when it was written: it may not import
    fapiaohub (tables.py changes; a migration that borrowed its types would change with it)."""
    versions = Path(__file__).resolve().parents[2] / "src" / "fapiaohub" / "store" / "migrations" / "versions"
    borrowing = [path.name for path in versions.glob("*.py") if "from fapiaohub" in path.read_text(encoding="utf-8")
                 or "import fapiaohub" in path.read_text(encoding="utf-8")]
    assert versions.is_dir()
    assert borrowing == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0012_backfills_each_months_sums_as_the_writer_keeps_them(kind: str, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'sums.db'}" if kind == "sqlite" else stack.enter_context(
            scratch_postgres("fapiaohub_sums", "PostgreSQL is not reachable: 0012 ran on SQLite only"))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine)
        with engine.begin() as conn:
            corp = create_tenant(conn, "月合计迁移测试企业")
            own = demo_taxpayers()[0]
            tp = add_taxpayer(conn, corp.corp_id, own.nsrsbh, own.name)
            store_invoices(conn, tp, "jx", [*generate_taxpayer_month(own.nsrsbh, own.name, "jx", 202405, 40),
                                            *generate_taxpayer_month(own.nsrsbh, own.name, "jx", 202406, 30)])
        query = sa.select(invoice_month.c.id, invoice_month.c.je, invoice_month.c.se, invoice_month.c.jshj) \
            .order_by(invoice_month.c.id)
        with engine.connect() as conn:
            kept = conn.execute(query).all()
        assert len(kept) >= 2
        assert all(je > 0 and jshj >= je for _, je, _, jshj in kept)
        command.downgrade(alembic_config(engine), "0011")
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(query).all() == kept


def test_0013_compresses_invoice_documents_with_lz4_on_postgresql() -> None:
    with scratch_postgres("fapiaohub_lz4", "PostgreSQL is not reachable: 0013 changes nothing on SQLite") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            with engine.connect() as conn:
                if not conn.execute(sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                                            " WHERE name = 'default_toast_compression'")).scalar():
                    pytest.skip("this PostgreSQL server was built without lz4: 0013 leaves pglz")
            with engine.begin() as conn:
                corp = create_tenant(conn, "压缩迁移测试企业")
                own = demo_taxpayers()[0]
                tp = add_taxpayer(conn, corp.corp_id, own.nsrsbh, own.name)
                store_invoices(conn, tp, "jx", generate_taxpayer_month(own.nsrsbh, own.name, "jx", 202405, 40))
            methods = sa.text("SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'invoice'::regclass"
                              " AND attname IN ('doc', 'rendered', 'entity_rendered') ORDER BY attname")
            with engine.connect() as conn:
                assert conn.execute(methods).all() == [("doc", "l"), ("entity_rendered", "l"), ("rendered", "l")]
                # the invoices just stored: every document the server compressed, it compressed with lz4
                used = conn.execute(sa.text("SELECT DISTINCT pg_column_compression(doc) FROM invoice"
                                            " WHERE pg_column_compression(doc) IS NOT NULL")).scalars().all()
                assert used == ["lz4"]
            command.downgrade(alembic_config(engine), "0012")
            with engine.connect() as conn:
                assert {method for _, method in conn.execute(methods)} == {""}
                assert conn.execute(sa.text("SELECT count(*) FROM invoice")).scalar() > 0  # values stay readable
        finally:
            engine.dispose()
