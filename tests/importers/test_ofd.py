"""OFD invoices, both variants: round trips through the project's writer, hostile archives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import Parsed, Rejected, UnreadableFile
from fapiaohub.importers.ofd import NO_LINES, _Archive
from tests.writers.ofd import write_ofd


def invoices_of(*kinds: str, count: int = 6) -> list:
    return [i.invoice for i in iter_demo_invoices(600) if i.invoice.fplx in kinds][:count]


def test_digital_ofd_round_trips_the_header(tmp_path: Path) -> None:
    for number, inv in enumerate(invoices_of("81", "82")):
        path = tmp_path / f"{number}.ofd"
        write_ofd(path, inv, "sdp")
        (record,) = list(read_invoices(path))
        assert isinstance(record, Parsed), record
        got = record.invoice
        assert (got.key, got.fplx, got.kprq.date(), got.je, got.se, got.jshj) == (
            inv.key, inv.fplx, inv.kprq.date(), inv.je, inv.se, inv.jshj)
        assert (got.xfsbh, got.xfmc, got.gfsbh, got.gfmc) == (inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc)
        assert got.lines == [] and NO_LINES in record.flags


def test_tax_control_ofd_round_trips_with_lines(tmp_path: Path) -> None:
    for number, inv in enumerate(invoices_of("10", "08")):
        path = tmp_path / f"{number}.ofd"
        write_ofd(path, inv, "skp")
        (record,) = list(read_invoices(path))
        assert isinstance(record, Parsed), record
        got = record.invoice
        assert (got.fpdm, got.fphm, got.fplx, got.jym, got.jshj) == (inv.fpdm, inv.fphm, inv.fplx, inv.jym, inv.jshj)
        assert [(l.mc, l.je, l.se, l.slv) for l in got.lines] == [(l.mc, l.je, l.se, l.slv.normalize()) for l in inv.lines]


def test_an_invalid_seller_id_is_rejected(tmp_path: Path) -> None:
    inv = invoices_of("82", count=1)[0]
    inv.xfsbh = inv.xfsbh[:-1] + ("A" if inv.xfsbh[-1] != "A" else "B")
    path = tmp_path / "seller.ofd"
    write_ofd(path, inv)
    (record,) = list(read_invoices(path))
    assert isinstance(record, Rejected) and "xfsbh" in record.reason


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_hostile_archives_are_unreadable(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.ofd"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", "<x/>")
        with archive.open("Doc_0/Res/huge.bin", "w") as member:
            for _ in range(60):
                member.write(b"\0" * 1024 * 1024)
    with pytest.raises(UnreadableFile, match="more than 50 MB"):
        list(read_invoices(bomb))
    escape = _zip(tmp_path / "escape.ofd", {"OFD.xml": b"<x/>", "../../etc/cron.d/evil": b"x"})
    with pytest.raises(UnreadableFile, match="escapes"):
        list(read_invoices(escape))
    foreign = _zip(tmp_path / "photos.zip", {"a.jpg": b"x"})
    with pytest.raises(UnreadableFile, match="neither an xlsx workbook nor an OFD"):
        list(read_invoices(foreign))
    entity = _zip(tmp_path / "xxe.ofd", {"OFD.xml": b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'})
    with pytest.raises(UnreadableFile, match="DOCTYPE"):
        list(read_invoices(entity))


def test_a_lying_header_is_caught_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "ok.ofd"
    write_ofd(path, invoices_of("82", count=1)[0])
    # the central directory passed; the bytes actually inflated are bounded as well
    archive = _Archive(path)
    archive.budget = 100
    with pytest.raises(UnreadableFile, match="decompresses"):
        archive.read("Doc_0/Pages/Page_0/Content.xml")
    archive.close()
