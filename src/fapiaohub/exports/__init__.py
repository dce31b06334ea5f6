"""Exports of a taxpayer's invoices over a range of months: xlsx (bureau layout, finance-ready), csv, jsonl.

Invoices come from the local store (with their validation flags and status history) or, through the
SDK, from any compatible server; either way they stream: memory does not grow with the number of
invoices. A file is written under a temporary name in its directory and renamed when complete, so a
failed export leaves nothing behind. docs/exports.md describes each format.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Engine

from fapiaohub import wire
from fapiaohub.client import Client
from fapiaohub.domain.invoice import Invoice
from fapiaohub.exports.common import Record, history_text, kind_name, status_name
from fapiaohub.exports.xlsx import write_finance_xlsx
from fapiaohub.shapes.bureau_layout import BUSINESS_NAMES, rate_text
from fapiaohub.shapes.collection_item import collection_item
from fapiaohub.store.invoices import count_range, stored_for_export
from fapiaohub.store.taxpayers import find_taxpayer

__all__ = ["FORMATS", "STDOUT", "Record", "Source", "export", "local_invoices", "local_source", "months",
           "remote_invoices", "remote_source"]

FORMATS = ("xlsx", "csv", "jsonl")
STDOUT = "-"
PROGRESS_EVERY = 100  # invoices between progress calls
# csv identifier columns, written ="…" so that Excel keeps them as text (no 1.23E+19, no lost leading zeros)
CSV_IDENTIFIERS = ("发票代码", "发票号码", "销方识别号", "购方识别号", "校验码")
CSV_COLUMNS = ["发票类型代码", "发票票种", "发票代码", "发票号码", "开票日期", "销方识别号", "销方名称", "购方识别号",
               "购买方名称", "金额", "税额", "价税合计", "税率", "发票状态代码", "发票状态", "特定业务类型", "校验码",
               "开票人", "备注", "明细条数", "校验提示", "状态历史"]
# text that Excel would run as a formula (CSV injection): such cells get a leading apostrophe
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Source:
    """The records to export and, when known in advance, how many there are (for the progress bar)."""

    records: Iterator[Record]
    total: int | None


def months(first: int, last: int) -> list[int]:
    """Every yyyyMM from ``first`` to ``last``, inclusive."""
    result, month = [], first
    while month <= last:
        result.append(month)
        year, number = divmod(month, 100)
        month = (year + 1) * 100 + 1 if number == 12 else month + 1
    return result


def local_source(engine: Engine, corp_id: str, nsrsbh: str, direction: str, first: int, last: int) -> Source:
    """Stored invoices of the range in (kpyf, kprq, identity) order, with flags and history; LookupError
    now (before any file is opened) for a taxpayer the corporation does not have."""
    with engine.connect() as conn:
        tp = find_taxpayer(conn, corp_id, nsrsbh)
        if tp is None:
            raise LookupError(f"taxpayer {nsrsbh} is not registered for corporation {corp_id}")
        total = count_range(conn, corp_id, tp.id, direction, first, last)

    def records() -> Iterator[Record]:
        with engine.connect() as conn:
            for stored in stored_for_export(conn, corp_id, tp.id, direction, first, last):
                yield Record(Invoice.from_doc(wire.loads(stored.doc)), stored.flags, stored.history)

    return Source(records(), total)


def local_invoices(engine: Engine, corp_id: str, nsrsbh: str, direction: str, first: int,
                   last: int) -> Iterator[Invoice]:
    """The stored invoices of the range alone."""
    return (record.invoice for record in local_source(engine, corp_id, nsrsbh, direction, first, last).records)


def remote_invoices(base_url: str, app_key: str, app_security: str, nsrsbh: str, direction: str,
                    first: int, last: int) -> Iterator[Invoice]:
    """The same range from a server speaking getInvoiceCollectionData (fapiaohub or Ekuaibao)."""
    with Client(base_url, app_key, app_security) as client:
        for month in months(first, last):
            yield from client.iter_invoices(nsrsbh, str(month), direction)


def remote_source(base_url: str, app_key: str, app_security: str, nsrsbh: str, direction: str,
                  first: int, last: int) -> Source:
    """A remote range: no flags, no history, no total (the API says a month's count, not a range's)."""
    invoices = remote_invoices(base_url, app_key, app_security, nsrsbh, direction, first, last)
    return Source((Record(inv) for inv in invoices), None)


# --- the formats ----------------------------------------------------------------------------------

def _csv_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_identifier(value: str) -> str:
    return f'="{value}"' if value else ""


def _rates(inv: Invoice) -> str:
    """The invoice's rates as the bureau states them, per line: one rate, or its lines' distinct rates in order."""
    return "、".join(dict.fromkeys(rate_text(line.slv) for line in inv.lines))


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def csv_row(record: Record) -> list[str]:
    inv = record.invoice
    business = BUSINESS_NAMES.get(inv.tdywlx, inv.tdywlx) if inv.tdywlx else ""
    values = {
        "发票类型代码": inv.fplx, "发票票种": kind_name(inv.fplx), "发票代码": _csv_identifier(inv.fpdm),
        "发票号码": _csv_identifier(inv.fphm), "开票日期": inv.kprq.strftime("%Y-%m-%d %H:%M:%S"),
        "销方识别号": _csv_identifier(inv.xfsbh), "销方名称": _csv_text(inv.xfmc),
        "购方识别号": _csv_identifier(inv.gfsbh), "购买方名称": _csv_text(inv.gfmc), "金额": _money(inv.je),
        "税额": _money(inv.se), "价税合计": _money(inv.jshj), "税率": _rates(inv), "发票状态代码": inv.fpzt_dm,
        "发票状态": status_name(inv.fpzt_dm), "特定业务类型": business, "校验码": _csv_identifier(inv.jym),
        "开票人": _csv_text(inv.kpr), "备注": _csv_text(inv.bz), "明细条数": str(len(inv.lines)),
        "校验提示": _csv_text("；".join(record.flags)), "状态历史": history_text(inv.fpzt_dm, record.history),
    }
    return [values[name] for name in CSV_COLUMNS]


# The fields every jsonl line has, whatever the kind, under the keys the API gives them in its VAT and 数电
# items: the items of 海关缴款书 (jkshm, tfrq, skje, …) and 机动车 (xhdwsbh, zzsse, no hwxx, …) name some
# of them otherwise or lack them, and a reader should not need seven code paths for an invoice number.
CORE_KEYS = ("fpdm", "fphm", "kprq", "kpyf", "je", "se", "jshj", "xfsbh", "xfmc", "gfsbh", "gfmc", "kpr", "bz", "jym",
             "fpztDm", "tdywlx", "hwxx")


def _core(inv: Invoice) -> dict[str, Any]:
    return {
        "fpdm": inv.fpdm, "fphm": inv.fphm, "kprq": inv.kprq.strftime("%Y-%m-%d %H:%M:%S"), "kpyf": inv.kpyf,
        "je": inv.je, "se": inv.se, "jshj": inv.jshj, "xfsbh": inv.xfsbh, "xfmc": inv.xfmc, "gfsbh": inv.gfsbh,
        "gfmc": inv.gfmc, "kpr": inv.kpr, "bz": inv.bz, "jym": inv.jym, "fpztDm": inv.fpzt_dm, "tdywlx": inv.tdywlx,
        "hwxx": [{"spbm": line.spbm, "mc": line.mc, "ggxh": line.ggxh, "sl": line.sl, "jldw": line.jldw,
                  "dj": line.dj, "je": line.je, "slv": line.slv, "se": line.se} for line in inv.lines],
    }


def jsonl_item(record: Record) -> dict[str, Any]:
    """One jsonl line: fplx, then the getInvoiceCollectionData item exactly as the API serves it (keys,
    JSON types, values), then the CORE_KEYS the item lacks, the kind and status names, and the store's
    flags and status history. Where the item's hwxx has lines of another shape (海关缴款书: hwmc, wsjg,
    skje), the lines in the common shape are under ``lines``."""
    inv = record.invoice
    item = collection_item(inv)
    core = _core(inv)
    line: dict[str, Any] = {"fplx": inv.fplx, **item, **{key: core[key] for key in CORE_KEYS if key not in item}}
    if item.get("hwxx") and "mc" not in item["hwxx"][0]:
        line["lines"] = core["hwxx"]
    line |= {
        "fplxMc": kind_name(inv.fplx), "fpztMc": status_name(inv.fpzt_dm), "flags": record.flags,
        "history": [{"fpztDm": entry.fpzt_dm, "fpztMc": status_name(entry.fpzt_dm),
                     "replacedAt": entry.replaced_at.isoformat(), "taskId": entry.task_id}
                    for entry in record.history],
    }
    return line


def _write_csv(records: Iterable[Record], handle: IO[str]) -> None:
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(csv_row(record))


def _write_jsonl(records: Iterable[Record], handle: IO[bytes]) -> None:
    for record in records:
        handle.write(wire.dumps(jsonl_item(record)) + b"\n")


@contextmanager
def atomic_path(out: Path) -> Iterator[Path]:
    """A temporary file next to ``out``, renamed to ``out`` when the block ends normally and removed
    when it raises (even on Ctrl-C): ``out`` is either complete or untouched."""
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes the file private (0600): give it the mode a plain open() would have
        if out.exists():
            mode = out.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
        os.replace(temporary, out)
    except BaseException:
        with suppress(FileNotFoundError):
            temporary.unlink()
        raise


def _write(records: Iterable[Record], fmt: str, path: Path) -> None:
    if fmt == "xlsx":
        write_finance_xlsx(path, records)
    elif fmt == "csv":
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            _write_csv(records, handle)
    else:
        with path.open("wb") as handle:
            _write_jsonl(records, handle)


def _to_stdout(records: Iterable[Record], fmt: str, stdout: IO[bytes]) -> None:
    if fmt == "xlsx":  # a zip is written with seeks: build it in a temporary directory, then copy
        with tempfile.TemporaryDirectory(prefix="fapiaohub-export-") as directory:
            path = Path(directory) / "export.xlsx"
            write_finance_xlsx(path, records)
            with path.open("rb") as handle:
                shutil.copyfileobj(handle, stdout)
    elif fmt == "csv":
        text = io.TextIOWrapper(stdout, encoding="utf-8-sig", newline="", write_through=True)
        try:
            _write_csv(records, text)
            text.flush()
        finally:
            text.detach()  # leave sys.stdout's buffer open
    else:
        _write_jsonl(records, stdout)
    stdout.flush()


def export(invoices: Iterable[Invoice | Record], fmt: str, out: Path | str,
           progress: Callable[[int], None] | None = None, *, stdout: IO[bytes] | None = None) -> int:
    """Write ``invoices`` to ``out`` (a path, or ``-`` for standard output); returns how many were written.

    xlsx: the bureau's 全量发票查询 layout, finance-ready (exports_xlsx); fapiaohub imports it back.
    csv: one row per invoice, UTF-8 with BOM, identifiers as ="…" for Excel. jsonl: one API item per
    line with fplx, names, flags and history. ``progress`` is called with the count so far.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    written = 0

    def counted() -> Iterator[Record]:
        nonlocal written
        for item in invoices:
            yield item if isinstance(item, Record) else Record(item)
            written += 1
            if progress is not None and written % PROGRESS_EVERY == 0:
                progress(written)

    if str(out) == STDOUT:
        _to_stdout(counted(), fmt, stdout if stdout is not None else sys.stdout.buffer)
    else:
        with atomic_path(Path(out)) as path:
            _write(counted(), fmt, path)
    if progress is not None:
        progress(written)
    return written
