"""The streaming xlsx reader against python-calamine and its own lxml path, on real workbooks.

Every workbook here is read three ways: the fast token path, the lxml path (``fast=False``), and
python-calamine (another implementation altogether); they must agree cell for cell. Workbooks are
written by openpyxl or assembled part by part, so that each shape a writer may use appears:
shared strings (plain, rich, phonetic), inline strings, dates, numbers stored as text, formulas,
blank rows and cells, several sheets, namespace prefixes, comments, odd attribute orders.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import python_calamine

from fapiaohub.demo.generator import iter_demo_invoices
from fapiaohub.importers import xlsx_stream
from fapiaohub.importers.row_process import rows_in_child
from fapiaohub.importers.xlsx_stream import SheetError, StreamingWorkbook
from fapiaohub.shapes.bureau_layout import VARIATIONS, write_bureau_export

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd h:mm:ss"/></numFmts>
<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="2"/></cellXfs>
</styleSheet>"""


def build(path: Path, sheets: list[tuple[str, str]], shared: str | None = None, styles: str = STYLES) -> Path:
    """An .xlsx of the given worksheet XMLs (name, <sheetData> content or a whole worksheet)."""
    types = "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
                    f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                    for n in range(1, len(sheets) + 1))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
            'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/>' + types
            + '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.styles+xml"/>'
            + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
               'officedocument.spreadsheetml.sharedStrings+xml"/>' if shared is not None else "")
            + "</Types>"))
        archive.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        archive.writestr("xl/workbook.xml", (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            + "".join(f'<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>' for n, (name, _) in enumerate(sheets, 1))
            + "</sheets></workbook>"))
        rels = "".join(f'<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       f'relationships/worksheet" Target="worksheets/sheet{n}.xml"/>' for n in range(1, len(sheets) + 1))
        archive.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships">{rels}<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            + ('<Relationship Id="rIdT" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
               'relationships/sharedStrings" Target="sharedStrings.xml"/>' if shared is not None else "")
            + "</Relationships>"))
        archive.writestr("xl/styles.xml", styles)
        if shared is not None:
            archive.writestr("xl/sharedStrings.xml", shared)
        for n, (_, xml) in enumerate(sheets, 1):
            if "worksheet" not in xml:
                xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}" '
                       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                       f'<dimension ref="A1"/><sheetData>{xml}</sheetData></worksheet>')
            archive.writestr(f"xl/worksheets/sheet{n}.xml", xml.encode())
    return path


def sst(*items: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="{len(items)}" '
            f'uniqueCount="{len(items)}">{"".join(items)}</sst>')


def normal(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows as the three readers can agree on them: empty strings are blank cells, dates are
    midnight datetimes, trailing blank cells and rows are cut."""
    result = []
    for row in rows:
        values = [None if value == "" else value for value in row]
        values = [datetime(v.year, v.month, v.day) if isinstance(v, date) and not isinstance(v, datetime) else v
                  for v in values]
        while values and values[-1] is None:
            values.pop()
        result.append(values)
    while result and not result[-1]:
        result.pop()
    return result


def read_three_ways(path: Path) -> dict[str, list[list[Any]]]:
    """{sheet name: rows}, after asserting that the fast path, lxml and calamine agree."""
    calamine = python_calamine.CalamineWorkbook.from_path(str(path))
    result = {}
    with zipfile.ZipFile(path) as archive:
        book = StreamingWorkbook(archive)
        for name, member in book.sheets():
            fast = normal(list(book.rows(member)))
            assert fast == normal(list(book.rows(member, fast=False))), name
            assert fast == normal(calamine.get_sheet_by_name(name).to_python(skip_empty_area=False)), name
            result[name] = fast
    return result


def sample(count: int = 120) -> list:
    return [item.invoice for item in iter_demo_invoices(count) if item.invoice.fplx != "17"]


@pytest.mark.parametrize("variation", [None, *sorted(VARIATIONS)])
def test_bureau_exports_read_as_calamine_reads_them(tmp_path: Path, variation: str | None) -> None:
    path = write_bureau_export(tmp_path / "export.xlsx", sample(),
                               variations={variation} if variation else set()) and tmp_path / "export.xlsx"
    sheets = read_three_ways(path)
    assert all(len(rows) > 1 for name, rows in sheets.items() if name != "信息汇总表")


def test_the_bureau_layout_is_read_row_by_row_on_the_fast_path(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The bureau writes with POI: a style on every cell, newlines around row tags, empty cells as
    <c r="M2" s="2"></c>. Every row must be read by the styled-cell expression (each row's values
    in one pass): the general token expression takes twice its time, lxml far more."""
    path = tmp_path / "export.xlsx"
    invoices = sample()
    invoices[0].lines[0].mc += " "  # POI marks a text with a space at an end xml:space="preserve"
    write_bureau_export(path, invoices)

    def not_here(*_: object) -> None:
        raise AssertionError("a row of the bureau's layout left the common row path")

    class NoTokens:
        findall = not_here

    monkeypatch.setattr(xlsx_stream, "_TOKEN", NoTokens)
    monkeypatch.setattr(StreamingWorkbook, "_rows_lxml", not_here)
    with zipfile.ZipFile(path) as archive:
        book = StreamingWorkbook(archive)
        rows = {name: list(book.rows(member)) for name, member in book.sheets()}
    lines = rows["信息汇总表"]
    assert lines[0][:3] == ["序号", "发票代码", "发票号码"]
    assert any(isinstance(text, str) and text.endswith(" ") for text in lines[1])
    assert len(lines) > 100
    assert all(isinstance(row[16], float) for row in lines[1:])  # 金额, a styled number
    assert rows["发票基础信息"][-1][0] == "合计行"


@pytest.fixture(params=[None, 7], ids=["1 MB reads", "7-byte reads"])
def read_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of the default size, and reads so small that chunks end inside tags and characters."""
    if request.param:
        monkeypatch.setattr(xlsx_stream, "READ_SIZE", request.param)


@pytest.mark.usefixtures("read_size")
def test_shared_strings_plain_rich_and_phonetic(tmp_path: Path) -> None:
    shared = sst("<si><t>发票号码</t></si>", '<si><t xml:space="preserve"> 前后有空格 </t></si>',
                 "<si><r><rPr><b/><color rgb=\"FFFF0000\"/></rPr><t>粗</t></r><r><t>体 &amp; 细</t></r></si>",
                 "<si><t>東京</t><rPh sb=\"0\" eb=\"2\"><t>トウキョウ</t></rPh></si>", "<si><t/></si>")
    path = build(tmp_path / "shared.xlsx", [("S", (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" s="3" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c><c r="C2" t="s"><v>4</v></c></row>'))],
        shared=shared)
    assert read_three_ways(path)["S"] == [["发票号码", " 前后有空格 "], ["粗体 & 细", "東京"]]


@pytest.mark.usefixtures("read_size")
def test_plain_shared_strings_take_the_fast_path(tmp_path: Path) -> None:
    path = build(tmp_path / "plain.xlsx", [("S", '<row r="1"><c r="A1" s="3" t="s"><v>1</v></c></row>')],
                 shared=sst("<si><t>a &lt; b</t></si>", '<si><t xml:space="preserve">数电 </t></si>'))
    assert read_three_ways(path)["S"] == [["数电 "]]


@pytest.mark.usefixtures("read_size")
def test_inline_text_escapes_line_ends_and_utf8(tmp_path: Path) -> None:
    path = build(tmp_path / "text.xlsx", [("T", (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&amp;&lt;&gt;&quot;&apos;&#x4E2D;&#20013;</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t xml:space="preserve">一行\r\n两行\r三行&#13;</t></is></c>'
        '<c r="C1" t="inlineStr"><is><r><t>富</t></r><r><t>文本</t></r></is></c></row>'
        '<row r="2"><c r="A2" s="2" t="inlineStr"><is><t>深圳示例（有限）公司</t></is></c>'
        '<c r="B2" t="inlineStr"></c><c r="C2" t="inlineStr"><is><t>0012345</t></is></c></row>'))])
    assert read_three_ways(path)["T"] == [
        ["&<>\"'中中", "一行\n两行\n三行\r", "富文本"], ["深圳示例（有限）公司", None, "0012345"]]


def test_numbers_dates_formulas_booleans_and_errors(tmp_path: Path) -> None:
    path = build(tmp_path / "values.xlsx", [("V", (
        '<row r="1"><c r="A1"><v>1</v></c><c r="B1" t="n"><v>-2.5E-3</v></c><c r="C1" s="3"><v>896.00</v></c>'
        '<c r="D1" s="1"><v>45658</v></c><c r="E1" s="2"><v>45658.5</v></c><c r="F1" s="2" t="n"><v>45658.25</v></c></row>'
        '<row r="2"><c r="A2"><f>B2*2</f><v>4</v></c><c r="B2" t="str"><f>"x"&amp;"y"</f><v>xy</v></c>'
        '<c r="C2" t="b"><v>1</v></c><c r="D2" t="b"><v>0</v></c><c r="F2" s="3"><f>C1</f><v>896</v></c></row>'))])
    rows = read_three_ways(path)["V"]
    assert rows[0] == [1.0, -0.0025, 896.0, datetime(2025, 1, 1), datetime(2025, 1, 1, 12), datetime(2025, 1, 1, 6)]
    assert rows[1] == [4.0, "xy", True, False, None, 896.0]


def test_error_cells_read_as_their_text(tmp_path: Path) -> None:
    """calamine reads an error cell as empty; this reader, as before, gives its text."""
    path = build(tmp_path / "error.xlsx", [("E", '<row r="1"><c r="A1" t="e"><v>#N/A</v></c></row>')])
    with zipfile.ZipFile(path) as archive:
        book = StreamingWorkbook(archive)
        ((_, member),) = book.sheets()
        assert list(book.rows(member)) == [["#N/A"]] == list(book.rows(member, fast=False))


def test_gaps_empty_rows_and_several_sheets(tmp_path: Path) -> None:
    path = build(tmp_path / "gaps.xlsx", [
        ("一", '<row r="1"><c r="B1" t="inlineStr"><is><t>b</t></is></c><c r="AA1"><v>27</v></c></row>'
               '<row r="3"/><row r="4"><c r="A4"/><c r="C4"><v>3</v></c></row><row r="7" spans="1:3">'
               '<c r="A7" t="inlineStr"><is><t>last</t></is></c></row>'),
        ("二", '<row r="2"><c r="A2"><v>2</v></c></row>'),
        ("空", ""),
    ])
    sheets = read_three_ways(path)
    assert sheets["一"] == [[None, "b", *[None] * 24, 27.0], [], [], [None, None, 3.0], [], [], ["last"]]
    assert sheets["二"] == [[], [2.0]]
    assert sheets["空"] == []


@pytest.mark.usefixtures("read_size")
@pytest.mark.parametrize("shape", ["attribute order", "pretty printed", "comment", "cdata", "no r"])
def test_shapes_the_token_expression_hands_to_lxml(tmp_path: Path, shape: str) -> None:
    first = '<row r="1"><c r="A1" t="inlineStr"><is><t>one</t></is></c><c r="B1"><v>1</v></c></row>'
    odd = {
        "attribute order": '<row r="2"><c t="inlineStr" r="A2"><is><t>two</t></is></c><c s="3" r="B2"><v>2</v></c></row>',
        "pretty printed": '<row r="2">\n  <c r="A2" t="inlineStr"><is><t>two</t></is></c>\n  <c r="B2"><v>2</v></c>\n</row>\n',
        "comment": '<!-- </row> <row r="9"> --><row r="2"><c r="A2" t="inlineStr"><is><t>two</t></is></c>'
                   '<c r="B2"><v>2</v></c></row>',
        "cdata": '<row r="2"><c r="A2" t="inlineStr"><is><t><![CDATA[two]]></t></is></c><c r="B2"><v>2</v></c></row>',
        "no r": '<row><c t="inlineStr"><is><t>two</t></is></c><c><v>2</v></c></row>',
    }[shape]
    last = '<row r="3"><c r="A3" t="inlineStr"><is><t>three</t></is></c></row>'
    path = build(tmp_path / "odd.xlsx", [("O", first + odd + last)])
    assert read_three_ways(path)["O"] == [["one", 1.0], ["two", 2.0], ["three"]]


@pytest.mark.usefixtures("read_size")
@pytest.mark.parametrize("shape", ["plain", "comment", "cell left out", "shared string", "closed row", "twice",
                                   "date style", "escapes", "spaces kept"])
def test_styled_rows_read_whole_only_when_every_cell_is_one(tmp_path: Path, shape: str) -> None:
    """The bureau's layout is read by one expression for styled cells; a row with anything else
    in it (a cell of another shape, one left out, a cell-like text in a comment) must read as the
    other paths read it, never with a cell skipped or shifted."""
    head = '<row r="1"><c r="A1" s="1" t="inlineStr"><is><t>名称</t></is></c><c r="B1" s="1" t="inlineStr"><is><t>金额</t></is></c></row>'
    second = {
        "plain": '<c r="A2" s="3" t="inlineStr"><is><t>two</t></is></c><c r="B2" s="3" t="n"><v>2.5</v></c>',
        "comment": '<c r="A2" s="3" t="inlineStr"><is><t>two</t></is></c><!-- <c r="B2" s="3" t="n"><v>9</v></c> -->'
                   '<c r="C2" s="3" t="n"><v>3</v></c>',
        "cell left out": '<c r="B2" s="3" t="n"><v>2.5</v></c>',
        "shared string": '<c r="A2" s="3" t="inlineStr"><is><t>two</t></is></c><c r="B2" s="3" t="s"><v>0</v></c>',
        "closed row": '<c r="A2" s="3" t="inlineStr"><is><t>two</t></is></c><c r="B2" s="3"></c>',
        "twice": '<c r="A2" s="3" t="inlineStr"><is><t>two</t></is></c><c r="A2" s="3" t="n"><v>2.5</v></c>',
        "date style": '<c r="A2" s="2" t="n"><v>45658.5</v></c><c r="B2" s="3" t="n"><v>2.5</v></c>',
        "escapes": '<c r="A2" s="3" t="inlineStr"><is><t>&quot;A&amp;B&quot;&#xa;二</t></is></c><c r="B2" s="3"></c>',
        "spaces kept": '<c r="A2" s="3" t="inlineStr"><is><t xml:space="preserve">订单号:33 </t></is></c>',
    }[shape]
    rows = f'{head}\n<row r="2">\n{second}</row>\n<row r="3">\n<c r="A3" s="3" t="inlineStr"><is><t>three</t></is></c></row>\n'
    if shape == "closed row":
        rows = rows.replace('<row r="3">', '<row r="3"/>\n<row r="4">').replace('"A3"', '"A4"')
    path = build(tmp_path / "styled.xlsx", [("S", rows)], shared=sst("<si><t>共享</t></si>"))
    if shape == "twice":
        with zipfile.ZipFile(path) as archive:
            book = StreamingWorkbook(archive)
            with pytest.raises(SheetError, match="comes after a cell to its right"):
                list(book.rows(book.sheets()[0][1]))
        return
    read = read_three_ways(path)["S"]
    assert read[0] == ["名称", "金额"]
    assert read[1] == {
        "plain": ["two", 2.5], "comment": ["two", None, 3.0], "cell left out": [None, 2.5], "shared string": ["two", "共享"],
        "closed row": ["two"], "date style": [datetime(2025, 1, 1, 12), 2.5], "escapes": ['"A&B"\n二'], "spaces kept": ["订单号:33 "],
    }[shape]
    assert read[2:] == ([[], ["three"]] if shape == "closed row" else [["three"]])


def test_namespace_prefixes_and_style_zero_as_a_date(tmp_path: Path) -> None:
    prefixed = (f'<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
                '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>前缀</x:t></x:is></x:c><x:c r="B1"><x:v>45658</x:v>'
                "</x:c></x:row></x:sheetData></x:worksheet>")
    date_zero = STYLES.replace('<xf numFmtId="0"/>', '<xf numFmtId="14"/>')
    path = build(tmp_path / "prefix.xlsx", [("P", prefixed), ("D", '<row r="1"><c r="A1"><v>45658</v></c></row>')],
                 styles=date_zero)
    with zipfile.ZipFile(path) as archive:
        book = StreamingWorkbook(archive)
        (_, first), (_, second) = book.sheets()
        assert list(book.rows(first)) == [["前缀", datetime(2025, 1, 1)]] == list(book.rows(first, fast=False))
        assert list(book.rows(second)) == [[datetime(2025, 1, 1)]] == list(book.rows(second, fast=False))


def test_chunks_cut_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny reads put chunk ends inside tags, texts and multi-byte characters; a comment halfway
    hands the rest of the sheet to lxml."""
    rows = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>第{n}行 &amp; 数电</t></is></c>'
                   f'<c r="B{n}" s="3"><v>{n}.5</v></c></row>' for n in range(1, 40))
    rows += "<!-- halfway -->" + "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(40, 60))
    path = build(tmp_path / "chunks.xlsx", [("C", rows)])
    expected = read_three_ways(path)["C"]
    monkeypatch.setattr(xlsx_stream, "READ_SIZE", 7)
    assert read_three_ways(path)["C"] == expected
    assert expected[38] == ["第39行 & 数电", 39.5]
    assert expected[-1] == [59.0]


@pytest.mark.parametrize(("sheet", "needle"), [
    ('<row r="1"><c r="A1" t="inlineStr"><is><t>&foo;</t></is></c></row>', "&foo;"),
    ('<row r="1"><c r="A1" t="inlineStr"><is><t>a & b</t></is></c></row>', "bare '&'"),
    ('<row r="2"><c r="A2"><v>1</v></c></row><row r="1"><c r="A1"><v>1</v></c></row>', "row 1 comes after row 2"),
    ('<row r="1"><c r="B1"><v>1</v></c><c r="A1"><v>1</v></c></row>', "comes after a cell to its right"),
    ('<row r="1"><c r="A1" t="s"><v>5</v></c></row>', "shared string"),
    ('<row r="1"><c r="A1"><v>abc</v></c></row>', "abc"),
])
def test_malformed_cells_are_errors(tmp_path: Path, sheet: str, needle: str) -> None:
    path = build(tmp_path / "bad.xlsx", [("B", sheet)], shared=sst("<si><t>x</t></si>"))
    with zipfile.ZipFile(path) as archive:
        book = StreamingWorkbook(archive)
        ((_, member),) = book.sheets()
        with pytest.raises(SheetError, match=needle.replace("(", r"\(")):
            list(book.rows(member))


def test_dtds_truncation_and_bad_bytes_are_refused(tmp_path: Path) -> None:
    dtd = (f'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY lol "lol">]><worksheet xmlns="{MAIN}">'
           '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol;</t></is></c></row></sheetData></worksheet>')
    truncated = (f'<?xml version="1.0"?><worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1"><v>1</v></c>'
                 '</row><row r="2"><c r="A2"><v>2</v></c>')
    path = build(tmp_path / "refused.xlsx", [("D", dtd), ("T", truncated)])
    with zipfile.ZipFile(path) as archive:
        book = StreamingWorkbook(archive)
        (_, with_dtd), (_, cut) = book.sheets()
        for fast in (True, False):
            with pytest.raises(SheetError, match="DTD"):
                list(book.rows(with_dtd, fast=fast))
        with pytest.raises(SheetError, match="truncated"):
            list(book.rows(cut))
    latin = tmp_path / "latin.xlsx"
    build(latin, [("L", '<row r="1"><c r="A1" t="inlineStr"><is><t>caf\xe9</t></is></c></row>')])
    with zipfile.ZipFile(latin) as archive, zipfile.ZipFile(tmp_path / "latin1.xlsx", "w") as out:
        for item in archive.infolist():  # the same workbook with its sheet's bytes in Latin-1
            data = archive.read(item)
            out.writestr(item, data.decode().encode("latin-1") if item.filename.endswith("sheet1.xml") else data)
    with zipfile.ZipFile(tmp_path / "latin1.xlsx") as archive:
        book = StreamingWorkbook(archive)
        with pytest.raises(SheetError, match="UTF-8"):
            list(book.rows(book.sheets()[0][1]))


def test_the_child_process_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "child.xlsx"
    write_bureau_export(path, sample())
    with zipfile.ZipFile(path) as archive:
        book = StreamingWorkbook(archive)
        (_, member) = book.sheets()[0]
        here = list(book.rows(member))
    assert list(rows_in_child(path, member)) == here
    bad = build(tmp_path / "bad.xlsx", [("B", '<row r="1"><c r="A1"><v>x</v></c></row>')])
    with pytest.raises(SheetError, match="'x'"):
        list(rows_in_child(bad, "xl/worksheets/sheet1.xml"))
    with pytest.raises(SheetError):
        list(rows_in_child(bad, "xl/worksheets/missing.xml"))


def _children() -> list[str]:
    return [pid for task in Path("/proc/self/task").glob("*/children") for pid in task.read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc to see child processes")
def test_abandoned_rows_end_the_child(tmp_path: Path) -> None:
    path = tmp_path / "abandon.xlsx"
    write_bureau_export(path, sample(600))
    rows = rows_in_child(path, "xl/worksheets/sheet1.xml")
    assert next(rows)[1] == "发票代码"
    assert _children()
    rows.close()
    assert _children() == []


def test_the_child_side_can_run_alone(tmp_path: Path) -> None:
    """What the parent starts: python -m fapiaohub.importers.row_process WORKBOOK MEMBER."""
    path = build(tmp_path / "alone.xlsx", [("A", '<row r="1"><c r="A1"><v>1</v></c></row>')])
    done = subprocess.run([sys.executable, "-m", "fapiaohub.importers.row_process", str(path),
                           "xl/worksheets/sheet1.xml"], capture_output=True, check=True)
    assert len(done.stdout) > 16
    assert done.stderr == b""


def test_without_an_interpreter_to_start_the_rows_are_read_here(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = build(tmp_path / "here.xlsx", [("H", '<row r="1"><c r="A1" t="inlineStr"><is><t>本进程</t></is></c></row>')])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    assert list(rows_in_child(path, "xl/worksheets/sheet1.xml")) == [["本进程"]]
