"""Exports from the local store: xlsx that fapiaohub imports back, csv, jsonl; the export command."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.engine import Engine

from fapiaohub.domain.invoice import Invoice
from fapiaohub.exports import export, local_invoices, months
from fapiaohub.importers.base import Parsed
from fapiaohub.importers.bureau_xlsx import read_bureau_export
from tests.conftest import Seeded


def stored(seeded: Seeded, nsrsbh: str, direction: str) -> list[Invoice]:
    return sorted(seeded.invoices[(nsrsbh, direction)], key=lambda i: (i.kpyf, i.kprq, i.key))


def bureau_fields(inv: Invoice) -> tuple:
    lines = tuple((l.mc, l.je, l.se, l.slv.normalize(), l.spbm, l.ggxh, l.sl, l.jldw, l.dj) for l in inv.lines)
    return (inv.key, inv.fplx, inv.kprq, inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, inv.je, inv.se, inv.jshj,
            inv.fpzt_dm, inv.kpr, inv.bz, lines)


def test_months() -> None:
    assert months(202411, 202502) == [202411, 202412, 202501, 202502]
    assert months(202503, 202503) == [202503]


@pytest.mark.parametrize("direction", ["jx", "xx"])
def test_xlsx_export_imports_back_as_the_same_invoices(seeded: Seeded, engine: Engine, tmp_path: Path,
                                                      direction: str) -> None:
    nsrsbh = next(iter(seeded.taxpayers))
    out = tmp_path / "export.xlsx"
    count = export(local_invoices(engine, seeded.tenant.corp_id, nsrsbh, direction, 202501, 202512), "xlsx", out)
    expected = stored(seeded, nsrsbh, direction)
    assert count == len(expected)
    records = list(read_bureau_export(out))
    assert all(isinstance(r, Parsed) for r in records), [r for r in records if not isinstance(r, Parsed)][:3]
    assert [bureau_fields(r.invoice) for r in records] == [bureau_fields(inv) for inv in expected]
    book = openpyxl.load_workbook(out, read_only=False)
    assert book.sheetnames[:2] == ["信息汇总表", "发票基础信息"]
    header = [c.value for c in book["发票基础信息"][1]]
    amount = book["发票基础信息"].cell(row=2, column=header.index("价税合计") + 1)
    assert isinstance(amount.value, (int, float))
    assert amount.number_format == "0.00"


def test_csv_and_jsonl(seeded: Seeded, engine: Engine, tmp_path: Path) -> None:
    nsrsbh = next(iter(seeded.taxpayers))
    expected = stored(seeded, nsrsbh, "jx")
    export(local_invoices(engine, seeded.tenant.corp_id, nsrsbh, "jx", 202501, 202512), "csv", tmp_path / "e.csv")
    with (tmp_path / "e.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["发票号码"], Decimal(r["价税合计"])) for r in rows] == [(i.fphm, i.jshj) for i in expected]
    assert all(r["价税合计"].split(".")[1].__len__() == 2 for r in rows)
    export(local_invoices(engine, seeded.tenant.corp_id, nsrsbh, "jx", 202501, 202512), "jsonl", tmp_path / "e.jsonl")
    lines = (tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()
    assert [Invoice.from_doc(json.loads(line)) for line in lines] == expected  # everything, exactly


def test_a_range_only_exports_its_months(seeded: Seeded, engine: Engine, tmp_path: Path) -> None:
    nsrsbh = next(iter(seeded.taxpayers))
    invoices = list(local_invoices(engine, seeded.tenant.corp_id, nsrsbh, "xx", 202503, 202504))
    assert invoices
    assert {inv.kpyf for inv in invoices} == {202503, 202504}


def test_export_command(seeded: Seeded, database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": database_url}
    nsrsbh = next(iter(seeded.taxpayers))
    cli = [sys.executable, "-m", "fapiaohub.cli", "export", "--corp", seeded.tenant.corp_id, "--nsrsbh", nsrsbh,
           "--jxxbz", "jx", "--from", "202501", "--to", "202512"]
    done = subprocess.run([*cli, "--format", "jsonl", "--out", str(tmp_path / "x.jsonl")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(stored(seeded, nsrsbh, 'jx'))} invoices" in done.stdout
    bad = subprocess.run([*cli[:-4], "--from", "202513", "--to", "202512", "--format", "csv", "--out", "x"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    assert "kpyf" in bad.stderr
    nowhere = subprocess.run([sys.executable, "-m", "fapiaohub.cli", "export", "--nsrsbh", nsrsbh, "--jxxbz", "jx",
                              "--from", "202501", "--to", "202502", "--format", "csv", "--out", "x"],
                             capture_output=True, text=True, env=env)
    assert nowhere.returncode == 1
    assert "--corp" in nowhere.stderr
