"""Zip bundles: the bureau's download layout and other nestings, one record per invoice merged from
its members, members passed over or refused alone, the bounds, and an import through the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from fapiaohub.demo.generator import demo_taxpayers, iter_demo_invoices
from fapiaohub.domain.invoice import Invoice
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import ImportRecord, Parsed, Rejected, Skipped, UnreadableFile
from fapiaohub.importers.bundle import BundleLimits, read_bundle
from fapiaohub.shapes.bureau_layout import write_bureau_export
from tests.importers.test_sdp_xml import toll_invoice
from tests.writers.einvoice_xml import einvoice_xml
from tests.writers.ofd import write_ofd
from tests.writers.pdf import write_pdf

TAXPAYER = demo_taxpayers()[0]


def received(count: int = 3) -> list[Invoice]:
    """数电 专票/普票 the demo taxpayer received (the writers write no 特定业务 but the toll)."""
    return [i.invoice for i in iter_demo_invoices(400) if i.nsrsbh == TAXPAYER.nsrsbh and i.direction == "jx"
            and i.invoice.fplx in ("81", "82") and not i.invoice.tdywlx][:count]


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def file_bytes(tmp_path: Path, invoice: Invoice, kind: str) -> bytes:
    path = tmp_path / f"scratch.{kind}"
    if kind == "ofd":
        write_ofd(path, invoice)
    elif kind == "pdf":
        write_pdf(path, invoice)
    else:
        return einvoice_xml(invoice)
    return path.read_bytes()


def download(tmp_path: Path, invoices: list[Invoice], *, name: str = "download.zip",
             other: dict[str, bytes] | None = None) -> Path:
    """download.zip holding invoice.zip holding xml/, ofd/, pdf/ with the same stems. The OFD and
    PDF carry another seller name than the XML, so that the winner shows."""
    members: dict[str, bytes] = {}
    for inv in invoices:
        printed = replace(inv, xfmc=inv.xfmc + "（版式文件）")
        members[f"xml/{inv.fphm}.xml"] = file_bytes(tmp_path, inv, "xml")
        members[f"ofd/{inv.fphm}.ofd"] = file_bytes(tmp_path, printed, "ofd")
        members[f"pdf/{inv.fphm}.pdf"] = file_bytes(tmp_path, printed, "pdf")
    path = tmp_path / name
    path.write_bytes(zip_bytes({"invoice.zip": zip_bytes(members), **(other or {})}))
    return path


def parsed(records: list[ImportRecord]) -> dict[str, Parsed]:
    found = [r for r in records if isinstance(r, Parsed)]
    by_key = {r.invoice.key: r for r in found}
    assert len(by_key) == len(found), "an invoice was yielded twice"
    return by_key


def test_the_bureau_download_yields_each_invoice_once_with_the_xmls_values(tmp_path: Path) -> None:
    invoices = received()
    path = download(tmp_path, invoices, other={"README.txt": b"how to read these files", "logo.png": b"\x89PNG\r\n"})
    records = list(read_invoices(path))
    by_key = parsed(records)
    assert set(by_key) == {inv.key for inv in invoices}
    for inv in invoices:
        record = by_key[inv.key]
        assert record.source.file == f"download.zip/invoice.zip/xml/{inv.fphm}.xml"
        got = record.invoice
        assert (got.xfmc, got.fplx, got.je, got.se, got.jshj, got.kpr) == (inv.xfmc, inv.fplx, inv.je, inv.se,
                                                                             inv.jshj, inv.kpr)
        assert [line.mc for line in got.lines] == [line.mc for line in inv.lines]  # the XML's lines
        assert any("xfmc" in flag and "kept over" in flag for flag in record.flags)  # the OFD/PDF disagreed
    skipped = {r.source.file for r in records if isinstance(r, Skipped)}
    assert skipped == {"download.zip/README.txt", "download.zip/logo.png"}
    assert not [r for r in records if isinstance(r, Rejected)]


def test_folders_and_zips_in_any_nesting(tmp_path: Path) -> None:
    first, second = received(2)
    inner = zip_bytes({"a/b/x.xml": einvoice_xml(first)})
    path = tmp_path / "mixed.zip"
    path.write_bytes(zip_bytes({"deep/inner.zip": inner, "flat/y.pdf": file_bytes(tmp_path, second, "pdf")}))
    by_key = parsed(list(read_invoices(path)))
    assert {k: r.source.file for k, r in by_key.items()} == {
        first.key: "mixed.zip/deep/inner.zip/a/b/x.xml", second.key: "mixed.zip/flat/y.pdf"}


def test_the_bureau_export_wins_and_gives_the_time_of_day(tmp_path: Path) -> None:
    invoices = received()
    export = tmp_path / "export.xlsx"
    write_bureau_export(export, invoices)
    path = tmp_path / "both.zip"
    path.write_bytes(zip_bytes({f"xml/{inv.fphm}.xml": einvoice_xml(inv) for inv in invoices}
                               | {"全量发票查询导出结果.xlsx": export.read_bytes()}))
    by_key = parsed(list(read_invoices(path)))
    for inv in invoices:
        got = by_key[inv.key]
        assert got.source.file == "both.zip/全量发票查询导出结果.xlsx"
        assert got.invoice.kprq == inv.kprq
        assert inv.kprq.time() != datetime.min.time()


def test_a_toll_invoice_stays_a_toll_invoice_whatever_the_ofd_says(tmp_path: Path) -> None:
    toll = toll_invoice()
    path = tmp_path / "toll.zip"
    path.write_bytes(zip_bytes({"ofd/1.ofd": file_bytes(tmp_path, toll, "ofd"), "xml/1.xml": einvoice_xml(toll)}))
    (record,) = parsed(list(read_invoices(path))).values()
    assert (record.invoice.fplx, record.invoice.tdywlx, record.invoice.special) == ("8208", "08", toll.special)


def test_unreadable_members_are_rejected_and_the_rest_imports(tmp_path: Path) -> None:
    invoices = received(2)
    path = tmp_path / "partly.zip"
    path.write_bytes(zip_bytes({
        "xml/good.xml": einvoice_xml(invoices[0]), "xml/bad.xml": b"<EInvoice><Header>",
        "pdf/bad.pdf": b"%PDF-1.4 not really", "broken.zip": b"PK\x03\x04 not a zip",
        "other.xml": b"<Manifest/>", "ofd/good.ofd": file_bytes(tmp_path, invoices[1], "ofd"),
    }))
    records = list(read_invoices(path))
    assert set(parsed(records)) == {inv.key for inv in invoices}
    rejected = {r.source.file: r.reason for r in records if isinstance(r, Rejected)}
    assert set(rejected) == {"partly.zip/xml/bad.xml", "partly.zip/pdf/bad.pdf", "partly.zip/broken.zip"}
    assert "malformed XML" in rejected["partly.zip/xml/bad.xml"]
    assert {r.source.file for r in records if isinstance(r, Skipped)} == {"partly.zip/other.xml"}


def refused(path: Path, limits: BundleLimits | None = None) -> str:
    with pytest.raises(UnreadableFile) as caught:
        list(read_bundle(path, limits) if limits else read_invoices(path))
    return caught.value.reason


@pytest.fixture(autouse=True)
def own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Bundles extract under a temporary directory of this test's own, to see it removed."""
    scratch = tmp_path / "scratch-tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_a_zip_bomb_is_refused(tmp_path: Path, own_tempdir: Path) -> None:
    path = tmp_path / "bomb.zip"
    path.write_bytes(zip_bytes({"xml/1.xml": einvoice_xml(received(1)[0]), "big.xml": b"\0" * (8 * 1024 * 1024)}))
    reason = refused(path)
    assert "compression ratio" in reason
    assert "big.xml" in reason
    assert list(own_tempdir.iterdir()) == []  # the extraction directory is gone


def test_too_much_decompressed_data_is_refused(tmp_path: Path, own_tempdir: Path) -> None:
    path = download(tmp_path, received())
    reason = refused(path, BundleLimits(max_total_bytes=20_000))
    assert "total uncompressed size" in reason
    assert list(own_tempdir.iterdir()) == []


def test_too_deep_a_nesting_is_refused(tmp_path: Path) -> None:
    data = einvoice_xml(received(1)[0])
    for level in range(3):
        data = zip_bytes({f"level{level}.zip" if level else "1.xml": data})
    path = tmp_path / "deep.zip"
    path.write_bytes(data)  # deep.zip/level2.zip/level1.zip/1.xml: three zips, allowed
    assert len(parsed(list(read_invoices(path)))) == 1
    path.write_bytes(zip_bytes({"level3.zip": data}))  # four
    assert "nesting depth" in refused(path)


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(zip_bytes({f"{n}.txt": b"x" for n in range(5)} | {"1.xml": einvoice_xml(received(1)[0])}))
    assert "member count" in refused(path, BundleLimits(max_members=5))
    assert len(list(read_bundle(path, BundleLimits(max_members=6)))) == 6  # five Skipped, one Parsed


def test_a_zip_without_any_invoice_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    path.write_bytes(zip_bytes({"a.jpg": b"\xff\xd8\xff", "notes/readme.txt": b"x"}))
    assert "holds no invoice file" in refused(path)


@pytest.mark.parametrize("name", ["../escape.xml", "xml/../../escape.xml", "/etc/escape.xml", "C:\\escape.xml",
                                  "xml\\..\\..\\escape.xml"])
def test_paths_out_of_the_bundle_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "escape.zip"
    path.write_bytes(zip_bytes({"xml/1.xml": einvoice_xml(received(1)[0]), name: b"<EInvoice/>"}))
    assert "member paths" in refused(path)
    assert not (tmp_path.parent / "escape.xml").exists()


def test_a_corrupt_bundle_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "cut.zip"
    whole = zip_bytes({"xml/1.xml": einvoice_xml(received(1)[0])})
    path.write_bytes(whole[: len(whole) // 2])
    assert "corrupt zip" in refused(path)


def test_import_of_a_bundle_through_the_cli(tmp_path: Path, database_url: str) -> None:
    db = f"sqlite:///{tmp_path / 'import.db'}" if database_url.startswith("sqlite") else database_url
    env = {**os.environ, "FAPIAOHUB_DATABASE_URL": db}
    cli = [sys.executable, "-m", "fapiaohub.cli"]
    creds = json.loads(subprocess.run([*cli, "tenant", "create", "--name", "包导入", "--json"],
                                      capture_output=True, text=True, env=env, check=True).stdout)
    subprocess.run([*cli, "taxpayer", "add", "--corp", creds["corpId"], "--nsrsbh", TAXPAYER.nsrsbh,
                    "--name", TAXPAYER.name], capture_output=True, env=env, check=True)
    invoices = received()
    path = download(tmp_path, invoices, other={"README.txt": b"readme", "bad.pdf": b"%PDF-1.4 broken"})
    done = subprocess.run([*cli, "import", "--corp", creds["corpId"], "--nsrsbh", TAXPAYER.nsrsbh,
                           "--jxxbz", "jx", str(path), "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"]["inserted"] == len(invoices)
    assert result["counts"]["rejected"] == 1
    assert [r["file"] for r in result["rejections"]] == ["download.zip/bad.pdf"]
    months = sorted(inv.kpyf for inv in invoices)
    out = tmp_path / "out.jsonl"
    exported = subprocess.run([*cli, "export", "--corp", creds["corpId"], "--nsrsbh", TAXPAYER.nsrsbh, "--jxxbz", "jx",
                               "--from", str(months[0]), "--to", str(months[-1]), "--format", "jsonl",
                               "--out", str(out)], capture_output=True, text=True, env=env)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == len(invoices)
    assert {row["xfmc"] for row in rows} == {inv.xfmc for inv in invoices}  # the XML's values


def test_gbk_member_names_of_windows_zippers_are_shown_as_written(tmp_path: Path) -> None:
    # Windows tools write GBK names without the UTF-8 flag; put GBK bytes where an ASCII name was
    data = zip_bytes({"xml/AAAA.xml": einvoice_xml(received(1)[0])})
    assert data.count(b"AAAA") == 2  # local header and central directory
    path = tmp_path / "gbk.zip"
    path.write_bytes(data.replace(b"AAAA", "发票".encode("gbk")))
    (record,) = parsed(list(read_invoices(path))).values()
    assert record.source.file == "gbk.zip/xml/发票.xml"
