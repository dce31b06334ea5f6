"""Exports: the finance-ready xlsx that fapiaohub imports back, Excel-safe csv, API-shaped jsonl, the command."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import pty
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy.engine import Engine

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.domain.codes import FPLX, FPZT, STATUS_BY_NAME, kind_by_name
from fapiaohub.domain.invoice import Invoice
from fapiaohub.exports import CORE_KEYS, CSV_COLUMNS, export, local_invoices, local_source, months
from fapiaohub.exports.common import history_text
from fapiaohub.exports.xlsx import INVOICE_HEADER, TOTALS_LABEL, number_or_text
from fapiaohub.importers.base import Parsed
from fapiaohub.importers.bureau_xlsx import read_bureau_export
from fapiaohub.store.invoices import HistoryEntry, store_invoices, stored_for_export
from fapiaohub.store.taxpayers import add_taxpayer, find_taxpayer
from tests.conftest import Seeded, Tenant

API = "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"
FLAG = "发票风险等级：疑点发票"


def stored(seeded: Seeded, nsrsbh: str, direction: str) -> list[Invoice]:
    return sorted(seeded.invoices[(nsrsbh, direction)], key=lambda i: (i.kpyf, i.kprq, i.key))


def bureau_fields(inv: Invoice) -> tuple:
    lines = tuple((l.mc, l.je, l.se, l.slv.normalize(), l.spbm, l.ggxh, l.sl, l.jldw, l.dj) for l in inv.lines)
    return (inv.key, inv.fplx, inv.kprq, inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, inv.je, inv.se, inv.jshj,
            inv.fpzt_dm, inv.kpr, inv.bz, lines)


@dataclass
class Crafted:
    """A taxpayer's 进项 of 2025 with what finance exports must show: 作废 and red invoices, an
    invoice without lines, one with validation flags, one whose status changed, awkward quantities."""

    tenant: Tenant
    nsrsbh: str
    invoices: list[Invoice]  # as stored now, in export order
    lineless: str  # keys
    flagged: str
    voided: str  # stored 正常, then re-stored 作废 by task T-EXPORT


@pytest.fixture
def crafted(engine: Engine, tenant: Tenant) -> Crafted:

    items = [item for item in iter_demo_invoices(600) if item.direction == "jx"]
    nsrsbh = items[0].nsrsbh
    invoices = [item.invoice for item in items if item.nsrsbh == nsrsbh and item.invoice.kpyf // 100 == 2025][:80]
    vat = [inv for inv in invoices if inv.fplx in ("01", "81", "82") and inv.fpzt_dm == "0" and len(inv.lines) > 1]
    lineless, flagged, voided, awkward = vat[0], vat[1], vat[2], vat[3]
    lineless.lines = []
    awkward.lines[0].sl, awkward.lines[1].sl = "1.50", "2"
    awkward.lines[0].dj = "88.495575221239"
    flagged.bz = "=HYPERLINK(\"http://x\")"
    with engine.begin() as conn:
        tp = add_taxpayer(conn, tenant.corp_id, nsrsbh, "导出测试")
        store_invoices(conn, tp, "jx", invoices, flags={flagged.key: [FLAG]})
    changed = dataclasses.replace(voided, fpzt_dm="2")
    with engine.begin() as conn:
        store_invoices(conn, tp, "jx", [changed], task_id="T-EXPORT", flags={flagged.key: [FLAG]})
    now = [changed if inv.key == voided.key else inv for inv in invoices]
    return Crafted(tenant, nsrsbh, sorted(now, key=lambda i: (i.kpyf, i.kprq, i.key)), lineless.key, flagged.key,
                   voided.key)


def crafted_export(engine: Engine, crafted: Crafted, fmt: str, out: Path) -> int:
    source = local_source(engine, crafted.tenant.corp_id, crafted.nsrsbh, "jx", 202501, 202512)
    assert source.total == len(crafted.invoices)
    return export(source.records, fmt, out)


def test_months() -> None:
    assert months(202411, 202502) == [202411, 202412, 202501, 202502]
    assert months(202503, 202503) == [202503]


def test_quantities_are_numbers_only_where_the_importer_reads_the_same_text_back() -> None:
    assert number_or_text("2") == 2
    assert number_or_text("-3") == -3
    assert number_or_text("88.495575221239") == pytest.approx(88.495575221239)
    assert isinstance(number_or_text("0.5"), float)
    for text in ("", "1.50", "约2", "1,000", "NaN", "2.0", "007"):
        assert number_or_text(text) == text


def test_every_kind_and_status_name_imports_back() -> None:
    """The one vocabulary (FPLX and FPZT names) is what the xlsx writes: the importer must read it."""

    assert {code: kind_by_name(name) for code, (name, _) in FPLX.items()} == {code: code for code in FPLX}
    assert {code: STATUS_BY_NAME[name] for code, name in FPZT.items()} == {code: code for code in FPZT}


def test_store_reads_flags_and_history_in_order(engine: Engine, crafted: Crafted) -> None:

    with engine.connect() as conn:
        tp = find_taxpayer(conn, crafted.tenant.corp_id, crafted.nsrsbh)
        assert tp is not None
        rows = list(stored_for_export(conn, crafted.tenant.corp_id, tp.id, "jx", 202501, 202512))
        other_corp = list(stored_for_export(conn, "someone-else", tp.id, "jx", 202501, 202512))
    assert [Invoice.from_doc(json.loads(r.doc)).key for r in rows] == [inv.key for inv in crafted.invoices]
    by_key = {Invoice.from_doc(json.loads(r.doc)).key: r for r in rows}
    assert by_key[crafted.flagged].flags == [FLAG]
    [entry] = by_key[crafted.voided].history
    assert (entry.fpzt_dm, entry.task_id) == ("0", "T-EXPORT")
    assert entry.replaced_at.utcoffset() is not None
    assert sum(len(r.history) for r in rows) == 1
    assert other_corp == []


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


def sheet_rows(sheet: Any) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    """Header, data rows (as dicts) and the totals row of a sheet."""
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header = rows[0]
    data = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert data[-1]["序号"] == TOTALS_LABEL
    return header, data[:-1], data[-1]


def row_key(row: dict[str, Any]) -> str:
    """Invoice.key of a sheet row (empty cells read back as None)."""
    if row["数电发票号码"] != "--":
        return row["数电发票号码"]
    return f"{row['发票代码']}:{row['发票号码']}" if row["发票代码"] else row["发票号码"]


def test_xlsx_is_finance_ready(engine: Engine, crafted: Crafted, tmp_path: Path) -> None:
    out = tmp_path / "进项.xlsx"
    assert crafted_export(engine, crafted, "xlsx", out) == len(crafted.invoices)
    book = openpyxl.load_workbook(out)
    lines, basic = book["信息汇总表"], book["发票基础信息"]
    l_header, l_rows, l_total = sheet_rows(lines)
    b_header, b_rows, b_total = sheet_rows(basic)
    for sheet, rows in ((lines, l_rows), (basic, b_rows)):
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(sheet.max_column)}{len(rows) + 1}"
        assert sheet.column_dimensions["F"].width >= 30  # 销方名称
        assert sheet["A1"].font.bold
    assert len(book.sheetnames) > 2  # 特定业务 sheets: filtered and frozen too (no totals row: they have no amounts)
    for special in book.worksheets[2:]:
        assert special.freeze_panes == "A2"
        assert special.auto_filter.ref.endswith(f"{special.max_row}")
    # the real layout: no 税率 on the invoice sheet, per line on the line sheet; extra columns only at the end
    assert b_header == INVOICE_HEADER
    assert "税率" not in b_header
    assert b_header[-3:] == ["明细条数", "校验提示", "状态历史"]
    assert all(row["税率"].endswith("%") for row in l_rows)
    # money: numbers with two decimals shown; totals exclude 作废 and say so
    money_cell = basic.cell(row=2, column=b_header.index("价税合计") + 1)
    assert isinstance(money_cell.value, (int, float))
    assert money_cell.number_format == "#,##0.00"
    live = [inv for inv in crafted.invoices if inv.fpzt_dm != "2"]
    voided = [inv for inv in crafted.invoices if inv.fpzt_dm == "2"]
    assert voided
    assert any(inv.jshj < 0 for inv in live)
    for name, attr in (("金额", "je"), ("税额", "se"), ("价税合计", "jshj")):
        assert Decimal(str(b_total[name])).quantize(Decimal("0.01")) == sum(getattr(i, attr) for i in live)
    assert f"不含作废发票 {len(voided)} 张" in b_total["备注"]
    line_je = sum(line.je for inv in live for line in inv.lines)
    assert Decimal(str(l_total["金额"])).quantize(Decimal("0.01")) == line_je
    assert "不含作废" in l_total["备注"]
    # 数量/单价: numbers where the text is a number that reads back the same
    by_key = {inv.key: inv for inv in crafted.invoices}
    numeric = [row for row in l_rows if isinstance(row["数量"], (int, float))]
    assert len(numeric) > len(l_rows) // 2
    assert "1.50" in [row["数量"] for row in l_rows]  # kept as text: a number would re-import as 1.5
    assert 88.495575221239 in [row["单价"] for row in l_rows]
    # every invoice on the invoice sheet, line-less included; kinds and statuses in the one vocabulary
    keys = [row_key(row) for row in b_rows]
    assert keys == [inv.key for inv in crafted.invoices]
    row_of = dict(zip(keys, b_rows, strict=True))
    assert row_of[crafted.lineless]["明细条数"] == 0
    assert crafted.lineless not in {row_key(row) for row in l_rows}
    assert row_of[crafted.flagged]["校验提示"] == FLAG
    assert row_of[crafted.voided]["状态历史"].startswith("正常 → 作废（")
    assert row_of[crafted.voided]["发票状态"] == "作废"
    assert {row["发票票种"] for row in b_rows} == {FPLX[inv.fplx][0] for inv in crafted.invoices}
    assert {row["发票状态"] for row in b_rows} == {FPZT[inv.fpzt_dm] for inv in crafted.invoices}
    assert by_key[crafted.voided].fpzt_dm == "2"
    # and fapiaohub imports it back exactly: extra columns ignored, totals rows skipped, no sheet skipped
    records = list(read_bureau_export(out))
    assert all(isinstance(r, Parsed) for r in records), [r for r in records if not isinstance(r, Parsed)][:3]
    assert sorted(bureau_fields(r.invoice) for r in records) == sorted(bureau_fields(i) for i in crafted.invoices)


def unwrap(value: str) -> str:
    return value[2:-1] if value.startswith('="') and value.endswith('"') else value


def test_csv_is_safe_for_excel(engine: Engine, crafted: Crafted, tmp_path: Path) -> None:
    out = tmp_path / "进项.csv"
    crafted_export(engine, crafted, "csv", out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == CSV_COLUMNS
    assert [(unwrap(r["发票代码"]), unwrap(r["发票号码"])) for r in rows] == [(i.fpdm, i.fphm) for i in crafted.invoices]
    # identifiers as ="…": Excel shows 20-digit numbers and leading zeros exactly, as text
    for row, inv in zip(rows, crafted.invoices, strict=True):
        assert row["发票号码"] == f'="{inv.fphm}"'
        assert row["购方识别号"] == f'="{inv.gfsbh}"'
        assert row["发票代码"] == (f'="{inv.fpdm}"' if inv.fpdm else "")
        assert row["销方识别号"] == (f'="{inv.xfsbh}"' if inv.xfsbh else "")
        assert Decimal(row["价税合计"]) == inv.jshj
        assert row["价税合计"].split(".")[1].__len__() == 2
        assert row["发票票种"] == FPLX[inv.fplx][0]
        assert row["发票状态"] == FPZT[inv.fpzt_dm]
        assert row["明细条数"] == str(len(inv.lines))
    assert any(r["发票号码"].startswith('="0') for r in rows)  # a leading zero that Excel would drop
    by_key = {inv.key: row for inv, row in zip(crafted.invoices, rows, strict=True)}
    assert by_key[crafted.flagged]["备注"].startswith("'=")  # not a formula when opened
    assert by_key[crafted.flagged]["校验提示"] == FLAG
    assert by_key[crafted.voided]["状态历史"].startswith("正常 → 作废")
    assert by_key[crafted.lineless]["税率"] == ""


def test_jsonl_items_are_the_api_items(engine: Engine, crafted: Crafted, tmp_path: Path) -> None:
    out = tmp_path / "进项.jsonl"
    crafted_export(engine, crafted, "jsonl", out)
    items = [json.loads(line, parse_float=Decimal) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(items) == len(crafted.invoices)
    token = crafted.tenant.token()
    served: dict[tuple[str, str], dict[str, Any]] = {}
    for fplx, kpyf in {(inv.fplx, inv.kpyf) for inv in crafted.invoices}:
        body = {"corpId": crafted.tenant.corp_id, "nsrsbh": crafted.nsrsbh, "fplx": fplx, "kpyf": str(kpyf),
                "jxxbz": "jx", "page": {"pageSize": 100, "currentPage": 1}}
        response = crafted.tenant.client.post(API, params={"accessToken": token}, json=body)
        for item in json.loads(response.content, parse_float=Decimal)["value"]["data"]["list"]:
            served[(fplx, item.get("fphm", item.get("jkshm")))] = item
    kinds: set[str] = set()
    for item, inv in zip(items, crafted.invoices, strict=True):
        api = served[(inv.fplx, inv.fphm)]
        assert {key: item[key] for key in api} == api  # the API's keys, JSON types and values, exactly
        assert list(item)[1:len(api) + 1] == list(api)  # in the API's order, after fplx
        extra = {key: item.pop(key) for key in ("fplx", "fplxMc", "fpztMc", "flags", "history")}
        assert extra["fplx"] == inv.fplx
        assert extra["fplxMc"] == FPLX[inv.fplx][0]
        assert extra["fpztMc"] == FPZT[inv.fpzt_dm]
        # every kind: what check.py of the real inputs reads, under the API's VAT/数电 keys
        assert all(field in item for field in CORE_KEYS)
        assert (item["fphm"], item["fpztDm"], item["gfsbh"]) == (inv.fphm, inv.fpzt_dm, inv.gfsbh)
        lines = item.get("lines", item["hwxx"])
        assert [line["mc"] for line in lines] == [line.mc for line in inv.lines]
        assert all({"mc", "je", "se", "slv", "spbm"} <= set(line) for line in lines)
        kinds.add(inv.family.value)
        if inv.key == crafted.flagged:
            assert extra["flags"] == [FLAG]
        if inv.key == crafted.voided:
            [entry] = extra["history"]
            assert (entry["fpztDm"], entry["fpztMc"], entry["taskId"]) == ("0", "正常", "T-EXPORT")
            assert entry["replacedAt"].endswith("+00:00")
        else:
            assert extra["history"] == []
    assert {"customs", "motor_vehicle", "vat", "full_digital"} <= kinds  # the kinds whose items differ most


def failing(invoices: list[Invoice], after: int) -> Iterator[Invoice]:
    for number, inv in enumerate(invoices):
        if number == after:
            raise ConnectionError("the server went away")
        yield inv


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "jsonl"])
def test_a_failed_export_leaves_no_file_and_keeps_the_old_one(seeded: Seeded, tmp_path: Path, fmt: str) -> None:
    invoices = stored(seeded, next(iter(seeded.taxpayers)), "jx")
    out = tmp_path / f"new.{fmt}"
    with pytest.raises(ConnectionError):
        export(failing(invoices, 5), fmt, out)
    assert list(tmp_path.iterdir()) == []  # no file, no header-only file, no temporary left
    old = tmp_path / f"old.{fmt}"
    old.write_bytes(b"yesterday's export")
    with pytest.raises(ConnectionError):
        export(failing(invoices, 5), fmt, old)
    assert old.read_bytes() == b"yesterday's export"
    assert list(tmp_path.iterdir()) == [old]
    assert export(invoices[:3], fmt, old) == 3
    assert old.read_bytes() != b"yesterday's export"
    assert oct(old.stat().st_mode & 0o777) != "0o600"  # not the temporary file's private mode


def test_stdout(seeded: Seeded) -> None:
    invoices = stored(seeded, next(iter(seeded.taxpayers)), "jx")[:4]
    buffer = io.BytesIO()
    assert export(invoices, "jsonl", "-", stdout=buffer) == 4
    assert [json.loads(line)["fphm"] for line in buffer.getvalue().splitlines()] == [i.fphm for i in invoices]
    buffer = io.BytesIO()
    export(invoices, "csv", "-", stdout=buffer)
    assert buffer.getvalue().startswith(b"\xef\xbb\xbf" + "发票类型代码".encode())
    buffer = io.BytesIO()
    export(invoices, "xlsx", "-", stdout=buffer)
    assert "xl/workbook.xml" in zipfile.ZipFile(buffer).namelist()


def cli_args(seeded: Seeded, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fapiaohub.cli", "export", "--corp", seeded.tenant.corp_id, "--nsrsbh",
            next(iter(seeded.taxpayers)), "--jxxbz", "jx", "--from", "202501", "--to", "202512", *extra]


def one_line_error(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert needle in done.stderr, done.stderr


def test_export_command(seeded: Seeded, database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": database_url}
    nsrsbh = next(iter(seeded.taxpayers))
    total = len(stored(seeded, nsrsbh, "jx"))
    done = subprocess.run(cli_args(seeded, "--format", "jsonl", "--out", str(tmp_path / "x.jsonl")),
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert f"wrote {total} invoices" in done.stdout
    assert done.stderr == ""
    to_stdout = subprocess.run(cli_args(seeded, "--format", "csv", "--out", "-"), capture_output=True, env=env)
    assert to_stdout.returncode == 0
    assert to_stdout.stdout.startswith(b"\xef\xbb\xbf")
    assert len(to_stdout.stdout.decode("utf-8-sig").splitlines()) == total + 1
    assert f"wrote {total} invoices to standard output" in to_stdout.stderr.decode()
    piped = subprocess.run(cli_args(seeded, "--format", "xlsx", "--out", "-"), capture_output=True, env=env)
    assert piped.returncode == 0
    assert piped.stdout.startswith(b"PK")
    # failures: one line, exit 1, no file
    bad = subprocess.run([*cli_args(seeded)[:-4], "--from", "202513", "--to", "202512", "--format", "csv",
                          "--out", "x"], capture_output=True, text=True, env=env)
    one_line_error(bad, "kpyf")
    nowhere = subprocess.run([sys.executable, "-m", "fapiaohub.cli", "export", "--nsrsbh", nsrsbh, "--jxxbz", "jx",
                              "--from", "202501", "--to", "202502", "--format", "csv", "--out", "x"],
                             capture_output=True, text=True, env=env)
    one_line_error(nowhere, "--corp")
    missing_dir = subprocess.run(cli_args(seeded, "--format", "csv", "--out", str(tmp_path / "no" / "x.csv")),
                                 capture_output=True, text=True, env=env)
    one_line_error(missing_dir, "does not exist")
    unknown = subprocess.run([*cli_args(seeded)[:7], "91000000000000000X", *cli_args(seeded)[8:], "--format", "csv",
                              "--out", str(tmp_path / "u.csv")], capture_output=True, text=True, env=env)
    one_line_error(unknown, "not registered")
    no_db = subprocess.run(cli_args(seeded, "--format", "csv", "--out", str(tmp_path / "d.csv"), "--db",
                                    "postgresql://nobody@127.0.0.1:1/none"), capture_output=True, text=True, env=env)
    one_line_error(no_db, "database")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl"]


def run_on_terminal(args: list[str], env: dict[str, str], stdout_tty: bool) -> tuple[int, str]:
    """Run with stderr (and optionally stdout) on a pseudo-terminal; returns the exit code and what it showed."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(args, env={**env, "COLUMNS": "120", "TERM": "xterm"}, stdin=subprocess.DEVNULL,
                               stdout=secondary if stdout_tty else subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    return process.wait(), shown.decode(errors="replace")


def test_progress_on_a_terminal_and_xlsx_refused_there(seeded: Seeded, database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": database_url}
    total = len(stored(seeded, next(iter(seeded.taxpayers)), "jx"))
    code, shown = run_on_terminal(cli_args(seeded, "--format", "csv", "--out", str(tmp_path / "p.csv")), env, False)
    assert code == 0, shown
    assert f"/{total}" in shown, shown
    assert "-:--:--" in shown or "0:00:0" in shown, shown
    code, shown = run_on_terminal(cli_args(seeded, "--format", "xlsx", "--out", "-"), env, True)
    assert code == 1
    assert "redirect standard output" in shown
    assert "PK" not in shown


def test_history_text_lists_status_changes_only() -> None:


    first, second = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert history_text("0", []) == ""
    assert history_text("0", [HistoryEntry("0", first, None)]) == ""
    assert history_text("8", [HistoryEntry("0", first, "T1"), HistoryEntry("7", second, None)]) == (
        "正常 → 部分红冲（2026-01-02 03:04:05 UTC） → 全额红冲（2026-02-01 00:00:00 UTC）")
    assert history_text("2", [HistoryEntry("0", first, None), HistoryEntry("0", second, None)]) == (
        "正常 → 作废（2026-02-01 00:00:00 UTC）")
