"""Exports of a taxpayer's invoices over a range of months: xlsx (bureau columns), csv, jsonl.

Invoices come from the local store or, through the SDK, from any compatible server; either way
they stream: memory does not grow with the number of invoices.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy.engine import Engine

from fapiaohub import wire
from fapiaohub.client import Client
from fapiaohub.domain.codes import FPZT, fplx_name
from fapiaohub.domain.invoice import Invoice
from fapiaohub.shapes.bureau_layout import write_bureau_export
from fapiaohub.store.invoices import stored_docs
from fapiaohub.store.taxpayers import find_taxpayer

FORMATS = ("xlsx", "csv", "jsonl")
CSV_COLUMNS = ["发票类型代码", "发票票种", "发票代码", "发票号码", "开票日期", "销方识别号", "销方名称", "购方识别号",
               "购买方名称", "金额", "税额", "价税合计", "发票状态", "校验码", "开票人", "备注", "明细条数"]


def months(first: int, last: int) -> list[int]:
    """Every yyyyMM from ``first`` to ``last``, inclusive."""
    result, month = [], first
    while month <= last:
        result.append(month)
        year, number = divmod(month, 100)
        month = (year + 1) * 100 + 1 if number == 12 else month + 1
    return result


def local_invoices(engine: Engine, corp_id: str, nsrsbh: str, direction: str, first: int,
                   last: int) -> Iterator[Invoice]:
    """Stored invoices of the range, in (kpyf, kprq, identity) order, read in streamed batches."""
    with engine.connect() as conn:
        tp = find_taxpayer(conn, corp_id, nsrsbh)
        if tp is None:
            raise LookupError(f"taxpayer {nsrsbh} is not registered for corporation {corp_id}")
        for doc in stored_docs(conn, tp.id, direction, first, last):
            yield Invoice.from_doc(wire.loads(doc))


def remote_invoices(base_url: str, app_key: str, app_security: str, nsrsbh: str, direction: str,
                    first: int, last: int) -> Iterator[Invoice]:
    """The same range from a server speaking getInvoiceCollectionData (fapiaohub or Ekuaibao)."""
    with Client(base_url, app_key, app_security) as client:
        for month in months(first, last):
            yield from client.iter_invoices(nsrsbh, str(month), direction)


def _csv_row(inv: Invoice) -> list[str]:
    return [inv.fplx, fplx_name(inv.fplx), inv.fpdm, inv.fphm, inv.kprq.strftime("%Y-%m-%d %H:%M:%S"),
            inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, f"{inv.je:.2f}", f"{inv.se:.2f}", f"{inv.jshj:.2f}",
            FPZT.get(inv.fpzt_dm, inv.fpzt_dm), inv.jym, inv.kpr, inv.bz, str(len(inv.lines))]


def export(invoices: Iterable[Invoice], fmt: str, out: Path,
           progress: Callable[[int], None] | None = None) -> int:
    """Write ``invoices`` to ``out``; returns how many were written.

    xlsx: the bureau's 全量发票查询 layout (信息汇总表 lines, 发票基础信息 invoices, 特定业务
    sheets; shapes.bureau_layout): fapiaohub imports it back. csv: one row per invoice,
    UTF-8 with BOM so that Excel shows the Chinese headers. jsonl: the canonical invoice, lines
    and kind-specific data included, amounts as exact decimal strings.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    written = 0

    def counted() -> Iterator[Invoice]:
        nonlocal written
        for inv in invoices:
            yield inv
            written += 1
            if progress is not None and written % 100 == 0:
                progress(written)

    if fmt == "xlsx":
        write_bureau_export(out, counted())
    elif fmt == "csv":
        with out.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(_csv_row(inv) for inv in counted())
    else:
        with out.open("wb") as handle:
            for inv in counted():
                handle.write(wire.dumps(inv.to_doc()) + b"\n")
    return written
