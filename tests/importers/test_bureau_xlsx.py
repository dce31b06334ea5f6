"""The bureau's 全量发票查询 export: both layouts, the variations seen in the wild, bad rows, bad files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.domain.invoice import Invoice
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import Parsed, Rejected, UnreadableFile
from fapiaohub.importers.bureau_xlsx import read_bureau_export
from fapiaohub.importers.xlsx_stream import StreamingWorkbook
from fapiaohub.shapes.bureau_layout import VARIATIONS, write_bureau_export


def sample(count: int = 240) -> list[Invoice]:
    return [item.invoice for item in iter_demo_invoices(count) if item.invoice.fplx != "17"]


def header_fields(inv: Invoice) -> tuple:
    return (inv.key, inv.fplx, inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, inv.kprq, inv.je, inv.se,
            inv.jshj, inv.fpzt_dm, inv.kpr, inv.bz)


def line_fields(inv: Invoice) -> list[tuple]:
    return [(l.mc, l.je, l.se, l.slv.normalize(), l.spbm, l.ggxh, l.sl, l.jldw, l.dj) for l in inv.lines]


def read_all(path: Path) -> tuple[list[Parsed], list[Rejected]]:
    records = list(read_bureau_export(path))
    return [r for r in records if isinstance(r, Parsed)], [r for r in records if isinstance(r, Rejected)]


@pytest.mark.parametrize("variation", [None, *sorted(VARIATIONS)])
def test_line_layout_round_trips(tmp_path: Path, variation: str | None) -> None:
    invoices = sample()
    path = tmp_path / "全量发票查询导出结果.xlsx"
    write_bureau_export(path, invoices, variations={variation} if variation else set())
    parsed, rejected = read_all(path)
    assert rejected == []
    by_key = {p.invoice.key: p.invoice for p in parsed}
    assert len(parsed) == len(invoices) == len(by_key)
    for inv in invoices:
        got = by_key[inv.key]
        assert header_fields(got) == header_fields(inv)
        assert line_fields(got) == line_fields(inv)


def test_basic_layout_round_trips_headers(tmp_path: Path) -> None:
    invoices = sample()
    path = tmp_path / "basic.xlsx"
    write_bureau_export(path, invoices, layout="basic", variations={"text_numbers"})
    parsed, rejected = read_all(path)
    assert rejected == []
    assert sorted(header_fields(p.invoice) for p in parsed) == sorted(header_fields(i) for i in invoices)
    assert all(p.invoice.lines == [] for p in parsed)


def test_red_invoices_keep_negative_amounts(tmp_path: Path) -> None:
    invoices = [i for i in sample(3000) if i.jshj < 0][:5]
    assert invoices
    path = tmp_path / "red.xlsx"
    write_bureau_export(path, invoices)
    parsed, _ = read_all(path)
    assert [p.invoice.jshj for p in parsed] == [i.jshj for i in invoices]
    assert all(p.invoice.jshj < 0 for p in parsed)


def _spoil(path: Path, row: int, column: str, value: object) -> None:
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    sheet.cell(row=row, column=header.index(column) + 1, value=value)
    workbook.save(path)


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [("金额", "12a.3", "金额"), ("开票日期", "下周一", "开票日期"), ("发票票种", "增值税神秘发票", "发票票种"),
     ("购方识别号", "91440300MA5DEM001A", "识别号"), ("税率", "abc", "税率"), ("发票状态", "丢失", "发票状态")],
)
def test_a_bad_row_rejects_its_invoice_only(tmp_path: Path, column: str, value: object, needle: str) -> None:
    invoices = sample(60)
    path = tmp_path / "spoiled.xlsx"
    write_bureau_export(path, invoices)
    _spoil(path, 4, column, value)
    parsed, rejected = read_all(path)
    assert len(rejected) == 1
    (bad,) = rejected
    assert bad.source.sheet == "发票基础信息" and bad.source.row is not None and bad.source.row <= 4
    assert needle in bad.reason
    assert len(parsed) == len(invoices) - 1


def test_amounts_that_do_not_add_up_are_rejected(tmp_path: Path) -> None:
    invoices = sample(30)
    path = tmp_path / "sum.xlsx"
    write_bureau_export(path, invoices)
    _spoil(path, 2, "价税合计", 1.0)
    parsed, rejected = read_all(path)
    assert len(rejected) == 1 and "jshj" in rejected[0].reason


def test_rows_of_one_invoice_that_are_not_consecutive(tmp_path: Path) -> None:
    invoices = [i for i in sample() if len(i.lines) >= 2][:2]
    path = tmp_path / "shuffled.xlsx"
    write_bureau_export(path, invoices)
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    first_len = len(invoices[0].lines)
    moved = [rows[0], *rows[first_len:], *rows[1:first_len]]  # tear the first invoice apart
    for index, values in enumerate(moved, start=2):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=index, column=column, value=value)
    workbook.save(path)
    records = list(read_bureau_export(path))
    assert any(isinstance(r, Rejected) and "not consecutive" in r.reason for r in records)


def test_unreadable_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    with pytest.raises(UnreadableFile, match="unrecognised file format"):
        list(read_invoices(text))
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(UnreadableFile):
        list(read_invoices(corrupt))
    no_header = tmp_path / "other.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["姓名", "金额"])
    workbook.save(no_header)
    with pytest.raises(UnreadableFile, match="header"):
        list(read_invoices(no_header))
    missing = tmp_path / "missing.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["发票号码", "开票日期", "金额"])
    workbook.save(missing)
    with pytest.raises(UnreadableFile, match="价税合计"):
        list(read_invoices(missing))


def test_zip_bomb_is_refused_before_reading(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(160):  # 160 MB of zeros, about 160 KB on disk
                member.write(chunk)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(UnreadableFile, match="zip bomb"):
        list(read_invoices(bomb))


def test_text_numbers_with_separators_are_exact(tmp_path: Path) -> None:
    invoices = [i for i in sample() if i.jshj > 1000][:10]
    path = tmp_path / "text.xlsx"
    write_bureau_export(path, invoices, variations={"text_numbers"})
    parsed, _ = read_all(path)
    assert [p.invoice.jshj for p in parsed] == [i.jshj for i in invoices]
    assert all(isinstance(p.invoice.je, Decimal) for p in parsed)


def test_an_invalid_tax_id_is_rejected_by_validation(tmp_path: Path) -> None:
    path = tmp_path / "taxid.xlsx"
    single = [i for i in sample() if len(i.lines) == 1]
    write_bureau_export(path, single[:10])
    _spoil(path, 2, "购方识别号", "91440300MA5DEM001A")  # the only row of the first invoice
    parsed, rejected = read_all(path)
    assert len(rejected) == 1 and "gfsbh" in rejected[0].reason and "校验位" in rejected[0].reason


@pytest.mark.parametrize("child", [False, True], ids=["in process", "child process"])
@pytest.mark.parametrize("variation", ["text_dates", "summary_sheet", "two_sheets", "title_row"])
def test_the_streaming_reader_reads_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             variation: str, child: bool) -> None:
    invoices = sample()
    path = tmp_path / "stream.xlsx"
    write_bureau_export(path, invoices, variations={variation, "text_numbers"})
    fast = sorted(header_fields(p.invoice) + tuple(line_fields(p.invoice)) for p in read_all(path)[0])
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.STREAM_ABOVE", 0)
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.CHILD_ABOVE", 0 if child else 1024**3)
    parsed, rejected = read_all(path)
    assert rejected == []
    assert sorted(header_fields(p.invoice) + tuple(line_fields(p.invoice)) for p in parsed) == fast
    assert len(fast) == len(invoices)


MEMORY_PROBE = """
import glob, re, sys, threading
from fapiaohub.importers.bureau_xlsx import read_bureau_export

def peak_mb(pid="self"):
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across exec
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024

children, done = {}, threading.Event()

def watch():  # the sheet is read by a child process: its memory counts too
    while not done.wait(0.05):
        for listing in glob.glob("/proc/self/task/*/children"):
            for pid in open(listing).read().split():
                try:
                    children[pid] = peak_mb(pid)
                except (OSError, AttributeError):
                    pass

watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
count = sum(1 for _ in read_bureau_export(sys.argv[1]))
done.set()
watcher.join()
print(count, peak_mb() + max(children.values(), default=0), len(children))
"""


@pytest.mark.slow
def test_a_200000_row_export_is_read_in_bounded_memory(tmp_path: Path) -> None:
    rows = 0

    def invoices():  # type: ignore[no-untyped-def]
        nonlocal rows
        for item in iter_demo_invoices(10**7):
            if item.invoice.fplx != "17":
                rows += len(item.invoice.lines)
                yield item.invoice
                if rows >= 200_000:
                    return

    path = tmp_path / "big.xlsx"
    written = write_bureau_export(path, invoices())
    assert written >= 200_000
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True,
                           check=True)
    count, peak_mb, children = map(int, probe.stdout.split())
    assert count > 50_000 and children == 1
    assert peak_mb < 300, f"peak memory {peak_mb} MB reading {written} rows (with the reader child)"


def test_the_streaming_reader_handles_formulas_gaps_and_inline_strings(tmp_path: Path) -> None:
    path = tmp_path / "cells.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"], sheet["C1"], sheet["D1"] = "文本", 1.5, "=C1*2"
    sheet["B3"] = datetime(2025, 3, 14, 9, 26, 53)
    book.save(path)
    with zipfile.ZipFile(path) as archive:
        reader = StreamingWorkbook(archive)
        ((name, member),) = reader.sheets()
        rows = list(reader.rows(member))
    assert name == "Sheet"
    # openpyxl writes the formula without a cached value: the reader gives its (missing) value
    assert rows[0] == ["文本", None, 1.5, None]
    assert rows[1] == [] and rows[2] == [None, datetime(2025, 3, 14, 9, 26, 53)]


def truncated(path: Path, keep: float = 0.6) -> Path:
    """The same workbook with its sheet's XML cut off after ``keep`` of it (a broken writer)."""
    broken = path.with_name("truncated-" + path.name)
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as out:
        for item in archive.infolist():
            data = archive.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: int(len(data) * keep)]
            out.writestr(item.filename, data)
    return broken


@pytest.mark.parametrize("child", [False, True], ids=["in process", "child process"])
def test_a_sheet_broken_halfway_makes_the_file_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          child: bool) -> None:
    path = tmp_path / "broken.xlsx"
    write_bureau_export(path, sample())
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.STREAM_ABOVE", 0)
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.CHILD_ABOVE", 0 if child else 1024**3)
    records = read_invoices(truncated(path))
    if not child:  # rows before the break are read (the child sends rows a thousand at a time)
        assert isinstance(next(records), Parsed)
    with pytest.raises(UnreadableFile, match="发票基础信息"):
        list(records)
