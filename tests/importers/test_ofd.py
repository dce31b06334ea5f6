"""OFD invoices in every real layout, written by tests/writers/ofd.py: 数电 (tags, CustomData, template, page
text only with Kangxi labels, 建筑服务, the toll platform), 税控 (original_invoice.xml variants, 免税, 差额征税,
XBRL, 销货清单 pages, no page), bad files and hostile archives."""

from __future__ import annotations

import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.validation import uscc_check_char
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import Parsed, Rejected, UnreadableFile
from fapiaohub.importers.ofd import NO_LINES, _Archive
from fapiaohub.importers.ofd_fields import RATE_NOT_STATED, TAX_FREE, TAX_STARS
from fapiaohub.importers.ofd_tax_control import LIST_LINES
from tests.writers.ofd import write_ofd

D = Decimal


def uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


SELLER, BUYER = uscc("91440300MA5DEM101"), uscc("91110108MA0DEM202")


def line(mc: str, je: str, se: str, slv: str, **extra: str) -> InvoiceLine:
    return InvoiceLine(mc=mc, je=D(je), se=D(se), slv=D(slv), **extra)


def digital(fplx: str = "81", lines: list[InvoiceLine] | None = None, bz: str = "", **fields: Any) -> Invoice:
    lines = lines or [line("*信息技术服务*技术服务费", "4197.17", "251.83", "0.06", sl="1", dj="4197.16981132075")]
    je = sum((item.je for item in lines), D(0))
    se = sum((item.se for item in lines), D(0))
    values: dict = dict(fplx=fplx, fphm="24442000000012345678", kprq=datetime(2024, 5, 28), je=je, se=se, jshj=je + se,
                        xfsbh=SELLER, xfmc="深圳示例科技有限公司", gfsbh=BUYER, gfmc="北京示例（集团）有限公司",
                        kpr="王芳", bz=bz, lines=lines)
    values.update(fields)
    return Invoice(**values)


def tax_control(fplx: str = "10", fpdm: str = "033002000211", lines: list[InvoiceLine] | None = None,
                **fields: Any) -> Invoice:
    return digital(fplx, lines or [line("*餐饮服务*餐费", "510.68", "15.32", "0.03", jldw="次", sl="1",
                                          dj="510.679612")],
                   fpdm=fpdm, fphm="83089647", jym="16197833567414507415", **fields)


def read_one(path: Path) -> Parsed:
    (record,) = list(read_invoices(path))
    assert isinstance(record, Parsed), record
    return record


def header(inv: Invoice) -> tuple:
    return (inv.fplx, inv.fpdm, inv.fphm, inv.kprq, inv.je, inv.se, inv.jshj, inv.xfsbh, inv.xfmc, inv.gfsbh,
            inv.gfmc, inv.kpr)


def line_values(inv: Invoice) -> list[tuple]:
    return [(item.mc, item.je, item.se, item.slv.normalize()) for item in inv.lines]


# --- 数电 ---------------------------------------------------------------------------------------------------

def test_tagged_digital_ofd_joins_every_object_a_tag_points_to(tmp_path: Path) -> None:
    inv = digital("81", bz="购方开户银行:工商银行; 银行账号:6222000011112222;\n收款人:李蓉蓉;    复核人:周欣铭;")
    write_ofd(tmp_path / "a.ofd", inv, "sdp", item_piece=7)
    record = read_one(tmp_path / "a.ofd")
    got = record.invoice
    # the title is only in the template; the 开票人 is tagged twice; ¥ and the number are two objects
    assert header(got) == header(inv)
    assert got.lines
    assert line_values(got) == line_values(inv)
    assert got.bz.split("\n") == inv.bz.split("\n")
    assert got.tdywlx == ""
    assert got.special == []
    assert NO_LINES not in record.flags


def test_the_kind_comes_from_the_title_on_the_page_or_in_the_template(tmp_path: Path) -> None:
    for fplx, on_page in (("82", True), ("82", False), ("81", True)):
        path = tmp_path / f"{fplx}{on_page}.ofd"
        write_ofd(path, digital(fplx), "sdp", title_on_page=on_page)
        assert read_one(path).invoice.fplx == fplx


def test_without_custom_data_and_tags_the_page_is_read_by_position(tmp_path: Path) -> None:
    lines = [line("*计算机配套产品*固态硬盘", "1200.00", "156.00", "0.13", ggxh="1TB", jldw="块", sl="2", dj="600"),
             line("*纸制品*复印纸", "300.00", "39.00", "0.13", jldw="箱", sl="3", dj="100"),
             line("*信息技术服务*软件维护服务", "1000.00", "60.00", "0.06", jldw="项", sl="1", dj="1000")]
    inv = digital("82", lines, bz="项目：示例项目")
    write_ofd(tmp_path / "b.ofd", inv, "sdp", custom_data=False, tags=False, item_piece=6)
    got = read_one(tmp_path / "b.ofd").invoice
    assert header(got) == header(inv)
    assert line_values(got) == line_values(inv)
    assert [(item.jldw, item.sl, item.dj) for item in got.lines] == [("块", "2", "600"), ("箱", "3", "100"),
                                                                      ("项", "1", "1000")]
    assert got.bz == "项目：示例项目"


def test_htfoxit_page_text_with_kangxi_labels(tmp_path: Path) -> None:
    inv = digital("82", [line("*餐饮服务*餐饮费", "1455.45", "14.55", "0.01", sl="1", dj="1455.44554455446")])
    write_ofd(tmp_path / "c.ofd", inv, "htfoxit")
    with zipfile.ZipFile(tmp_path / "c.ofd") as archive:  # the test is about these code points
        assert "统⼀社会信用代码/纳税⼈识别号".encode() in archive.read("Doc_0/Pages/Page_0/Content.xml")
    got = read_one(tmp_path / "c.ofd").invoice
    assert header(got) == header(inv)
    assert line_values(got) == line_values(inv)


def test_construction_label_above_the_title_sets_the_business_and_its_elements(tmp_path: Path) -> None:
    inv = digital("81", [line("*建筑服务*【KX240122008】客户响应中心施工项目", "20000.00", "1800.00", "0.09")],
                  bz="土地增值税项目编号:-; 跨地（市）标志:是;\n项目地点：示例市示例区",
                  special=[{"jzfwfsd": "广东省示例市示例区", "jzxmmc": "示例分公司客户响应中心施工合同"}])
    write_ofd(tmp_path / "d.ofd", inv, "sdp", business="建筑服务", item_piece=8)
    got = read_one(tmp_path / "d.ofd").invoice
    assert (got.fplx, got.tdywlx) == ("81", "03")
    assert line_values(got) == line_values(inv)
    assert got.special == [{"tdzzsxmbh": "-", "kdsbz": "是", "jzfwfsd": "广东省示例市示例区",
                            "jzxmmc": "示例分公司客户响应中心施工合同"}]


def test_a_column_without_a_role_keeps_its_values_apart(tmp_path: Path) -> None:
    inv = digital("82", [line("*经营租赁*房屋租赁", "10000.00", "900.00", "0.09", jldw="平方米")],
                  special=[{"cqzs": "粤(2024)示例市不动产权第0001234号"}])
    write_ofd(tmp_path / "r.ofd", inv, "sdp", business="不动产经营租赁服务")
    got = read_one(tmp_path / "r.ofd").invoice
    assert (got.fplx, got.tdywlx) == ("82", "06")
    assert got.special == inv.special  # 面积单位 is no 特定要素 and is not run into the 不动产权证号
    assert line_values(got) == line_values(inv)


def test_toll_platform_ofd_is_a_toll_invoice_with_its_vehicle_and_dates(tmp_path: Path) -> None:
    inv = digital("8208", [line("*经营租赁*通行费", "28.50", "0.85", "0.03")], kpr="钱德松",
                  fphm="26537911600200015030", kprq=datetime(2026, 2, 7), tdywlx="08",
                  special=[{"cph": "云ADA0381", "cllx": "客车", "txrqq": "20260205", "txrqz": "20260206"}])
    write_ofd(tmp_path / "e.ofd", inv, "toll")
    got = read_one(tmp_path / "e.ofd").invoice
    assert header(got) == header(inv)
    assert got.tdywlx == "08"
    assert line_values(got) == [("*经营租赁*通行费", D("28.50"), D("0.85"), D("0.03"))]
    assert got.special == inv.special


def test_an_amount_that_is_not_printed_is_rejected_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "f.ofd"
    write_ofd(path, digital("82", [line("*经营租赁*通行费", "28.50", "0.85", "0.03")],
                            special=[{"cph": "云A1", "cllx": "客车", "txrqq": "20260205", "txrqz": "20260205"}]), "toll")
    broken = tmp_path / "broken.ofd"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            target.writestr(member, data.replace("¥29.35".encode(), "¥--".encode()))
    (record,) = list(read_invoices(broken))
    assert isinstance(record, Rejected)
    assert "broken.ofd" in record.reason
    assert "价税合计" in record.reason


def test_a_digital_ofd_without_a_printed_kind_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "g.ofd"
    write_ofd(path, digital("82"), "sdp")
    stripped = tmp_path / "untitled.ofd"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(stripped, "w") as target:
        for member in source.infolist():
            target.writestr(member, source.read(member).replace("电子发票（普通发票）".encode(), b"X"))
    (record,) = list(read_invoices(stripped))
    assert isinstance(record, Rejected)
    assert "kind" in record.reason


def test_an_invalid_seller_id_is_rejected(tmp_path: Path) -> None:
    bad = SELLER[:-1] + ("A" if SELLER[-1] != "A" else "B")
    write_ofd(tmp_path / "h.ofd", digital("82", xfsbh=bad), "sdp")
    (record,) = list(read_invoices(tmp_path / "h.ofd"))
    assert isinstance(record, Rejected)
    assert "xfsbh" in record.reason


# --- 税控 ---------------------------------------------------------------------------------------------------

def test_tax_control_attachment_by_local_name_with_bom_cdata_and_whitespace(tmp_path: Path) -> None:
    inv = tax_control("10", bz="订单号：A-1\n第二行", kpr="管理员")
    write_ofd(tmp_path / "i.ofd", inv, "skp", bom=True, cdata=True, pretty=True, unprefixed=True, codes=True)
    with zipfile.ZipFile(tmp_path / "i.ofd") as archive:
        data = archive.read("Doc_0/Attachs/original_invoice.xml")
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"<![CDATA[" in data
    assert b"<eInvoice " in data
    got = read_one(tmp_path / "i.ofd").invoice
    assert header(got) == header(inv)
    assert (got.jym, got.bz) == (inv.jym, inv.bz)
    assert line_values(got) == [("*餐饮服务*餐费", D("510.68"), D("15.32"), D("0.03"))]
    assert got.lines[0].jldw == "次"
    assert got.gmfdzdh == ""  # an empty value pretty-printed as whitespace


def test_tax_control_kind_from_the_code_digits(tmp_path: Path) -> None:
    for fplx, code in (("10", "033002000211"), ("08", "052002100113")):
        write_ofd(tmp_path / f"{code}.ofd", tax_control(fplx, code), "skp", title="示例")
        assert read_one(tmp_path / f"{code}.ofd").invoice.fplx == fplx


def test_nonstandard_code_digits_leave_the_kind_to_the_printed_title(tmp_path: Path) -> None:
    inv = tax_control("08", "033002000299")
    write_ofd(tmp_path / "j.ofd", inv, "skp", title="贵州增值税电子专用发票")
    assert read_one(tmp_path / "j.ofd").invoice.fplx == "08"
    write_ofd(tmp_path / "k.ofd", inv, "skp", title="示例发票")
    (record,) = list(read_invoices(tmp_path / "k.ofd"))
    assert isinstance(record, Rejected)
    assert "kind" in record.reason


def test_tax_free_stars_are_zero_tax(tmp_path: Path) -> None:
    inv = tax_control("10", lines=[line("*蔬菜*白菜", "100.00", "0.00", "0", jldw="千克")], se=D("0.00"),
                      jshj=D("100.00"))
    write_ofd(tmp_path / "l.ofd", inv, "skp", tax_free=True)
    record = read_one(tmp_path / "l.ofd")
    assert (record.invoice.se, record.invoice.jshj) == (D("0.00"), D("100.00"))
    assert line_values(record.invoice) == [("*蔬菜*白菜", D("100.00"), D("0.00"), D("0"))]
    assert TAX_STARS in record.flags
    assert TAX_FREE in record.flags


def test_difference_taxation_rate_is_not_stated(tmp_path: Path) -> None:
    inv = tax_control("10", lines=[line("*印刷品*POP制作费", "198.04", "1.96", "0.01", jldw="组")], bz="差额征税：2.00。")
    write_ofd(tmp_path / "m.ofd", inv, "skp", rate_stars=True)
    record = read_one(tmp_path / "m.ofd")
    assert line_values(record.invoice) == [("*印刷品*POP制作费", D("198.04"), D("1.96"), D("0"))]
    assert RATE_NOT_STATED in record.flags
    assert record.invoice.bz == "差额征税：2.00。"


def test_xbrl_attachment(tmp_path: Path) -> None:
    inv = tax_control("08", "052002100199", kpr="张三", bz="备注一")
    write_ofd(tmp_path / "n.ofd", inv, "skp", xbrl=True)
    got = read_one(tmp_path / "n.ofd").invoice
    assert header(got) == header(inv)  # kind from TypeOfInvoice: the code digits are nonstandard
    assert (got.jym, got.bz) == (inv.jym, "备注一")
    assert line_values(got) == [("*餐饮服务*餐费", D("510.68"), D("15.32"), D("0.03"))]


def test_lines_on_the_list_pages(tmp_path: Path) -> None:
    lines = [line(f"*纸制品*复印纸{n}号", f"{100 + n}.00", f"{13 + n}.00", "0.13", jldw="箱") for n in range(10)]
    lines = [InvoiceLine(mc=item.mc, je=item.je, se=(item.je * D("0.13")).quantize(D("0.01")), slv=item.slv,
                         jldw="箱") for item in lines]
    inv = tax_control("10", lines=lines)
    write_ofd(tmp_path / "o.ofd", inv, "skp", list_pages=True)
    record = read_one(tmp_path / "o.ofd")
    assert line_values(record.invoice) == line_values(inv)
    assert record.invoice.xhqd_bz == "Y"
    assert LIST_LINES in record.flags


def test_a_tax_control_ofd_without_a_page(tmp_path: Path) -> None:
    inv = tax_control("08", "033002000288")
    write_ofd(tmp_path / "p.ofd", inv, "skp", no_page=True, title="浙江增值税电子专用发票")
    with zipfile.ZipFile(tmp_path / "p.ofd") as archive:
        assert not [name for name in archive.namelist() if name.startswith("Doc_0/Pages/")]
    assert read_one(tmp_path / "p.ofd").invoice.fplx == "08"  # the title is only in the template


# --- bad files ------------------------------------------------------------------------------------------------

def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


OFD_ROOT = (b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocInfo/>'
            b"<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>")


def test_an_ofd_without_invoice_data_is_unreadable(tmp_path: Path) -> None:
    path = _zip(tmp_path / "empty.ofd", {"OFD.xml": OFD_ROOT,
                                          "Doc_0/Document.xml": b'<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"/>'})
    with pytest.raises(UnreadableFile, match="no invoice data") as caught:
        list(read_invoices(path))
    assert "empty.ofd" in str(caught.value)
    page = (b'<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content><ofd:Layer><ofd:TextObject ID="1" '
            b'Boundary="10 10 100 5" Size="3"><ofd:TextCode X="0" Y="3">\xe5\x90\x88\xe5\x90\x8c</ofd:TextCode>'
            b"</ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>")
    document = (b'<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Pages><ofd:Page ID="1" '
                b'BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages></ofd:Document>')
    path = _zip(tmp_path / "contract.ofd", {"OFD.xml": OFD_ROOT, "Doc_0/Document.xml": document,
                                             "Doc_0/Pages/Page_0/Content.xml": page})
    with pytest.raises(UnreadableFile, match="contract.ofd: an OFD without invoice data"):
        list(read_invoices(path))
    path = _zip(tmp_path / "nodoc.ofd", {"OFD.xml": OFD_ROOT})
    with pytest.raises(UnreadableFile, match="Document.xml is missing"):
        list(read_invoices(path))


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
    not_ofd = _zip(tmp_path / "x.ofd", {"OFD.xml": b"<x/>"})
    with pytest.raises(UnreadableFile, match="not <OFD>"):
        list(read_invoices(not_ofd))


def test_a_lying_header_is_caught_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "ok.ofd"
    write_ofd(path, digital("82"), "sdp")
    # the central directory passed; the bytes actually inflated are bounded as well
    archive = _Archive(path)
    archive.budget = 100
    with pytest.raises(UnreadableFile, match="decompresses"):
        archive.read("Doc_0/Pages/Page_0/Content.xml")
    archive.close()
