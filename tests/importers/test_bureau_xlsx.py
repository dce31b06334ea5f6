"""The bureau's 全量发票查询 export in its real layout: lines, totals, 特定业务 sheets, statuses, bad rows, bad files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from fapiaohub.demo.generator import demo_taxpayers, iter_demo_invoices
from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.importers import bureau_xlsx, read_invoices
from fapiaohub.importers.base import Parsed, Rejected, Skipped, UnreadableFile
from fapiaohub.importers.bureau_xlsx import read_bureau_export
from fapiaohub.importers.xlsx_stream import StreamingWorkbook
from fapiaohub.shapes.bureau_layout import BASIC_HEADER, LINE_HEADER, write_bureau_export

BUYER, SELLER = demo_taxpayers()[0], demo_taxpayers()[1]
RAILWAY_SHEET_KEYS = ("lkxm", "yxsfzh", "cfd", "ddd", "cxcc", "rq", "sj")


def sample(count: int = 240) -> list[Invoice]:
    return [item.invoice for item in iter_demo_invoices(count) if item.invoice.fplx != "17"]


def make(fphm: str, lines: list[tuple[str, str, str, str]], *, fplx: str = "82", fpdm: str = "",
         **fields: Any) -> Invoice:
    """An invoice of SELLER to BUYER; lines are (name, 金额, 税额, rate)."""
    items = [InvoiceLine(mc=mc, je=Decimal(je), se=Decimal(se), slv=Decimal(rate), spbm="3040502020301000000",
                         sl="1" if Decimal(je) > 0 else "", dj=je if Decimal(je) > 0 else "")
             for mc, je, se, rate in lines]
    je = sum((line.je for line in items), Decimal("0.00"))
    se = sum((line.se for line in items), Decimal("0.00"))
    values: dict[str, Any] = {"fplx": fplx, "fpdm": fpdm, "fphm": fphm, "kprq": datetime(2026, 1, 31, 17, 6, 28),
                              "je": je, "se": se, "jshj": je + se, "xfsbh": SELLER.nsrsbh, "xfmc": SELLER.name,
                              "gfsbh": BUYER.nsrsbh, "gfmc": BUYER.name, "kpr": "开票员", "lines": items}
    return Invoice(**{**values, **fields})


def header_fields(inv: Invoice) -> tuple:
    return (inv.key, inv.fplx, inv.xfsbh, inv.xfmc, inv.gfsbh, inv.gfmc, inv.kprq, inv.je, inv.se,
            inv.jshj, inv.fpzt_dm, inv.kpr, inv.bz)


def line_fields(inv: Invoice) -> list[tuple]:
    return [(l.mc, l.je, l.se, l.slv.normalize(), l.spbm, l.ggxh, l.sl, l.jldw, l.dj) for l in inv.lines]


def records(path: Path) -> tuple[list[Parsed], list[Rejected], list[Skipped]]:
    found = list(read_bureau_export(path))
    return ([r for r in found if isinstance(r, Parsed)], [r for r in found if isinstance(r, Rejected)],
            [r for r in found if isinstance(r, Skipped)])


def by_key(path: Path) -> dict[str, Invoice]:
    parsed, rejected, _ = records(path)
    assert rejected == []
    found = {p.invoice.key: p.invoice for p in parsed}
    assert len(found) == len(parsed), "an invoice was stored twice"
    return found


def written(tmp_path: Path, invoices: list[Invoice], name: str = "全量发票查询导出结果.xlsx", **options: Any) -> Path:
    path = tmp_path / name
    write_bureau_export(path, invoices, **options)
    return path


def edit(path: Path, sheet: str, row: int, column: str, value: object) -> None:
    book = openpyxl.load_workbook(path)
    header = [cell.value for cell in book[sheet][1]]
    book[sheet].cell(row=row, column=header.index(column) + 1, value=value)
    book.save(path)


# --- the writer's layout and the round trip -----------------------------------------------------

def test_the_writer_writes_the_real_layout(tmp_path: Path) -> None:
    toll = make("26537911970100111953", [("*经营租赁*通行费", "22.82", "0.68", "0.03")], fplx="8208", tdywlx="08",
                special=[{"cph": "云A00001", "cllx": "客车", "txrqq": "2026-01-31 00:00:00",
                          "txrqz": "2026-01-31 00:00:00"}])
    tax_control = make("23195398", [("*运输服务*票款", "3.67", "0.33", "0.09")], fplx="10", fpdm="053002400111")
    path = written(tmp_path, [toll, tax_control])
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["信息汇总表", "发票基础信息", "通行费数电发票"]
    lines = [[c.value for c in row] for row in book["信息汇总表"].iter_rows()]
    basic = [[c.value for c in row] for row in book["发票基础信息"].iter_rows()]
    assert lines[0] == LINE_HEADER
    assert len(LINE_HEADER) == 27
    assert basic[0] == BASIC_HEADER
    assert len(BASIC_HEADER) == 19
    first = dict(zip(LINE_HEADER, lines[1], strict=True))
    assert first["序号"] == "1"
    assert first["开票日期"] == "2026-01-31 17:06:28"
    assert first["税率"] == "3%"
    assert first["发票票种"] == "数电发票（通行费发票）"
    assert first["特定业务类型"] == "通行费"
    assert first["发票来源"] == "电子发票服务平台"
    assert first["数量"] == "1"
    second = dict(zip(LINE_HEADER, lines[2], strict=True))
    assert (second["发票代码"], second["发票号码"], second["数电发票号码"]) == ("053002400111", "23195398", "--")
    assert second["发票来源"] == "增值税发票管理系统"
    assert second["发票票种"] == "增值税电子普通发票"
    total = dict(zip(BASIC_HEADER, basic[-1], strict=True))
    assert total["序号"] == "合计行"
    assert total["价税合计"] in ("", None)
    assert (total["金额"], total["税额"]) == (pytest.approx(26.49), pytest.approx(1.01))


def test_round_trip_of_the_writer(tmp_path: Path) -> None:
    invoices = sample()
    found = by_key(written(tmp_path, invoices))
    assert len(found) == len(invoices)
    for inv in invoices:
        got = found[inv.key]
        assert header_fields(got) == header_fields(inv)
        assert line_fields(got) == line_fields(inv)
        assert got.tdywlx == (inv.tdywlx or ("08" if inv.fplx == "8208" else ""))
        assert got.special == inv.special
        if inv.fplx == "51":  # the bureau's 铁路电子客票 sheet has these of the xcdList keys
            assert got.itinerary == [{k: e[k] for k in RAILWAY_SHEET_KEYS} for e in inv.itinerary]
    assert any(i.special for i in invoices)
    assert any(i.fplx == "51" for i in invoices)


# --- what is read from where ----------------------------------------------------------------------

def test_lines_are_read_from_the_line_sheet(tmp_path: Path) -> None:
    inv = make("26532000000164714506", [("*住宿服务*住宿服务", "594.06", "5.94", "0.01"),
                                        ("*住宿服务*住宿服务", "485.15", "4.85", "0.01")], bz="收款人:甲\n复核人:乙")
    inv.lines[0].ggxh, inv.lines[0].jldw, inv.lines[0].sl, inv.lines[0].dj = "单人间", "间次", "12", "49.5049504950495"
    got = by_key(written(tmp_path, [inv]))[inv.key]
    assert line_fields(got) == line_fields(inv)
    assert (got.je, got.se, got.jshj, got.bz) == (Decimal("1079.21"), Decimal("10.79"), Decimal("1090.00"), inv.bz)


def test_tax_control_rows_are_identified_by_code_and_number(tmp_path: Path) -> None:
    first = make("23195398", [("*运输服务*票款", "3.67", "0.33", "0.09")], fplx="10", fpdm="053002400111")
    second = make("23195208", [("*运输服务*票款", "3.67", "0.33", "0.09")] * 2, fplx="10", fpdm="053002400111")
    other_code = make("23195208", [("*运输服务*票款", "3.67", "0.33", "0.09")], fplx="10", fpdm="053002500111")
    found = by_key(written(tmp_path, [first, second, other_code]))
    assert sorted(found) == sorted(["053002400111:23195398", "053002400111:23195208", "053002500111:23195208"])
    assert "--" not in found
    assert all(inv.fpdm for inv in found.values())
    assert len(found["053002400111:23195208"].lines) == 2
    assert found["053002400111:23195208"].jshj == Decimal("8.00")


def test_special_sheets_go_into_special_and_tdywlx(tmp_path: Path) -> None:
    toll = make("26537912210100853822", [("*经营租赁*通行费", "122.67", "3.68", "0.03")], fplx="8208", tdywlx="08",
                special=[{"cph": "云A00002", "cllx": "客车", "txrqq": "2026-01-29 00:00:00",
                          "txrqz": "2026-01-29 00:00:00"}])
    passenger = make("26537000000219710167", [("*运输服务*旅客运输服务费", "24.47", "0.73", "0.03")], tdywlx="09",
                     special=[{"cxr": "张三", "yxsfzh": "110101199001011234", "cxrq": "2025-12-29", "cfd": "东部汽车客运站",
                               "ddd": "石林县城", "jtgjlx": "汽车"}])
    rent = make("26537200000001307916", [("*经营租赁*车辆停放服务费", "4.76", "0.24", "0.05")], tdywlx="06",
                special=[{"cqzs": "无", "cph": '["云A00003"]'}])
    building = make("26532000000107563426", [("*建筑服务*工程服务", "1000.00", "90.00", "0.09")], fplx="81",
                    tdywlx="03", special=[{"kqybh": "KQ2026001", "jzfwfsd": "云南省昆明市", "jzxmmc": "办公楼改造"}])
    railway = make("26539148631000016633", [("*运输服务*客运服务费", "30.28", "2.72", "0.09")], fplx="51",
                   itinerary=[{"lkxm": "李四", "yxsfzh": "5303261997****0896", "cfd": "玉溪", "ddd": "昆明",
                               "cxcc": "D236", "rq": "2026-01-28", "sj": "13:08"}])
    path = written(tmp_path, [toll, passenger, rent, building, railway])
    assert openpyxl.load_workbook(path, read_only=True).sheetnames == [
        "信息汇总表", "发票基础信息", "通行费数电发票", "旅客运输服务", "不动产经营租赁服务", "建筑服务", "铁路电子客票"]
    found = by_key(path)
    for inv in (toll, passenger, rent, building):
        assert (found[inv.key].tdywlx, found[inv.key].special) == (inv.tdywlx, inv.special)
    assert found[railway.key].itinerary == railway.itinerary
    assert (found[railway.key].special, found[railway.key].tdywlx) == ([], "")
    assert found[toll.key].fplx == "8208"


def test_an_invoice_named_in_several_sheets_is_stored_once(tmp_path: Path) -> None:
    passenger = make("26537000000219710161", [("*运输服务*旅客运输服务费", "24.47", "0.73", "0.03"),
                                              ("*物流辅助服务*站务费", "0.75", "0.05", "0.06")], tdywlx="09",
                     special=[{"cxr": "张三", "cxrq": "2026-01-05"}, {"cxr": "王五", "cxrq": "2026-01-05"}])
    without_lines = make("26537000000050384429", [("*电信服务*通信服务费", "400.00", "0.00", "0")])
    without_lines.lines = []
    found = by_key(written(tmp_path, [passenger, without_lines]))
    assert sorted(found) == sorted([passenger.key, without_lines.key])
    assert found[passenger.key].special == passenger.special
    assert len(found[passenger.key].lines) == 2
    assert found[without_lines.key].lines == []
    assert found[without_lines.key].jshj == Decimal("400.00")


def test_an_invoice_with_lines_but_no_invoice_row_takes_its_totals_from_the_lines(tmp_path: Path) -> None:
    invoices = [make("26532000000164714506", [("*住宿服务*住宿服务", "594.06", "5.94", "0.01")] * 2),
                make("26532000000164714507", [("*住宿服务*住宿服务", "100.00", "1.00", "0.01")])]
    path = written(tmp_path, invoices)
    book = openpyxl.load_workbook(path)
    book["发票基础信息"].delete_rows(2)
    book.save(path)
    found = by_key(path)
    assert sorted(found) == sorted(inv.key for inv in invoices)
    assert (found[invoices[0].key].je, found[invoices[0].key].jshj) == (Decimal("1188.12"), Decimal("1200.00"))

def test_the_invoice_sheet_in_another_order_than_the_lines_reads_the_same(tmp_path: Path) -> None:
    """发票基础信息 is read alongside the lines, as far as the invoice being finished: in the bureau's
    order (the same in both sheets) an invoice's totals are at hand, in any other order the rows
    passed are held until their lines come."""
    invoices = sample(60)
    expected = by_key(written(tmp_path, invoices, "same.xlsx"))
    path = written(tmp_path, invoices, "reversed.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book["发票基础信息"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    for number, values in enumerate([*reversed(rows[:-1]), rows[-1]], start=2):  # the 合计行 stays last
        for column, value in enumerate(values, start=1):
            sheet.cell(row=number, column=column, value=value)
    book.save(path)
    found = by_key(path)
    assert found == expected
    assert len(found) == len({inv.key for inv in invoices})


def test_the_bureau_order_holds_one_invoice_total_at_a_time(tmp_path: Path) -> None:
    held: list[int] = []
    finish = bureau_xlsx._Import._finish

    def watched(self: Any, plan: Any, pending: Any) -> Any:
        held.append(len(self.totals))
        return finish(self, plan, pending)

    path = written(tmp_path, sample(120))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bureau_xlsx._Import, "_finish", watched)
        parsed, rejected, _ = records(path)
    assert len(parsed) > 50
    assert rejected == []
    assert max(held) == 1  # the finished invoice's own


def test_an_invoice_listed_twice_in_the_invoice_sheet_is_stored_once(tmp_path: Path) -> None:
    invoices = [make("26532000000164714506", [("*住宿服务*住宿服务", "594.06", "5.94", "0.01")]),
                make("26532000000164714507", [("*住宿服务*住宿服务", "100.00", "1.00", "0.01")])]
    path = written(tmp_path, invoices)
    book = openpyxl.load_workbook(path)
    sheet = book["发票基础信息"]
    sheet.insert_rows(4)  # after both invoices, before the 合计行: the first invoice again
    for column, cell in enumerate(sheet[2], start=1):
        sheet.cell(row=4, column=column, value=cell.value)
    book.save(path)
    parsed, rejected, _ = records(path)
    assert sorted(p.invoice.key for p in parsed) == sorted(inv.key for inv in invoices)
    (twice,) = rejected
    assert (twice.source.sheet, twice.source.row) == ("发票基础信息", 4)
    assert "listed twice" in twice.reason
    assert "rows 2 and 4" in twice.reason


def test_amounts_from_ten_million_on_read_back_from_pois_scientific_form(tmp_path: Path) -> None:
    """POI writes a number as Java's Double.toString does: 1.2345678E7 from 10^7 on."""
    big = make("26532000000164714508", [("*建筑服务*工程款", "12345678.90", "1111111.10", "0.09")])
    path = written(tmp_path, [big])
    with zipfile.ZipFile(path) as archive:
        assert b"<v>1.23456789E7</v>" in archive.read("xl/worksheets/sheet1.xml")
    found = by_key(path)[big.key]
    assert (found.je, found.se, found.jshj) == (Decimal("12345678.90"), Decimal("1111111.10"), Decimal("13456790.00"))


def test_a_special_sheet_can_be_absent(tmp_path: Path) -> None:
    passenger = make("26537000000219710161", [("*运输服务*客运服务费", "65.05", "1.95", "0.03")], tdywlx="09",
                     special=[{"cxr": "张三"}])
    path = written(tmp_path, [passenger], variations={"without_special_sheets"})
    assert openpyxl.load_workbook(path, read_only=True).sheetnames == ["信息汇总表", "发票基础信息"]
    got = by_key(path)[passenger.key]
    assert (got.tdywlx, got.special) == ("09", [])


def test_an_invoice_only_in_a_special_sheet_is_rejected(tmp_path: Path) -> None:
    toll = make("26537912210100853822", [("*经营租赁*通行费", "122.67", "3.68", "0.03")], fplx="8208", tdywlx="08",
                special=[{"cph": "云A00002"}])
    path = written(tmp_path, [toll])
    edit(path, "通行费数电发票", 2, "数电发票号码", "26537912210100999999")
    parsed, rejected, _ = records(path)
    assert [p.invoice.key for p in parsed] == [toll.key]
    assert parsed[0].invoice.special == []
    (alone,) = rejected
    assert alone.source.sheet == "通行费数电发票"
    assert alone.source.row == 2
    assert "26537912210100999999" in alone.reason


def test_red_and_cancelled_blue_invoices(tmp_path: Path) -> None:
    blue = make("26534000000014399086", [("*信息系统服务*信息技术服务费", "50538.41", "505.38", "0.01")], fplx="81",
                fpzt_dm="8")
    red = make("26534000000002068291", [("*信息系统服务*信息技术服务费", "-50538.41", "-505.38", "0.01")], fplx="81",
               bz="被红冲蓝字数电发票号码：26534000000014399086 红字发票信息确认单编号：53010326021013619373")
    path = written(tmp_path, [red, blue])
    book = openpyxl.load_workbook(path)
    rows = {row[3].value: row for row in book["发票基础信息"].iter_rows(min_row=2)}
    header = BASIC_HEADER
    assert rows[red.fphm][header.index("是否正数发票")].value == "否"
    assert rows[blue.fphm][header.index("发票状态")].value == "已红冲-全额"
    found = by_key(path)
    assert (found[blue.key].fpzt_dm, found[blue.key].jshj) == ("8", Decimal("51043.79"))
    assert (found[red.key].fpzt_dm, found[red.key].jshj) == ("0", Decimal("-51043.79"))
    assert found[red.key].lines[0].je == Decimal("-50538.41")


def test_a_red_mark_on_positive_amounts_is_rejected(tmp_path: Path) -> None:
    inv = make("26332000001177307071", [("*配电控制设备*断路器", "40.00", "0.00", "0")])
    path = written(tmp_path, [inv])
    edit(path, "信息汇总表", 2, "是否正数发票", "否")
    _, rejected, _ = records(path)
    assert len(rejected) == 1
    assert "是否正数发票" in rejected[0].reason


def test_discount_lines_are_kept(tmp_path: Path) -> None:
    fuel = make("26537000000000211001", [("*汽油*92号车用汽油(ⅥB)", "194.69", "25.31", "0.13"),
                                         ("*汽油*92号车用汽油(ⅥB)", "-16.55", "-2.15", "0.13")], tdywlx="01")
    fuel.lines[0].sl, fuel.lines[0].dj = "31.79", "6.124252909720038"
    got = by_key(written(tmp_path, [fuel]))[fuel.key]
    assert [(l.mc, l.je, l.se, l.sl, l.dj) for l in got.lines] == [
        ("*汽油*92号车用汽油(ⅥB)", Decimal("194.69"), Decimal("25.31"), "31.79", "6.124252909720038"),
        ("*汽油*92号车用汽油(ⅥB)", Decimal("-16.55"), Decimal("-2.15"), "", "")]
    assert (got.je, got.se, got.jshj, got.tdywlx) == (Decimal("178.14"), Decimal("23.16"), Decimal("201.30"), "01")


@pytest.mark.parametrize(("text", "flag"), [("免税", "税率为免税"), ("不征税", "税率为不征税"), ("0%", None)])
def test_rate_words_are_zero_with_a_flag(tmp_path: Path, text: str, flag: str | None) -> None:
    inv = make("26537000000230189626", [("*预付卡销售*加油IC卡充值款", "3000.00", "0.00", "0")])
    path = written(tmp_path, [inv])
    edit(path, "信息汇总表", 2, "税率", text)
    (parsed,), _, _ = records(path)
    assert parsed.invoice.lines[0].slv == 0
    assert (flag in parsed.flags) if flag else not any("税率" in f for f in parsed.flags)


def test_the_total_row_is_skipped(tmp_path: Path) -> None:
    invoices = sample(60)
    path = written(tmp_path, invoices)
    last = list(openpyxl.load_workbook(path)["发票基础信息"].iter_rows(values_only=True))[-1]
    assert last[0] == "合计行"
    parsed, rejected, skipped = records(path)
    assert (len(parsed), rejected, skipped) == (len(invoices), [], [])


# --- what is refused --------------------------------------------------------------------------------

def test_totals_that_differ_from_the_lines_reject_the_invoice(tmp_path: Path) -> None:
    invoices = [make("26532000000164714506", [("*住宿服务*住宿服务", "594.06", "5.94", "0.01")] * 2),
                make("26532000000164714507", [("*住宿服务*住宿服务", "100.00", "1.00", "0.01")])]
    path = written(tmp_path, invoices)
    edit(path, "发票基础信息", 2, "金额", 1188.13)
    edit(path, "发票基础信息", 2, "价税合计", 1200.01)
    parsed, rejected, _ = records(path)
    assert [p.invoice.key for p in parsed] == [invoices[1].key]
    (bad,) = rejected
    assert (bad.source.sheet, bad.source.row) == ("发票基础信息", 2)
    assert "1188.13" in bad.reason
    assert "'信息汇总表' rows 2–3" in bad.reason
    assert "1188.12" in bad.reason


def test_unknown_sheets_are_skipped_by_name(tmp_path: Path) -> None:
    invoices = sample(30)
    path = written(tmp_path, invoices)
    book = openpyxl.load_workbook(path)
    book.create_sheet("说明").append(["本表为导出说明"])
    odd = book.create_sheet("未知特定业务")
    odd.append(["序号", "发票代码", "发票号码", "数电发票号码", "销方识别号", "购方识别号", "开票日期", "发票票种", "神秘要素"])
    book.save(path)
    parsed, rejected, skipped = records(path)
    assert len(parsed) == len(invoices)
    assert rejected == []
    assert sorted(s.source.sheet or "" for s in skipped) == ["未知特定业务", "说明"]
    assert all(s.source.sheet in s.reason for s in skipped)


def choice_workbook(path: Path) -> Path:
    """A synthetic 抵扣勾选 用途确认信息 workbook in the bureau's layout."""
    header = ["序号", "勾选状态", "发票来源", "转内销证明编号", "数电发票号码", "发票代码", "发票号码", "开票日期",
              "销售方纳税人识别号", "销售方纳税人名称", "金额", "税额", "有效抵扣税额", "票种", "票种标签", "发票状态",
              "勾选时间", "发票风险等级"]
    book = openpyxl.Workbook()
    book.active.title = "发票"
    for name in ("发票", "海关缴款书", "代扣代缴", "农产品加计扣除发票信息", "农产品加计扣除海关文书", "异常发票"):
        sheet = book[name] if name in book.sheetnames else book.create_sheet(name)
        sheet.append(["发票清单"] * len(header))
        sheet.append(["纳税人识别号", BUYER.nsrsbh, "", "", "税款所属期", "202601", "", "纳税人名称", BUYER.name])
        sheet.append(header if name in ("发票", "异常发票") else ["序号", "勾选状态", "海关缴款书号码", "填发日期"])
    book["发票"].append(["1", "已勾选", "电子发票服务平台", "", "26537000000230189626", "265370000002", "30189626",
                        datetime(2026, 1, 5), SELLER.nsrsbh, SELLER.name, 100.0, 13.0, 13.0, "数电发票（增值税专用发票）",
                        "", "正常", "2026-02-10 10:00:00", "正常"])
    book["发票"].append(["合计", "", "", "", "", "", "", "", "", "", 100.0, 13.0, 13.0])
    book.save(path)
    return path


def test_a_deduction_choice_list_is_refused_whole(tmp_path: Path) -> None:
    path = choice_workbook(tmp_path / "2026年1月 进项认证结果 用途确认信息.xlsx")
    with pytest.raises(UnreadableFile, match="抵扣勾选 用途确认信息.*not a 全量发票查询 export"):
        list(read_invoices(path))


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [("金额", "12a.3", "金额"), ("开票日期", "下周一", "开票日期"), ("发票票种", "增值税神秘发票", "发票票种"),
     ("税率", "abc", "税率"), ("发票状态", "丢失", "发票状态")],
)
def test_a_bad_line_rejects_its_invoice_only(tmp_path: Path, column: str, value: object, needle: str) -> None:
    invoices = sample(60)
    path = written(tmp_path, invoices)
    edit(path, "信息汇总表", 4, column, value)
    parsed, rejected, _ = records(path)
    (bad,) = rejected
    assert bad.source.sheet == "信息汇总表"
    assert bad.source.row is not None
    assert bad.source.row <= 4
    assert needle in bad.reason
    assert len(parsed) == len(invoices) - 1


def test_a_bad_total_rejects_its_invoice_with_sheet_and_row(tmp_path: Path) -> None:
    invoices = sample(30)
    path = written(tmp_path, invoices)
    edit(path, "发票基础信息", 3, "税额", "一百")
    parsed, rejected, _ = records(path)
    (bad,) = rejected
    assert (bad.source.sheet, bad.source.row) == ("发票基础信息", 3)
    assert "税额" in bad.reason
    assert len(parsed) == len(invoices) - 1


def test_an_invalid_tax_id_is_rejected_by_validation(tmp_path: Path) -> None:
    single = [i for i in sample() if len(i.lines) == 1]
    path = written(tmp_path, single[:10])
    edit(path, "信息汇总表", 2, "购方识别号", "91440300MA5DEM001A")
    _, rejected, _ = records(path)
    assert len(rejected) == 1
    assert "gfsbh" in rejected[0].reason
    assert "校验位" in rejected[0].reason


def test_rows_of_one_invoice_that_are_not_consecutive(tmp_path: Path) -> None:
    invoices = [i for i in sample() if len(i.lines) >= 2][:2]
    path = written(tmp_path, invoices)
    book = openpyxl.load_workbook(path)
    sheet = book["信息汇总表"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    first_len = len(invoices[0].lines)
    moved = [rows[0], *rows[first_len:], *rows[1:first_len]]  # tear the first invoice apart
    for index, values in enumerate(moved, start=2):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=index, column=column, value=value)
    book.save(path)
    found = list(read_bureau_export(path))
    assert any(isinstance(r, Rejected) and "not consecutive" in r.reason for r in found)


def test_unreadable_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    with pytest.raises(UnreadableFile, match="unrecognised file format"):
        list(read_invoices(text))
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(UnreadableFile):
        list(read_invoices(corrupt))
    other = tmp_path / "other.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["姓名", "金额"])
    book.save(other)
    with pytest.raises(UnreadableFile, match="not a 全量发票查询 export"):
        list(read_invoices(other))


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


# --- streaming ------------------------------------------------------------------------------------

def everything(parsed: list[Parsed]) -> list[tuple]:
    return sorted((*header_fields(p.invoice), p.invoice.tdywlx, repr(p.invoice.special),
                   repr(p.invoice.itinerary), *line_fields(p.invoice)) for p in parsed)


@pytest.mark.parametrize("child", [False, True], ids=["in process", "child process"])
def test_the_streaming_reader_reads_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: bool) -> None:
    invoices = sample()
    path = written(tmp_path, invoices)
    fast = everything(records(path)[0])
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.STREAM_ABOVE", 0)
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.CHILD_ABOVE", 0 if child else 1024**3)
    parsed, rejected, _ = records(path)
    assert rejected == []
    assert everything(parsed) == fast
    assert len(fast) == len(invoices)


MEMORY_PROBE = """
import glob, re, sys, threading
from fapiaohub.importers import bureau_xlsx
from fapiaohub.importers.bureau_xlsx import read_bureau_export

def peak_mb(pid="self"):
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across exec
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024

children, done = {}, threading.Event()

def watch():  # big sheets are read by child processes, one at a time: their memory counts too
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
def test_a_200000_line_export_is_read_in_bounded_memory(tmp_path: Path) -> None:
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
    lines = write_bureau_export(path, invoices())
    assert lines >= 200_000
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True,
                           check=True)
    count, peak_mb, children = map(int, probe.stdout.split())
    assert count > 50_000
    assert children >= 1
    assert peak_mb < 300, f"peak memory {peak_mb} MB reading {lines} lines (with the reader child)"


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
    assert rows[1] == []
    assert rows[2] == [None, datetime(2025, 3, 14, 9, 26, 53)]


def truncated(path: Path, keep: float = 0.6) -> Path:
    """The same workbook with its first sheet's XML (信息汇总表) cut off after ``keep`` of it."""
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
    path = written(tmp_path, sample())
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.STREAM_ABOVE", 0)
    monkeypatch.setattr("fapiaohub.importers.bureau_xlsx.CHILD_ABOVE", 0 if child else 1024**3)
    found = read_invoices(truncated(path))
    if not child:  # rows before the break are read (the child sends rows a thousand at a time)
        assert isinstance(next(found), Parsed)
    with pytest.raises(UnreadableFile, match="信息汇总表"):
        list(found)



def crafted_box_workbook(path: Path, *, header: bool) -> Path:
    """An export-looking workbook of a header row and one cell at XFD1048576 (its <dimension> says the
    same): 1.6 KB whose bounding box is 16,384 × 1,048,576 cells."""
    names = ["序号", *LINE_HEADER[1:]] if header else ["发票号码"]
    cells = "".join(f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{n}</t></is></c>' for i, n in enumerate(names[:26]))
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                         'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>')
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
                         '<sheet name="信息汇总表" sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/'
                         f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
                         'Target="worksheets/sheet1.xml"/></Relationships>')
        archive.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{main}"><dimension ref="A1:XFD1048576"/>'
                         f'<sheetData><row r="1">{cells}</row><row r="1048576"><c r="XFD1048576"><v>1</v></c>'
                         '</row></sheetData></worksheet>')
    return path


BOUNDED_READ = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))  # calamine asked for 512 GiB here
from fapiaohub.importers.base import UnreadableFile
from fapiaohub.importers import bureau_xlsx
from fapiaohub.importers.bureau_xlsx import read_bureau_export
start = time.monotonic()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = [type(record).__name__ for record in read_bureau_export(sys.argv[1])]
except UnreadableFile as exc:
    outcome = ["UnreadableFile"]
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(outcome, grown // 1024, time.monotonic() - start)
"""


@pytest.mark.parametrize(("header", "outcome"), [(True, "['Rejected']"), (False, "['UnreadableFile']")])
def test_a_workbook_whose_cells_span_the_whole_grid_reads_in_bounded_time_and_memory(
    tmp_path: Path, header: bool, outcome: str
) -> None:
    path = crafted_box_workbook(tmp_path / "box.xlsx", header=header)
    assert path.stat().st_size < 2048
    done = subprocess.run([sys.executable, "-c", BOUNDED_READ, str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]  # before: SIGABRT, memory allocation failed
    found, grown_mb, seconds = done.stdout.rsplit(" ", 2)
    assert found == outcome
    assert int(grown_mb) < 150  # measured 73 MB: the 1,048,575 blank rows of one streamed chunk
    assert float(seconds) < 20  # measured 0.6 s
