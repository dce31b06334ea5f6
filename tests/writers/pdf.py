"""Writes synthetic PDF e-invoices in the real layouts (reportlab, a test dependency): 税控 电子普票/专票, 数电
普票/专票, 通行费 browser printouts, with their variants (Kangxi labels, split dates, previews, seals, QR codes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pdfminer.cmapdb import CMapDB
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfdoc import PDFStream
from reportlab.pdfgen import canvas

from fapiaohub.domain.invoice import Invoice

FONT = "STSong-Light"
KANGXI = str.maketrans({"子": "\u2f26", "方": "\u2f45", "一": "\u2f00", "人": "\u2f08", "金": "\u2fa6", "大": "\u2f24"})
TITLES = {"81": "电子发票（增值税专用发票）", "82": "电子发票（普通发票）", "8208": "电子发票（普通发票）",
          "08": "增值税电子专用发票", "10": "增值税电子普通发票", "14": "增值税电子普通发票（通行费）"}


@dataclass
class Options:
    """How to lay the invoice out. ``layout`` defaults from the kind: 税控 for 08/10, toll for 8208, else 数电."""

    layout: str = ""  # "taxctrl" | "digital" | "toll"
    province: str = "贵州"  # 税控 titles start with the province
    kangxi: bool = False  # labels and title drawn with Kangxi radical code points (⼦ ⽅ ⼀ ⼈ ⾦ ⼤)
    split_date: bool = False  # 税控: `2023 04 11` with `年 月 日` on the line below
    preview: bool = False  # a 仅供预览 mark drawn first
    seal: bool = False  # the seal's glyphs drawn first, one text object each
    business_label: str = ""  # a 特定业务 label drawn above the title (first text)
    qr: str | None = "auto"  # the QR payload; "auto" derives it from the invoice; None draws none
    text_layer: bool = True  # False: only the QR code and a frame, no text at all
    wrap_names: int = 0  # 数电: item names longer than this continue on the next row
    off_page: bool = False  # 数电: a broken OFD conversion: values drawn outside the page, in its drawing order
    details: bool = False  # 税控: `(详见销货清单)` on page 1, the lines in a 清单 on page 2 with 小计/总计 rows


def write_pdf(path: Path, invoice: Invoice, options: Options | None = None) -> None:
    """A PDF e-invoice with a real Chinese text layer in the layout of ``options``."""

    opts = options or Options()
    layout = opts.layout or ("taxctrl" if invoice.fplx in ("08", "10", "14") else
                             "toll" if invoice.fplx == "8208" else "digital")
    width, height, labels, values = {"taxctrl": _taxctrl, "digital": _digital, "toll": _toll}[layout](invoice, opts)
    if opts.off_page:
        values = []  # drawn by _off_page
    _register_font()
    page = canvas.Canvas(str(path), pagesize=(width, height))
    page.setFont(FONT, 9)
    first: list[tuple[float, float, str, float]] = []
    if opts.preview:
        first.append((28, 28, "仅供预览", 16))
    if opts.seal:
        # The seal's glyphs, drawn first and one text object each, in the gap under the title.
        first += [(230 + dx, 38 + dy, glyph, 6) for glyph, dx, dy in
                  (("章", 30, 0), ("制", 50, 4), ("全", 0, 4), ("国", 10, 0), ("统", 20, 0), ("一", 40, 0),
                   ("发", 58, 8), ("票", 64, 12))] + [(240, 50, "国家税务总局", 6)]
    if opts.text_layer:
        label_font = FONT
        if opts.kangxi:
            labels = [(x, top, text.translate(KANGXI), size) for x, top, text, size in labels]
            label_font = _kangxi_font({char for *_, text, _ in labels for char in text})
        # Labels first and values last: the text order the real producers leave, which must not matter.
        for font, items in ((FONT, first), (label_font, labels), (FONT, values)):
            for x, top, text, size in items:
                page.setFont(font, size)
                page.drawString(x, height - top - size, text)
        if opts.off_page:
            for x, top, text, size in _off_page(invoice):
                page.setFont(FONT, size)
                page.drawString(x, height - top, text)
    else:
        page.rect(10, 10, width - 20, height - 20)
    payload = _payload(invoice) if opts.qr == "auto" else opts.qr
    if payload:
        _draw_qr(page, payload, 16, height - 8 - 50, 50)  # clear of the 购买方 label below it
    if opts.details:
        page.showPage()
        for x, top, text, size in _details_page(invoice):
            page.setFont(FONT, size)
            page.drawString(x, height - top - size, text)
    page.save()


Item = tuple[float, float, str, float]  # x, top (from the page's top), text, font size


def _taxctrl(inv: Invoice, opts: Options) -> tuple[float, float, list[Item], list[Item]]:
    s = 8.0
    labels: list[Item] = [(170, 18, f"{opts.province}{TITLES[inv.fplx]}", 15), (425, 20, "发票代码：", s),
                          (425, 35, "发票号码：", s), (425, 50, "开票日期：", s), (16, 66, "机器编号：", s),
                          (425, 66, "校", s), (437, 66, "验", s), (449, 66, "码：", s)]
    values: list[Item] = [(465, 20, inv.fpdm, s), (465, 35, inv.fphm, s), (58, 66, "499099660821", s)]
    if opts.split_date:
        values += [(468, 50, f"{inv.kprq:%Y} {inv.kprq:%m} {inv.kprq:%d}", s)]
        labels += [(487, 58, "年", 6), (503, 58, "月", 6), (517, 58, "日", 6)]
    else:
        values.append((465, 50, f"{inv.kprq:%Y年%m月%d日}", s))
    for group in range(4):  # 校验码 in groups of five, each its own text object
        values.append((467 + group * 28, 66, inv.jym[group * 5:group * 5 + 5], s))
    labels += _party_taxctrl("购买方", 86, inv.gfmc, inv.gfsbh)[0] + [(345, 92, "密", s), (345, 110, "码", s),
                                                                    (345, 128, "区", s)]
    values += _party_taxctrl("购买方", 86, inv.gfmc, inv.gfsbh)[1]
    values += [(372, 90 + 12 * i, "03*>59<+2/6-<871+-<4>>*36/0" + str(i), s) for i in range(4)]
    labels += [(72, 150, "项目名称", s), (180, 150, "规格型号", s), (245, 150, "单位", s), (285, 150, "数", s),
               (297, 150, "量", s), (345, 150, "单", s), (357, 150, "价", s), (415, 150, "金", s),
               (427, 150, "额", s), (477, 150, "税率", s), (530, 150, "税", s), (542, 150, "额", s)]
    rows = inv.lines
    if opts.details:  # page 1 refers to the 销货清单 on page 2 and shows only the totals
        rows = [dataclasses.replace(inv.lines[0], mc="(详见销货清单)", ggxh="", jldw="", sl="", dj="", je=inv.je,
                                    se=inv.se)]
    for i, line in enumerate(rows):
        top = 163 + 12 * i
        values += [(16, top, line.mc, s), (180, top, line.ggxh, s), (248, top, line.jldw, s),
                   (_right(325, line.sl, s), top, line.sl, s), (345, top, line.dj, s),
                   (_right(467, f"{line.je:.2f}", s), top, f"{line.je:.2f}", s), (487, top, _rate(line.slv), s),
                   (_right(575, f"{line.se:.2f}", s), top, f"{line.se:.2f}", s)]
    labels += [(64, 262, "合", s), (99, 262, "计", s), (50, 280, "价税合计（大写）", s), (448, 280, "（小写）", s),
               (345, 305, "备", s), (345, 336, "注", s), (16, 358, "收", s), (28, 358, "款", s),
               (40, 358, "人：", s), (180, 358, "复", s), (192, 358, "核：", s), (302, 358, "开", s),
               (314, 358, "票", s), (326, 358, "人：", s)]
    values += [(410, 262, f"¥{inv.je:.2f}", s), (528, 262, f"¥{inv.se:.2f}", s), (180, 280, _capital(inv.jshj), s),
               (478, 280, f"¥{inv.jshj:.2f}", s), (58, 358, inv.skr or "", s), (212, 358, inv.fhr or "", s),
               (346, 358, inv.kpr, s)]
    labels += _party_taxctrl("销售方", 298, inv.xfmc, inv.xfsbh)[0]
    values += _party_taxctrl("销售方", 298, inv.xfmc, inv.xfsbh)[1]
    values += [(372, 305 + 11 * i, text, s) for i, text in enumerate(inv.bz.splitlines())]
    return 600, 380, labels, values


def _details_page(inv: Invoice) -> list[Item]:
    s = 8.0
    items: list[Item] = [(150, 20, "销售货物或者提供应税劳务、服务清单", 12), (30, 45, f"购买方名称：{inv.gfmc}", s),
                         (30, 60, f"销售方名称：{inv.xfmc}", s),
                         (30, 75, f"所属增值税电子专用发票代码：{inv.fpdm}   号码：{inv.fphm}   共1页 第1页", s),
                         (20, 95, "序号", s), (70, 95, "货物（劳务）名称", s), (200, 95, "规格型号", s),
                         (260, 95, "单位", s), (300, 95, "数量", s), (350, 95, "单价", s), (420, 95, "金额", s),
                         (480, 95, "税率", s), (540, 95, "税额", s)]
    for i, line in enumerate(inv.lines):
        top = 110 + 12 * i
        items += [(24, top, str(i + 1), s), (50, top, line.mc, s), (200, top, line.ggxh, s), (262, top, line.jldw, s),
                  (302, top, line.sl, s), (350, top, line.dj, s), (_right(460, f"{line.je:.2f}", s), top,
                                                                   f"{line.je:.2f}", s),
                  (482, top, _rate(line.slv), s), (_right(575, f"{line.se:.2f}", s), top, f"{line.se:.2f}", s)]
    end = 110 + 12 * len(inv.lines) + 6
    items += [(24, end, "小计", s), (_right(460, f"{inv.je:.2f}", s), end, f"{inv.je:.2f}", s),
              (_right(575, f"{inv.se:.2f}", s), end, f"{inv.se:.2f}", s), (24, end + 14, "总计", s),
              (_right(460, f"{inv.je:.2f}", s), end + 14, f"{inv.je:.2f}", s),
              (_right(575, f"{inv.se:.2f}", s), end + 14, f"{inv.se:.2f}", s), (24, end + 30, "备注", s)]
    return items


def _party_taxctrl(side: str, top: float, name: str, tax_id: str) -> tuple[list[Item], list[Item]]:
    s = 8.0
    labels: list[Item] = [(20, top + 8 + 16 * i, char, s) for i, char in enumerate(side)]
    labels += [(38, top, "名", s), (83, top, "称：", s), (38, top + 14, "纳税人识别号：", s),
               (38, top + 28, "地 址、电 话：", s), (38, top + 42, "开户行及账号：", s)]
    values: list[Item] = [(100, top, name, s), (100, top + 14, tax_id, 9), (100, top + 28, "某市某路1号 0851-1234567", s),
                          (100, top + 42, "某银行某支行 1234567890123", s)]
    return labels, values


def _digital(inv: Invoice, opts: Options) -> tuple[float, float, list[Item], list[Item]]:
    s = 8.0
    labels: list[Item] = []
    if opts.business_label:
        labels.append((30, 12, opts.business_label, 10))
    labels += [(185, 22, TITLES[inv.fplx], 14), (420, 22, "发票号码：", s), (420, 38, "开票日期：", s)]
    values: list[Item] = [(460, 22, inv.fphm, s), (460, 38, f"{inv.kprq:%Y年%m月%d日}", s)]
    for side, x, name, tax_id in (("购买方信息", 18, inv.gfmc, inv.gfsbh), ("销售方信息", 300, inv.xfmc, inv.xfsbh)):
        labels += [(x, 62 + 10 * i, char, s) for i, char in enumerate(side)]
        labels += [(x + 16, 70, "名称：", s), (x + 16, 90, "统一社会信用代码/纳税人识别号：", s)]
        values += [(x + 40, 70, name, s), (x + 144, 90, tax_id, s)]
    labels += [(60, 125, "项目名称", s), (160, 125, "规格型号", s), (215, 125, "单位", s), (255, 125, "数量", s),
               (300, 125, "单价", s), (370, 125, "金额", s), (420, 125, "税率/征收率", s), (510, 125, "税额", s)]
    top = 140.0
    for line in inv.lines:
        name = line.mc
        if opts.wrap_names and len(name) > opts.wrap_names:  # the rest of a long name on the next row
            name = line.mc[:opts.wrap_names]
            values.append((22, top + 10, line.mc[opts.wrap_names:], s))
        values += [(22, top, name, s), (160, top, line.ggxh, s), (218, top, line.jldw, s), (255, top, line.sl, s),
                   (298, top, line.dj, s), (_right(392, f"{line.je:.2f}", s), top, f"{line.je:.2f}", s),
                   (430, top, _rate(line.slv), s), (_right(540, f"{line.se:.2f}", s), top, f"{line.se:.2f}", s)]
        top += 22 if name != line.mc else 12
    labels += [(60, 250, "合", s), (100, 250, "计", s), (35, 268, "价税合计（大写）", s), (400, 268, "（小写）", s),
               (18, 290, "备", s), (18, 306, "注", s), (35, 345, "开票人：", s)]
    # ¥ and the number are separate text objects, as 数电 producers draw them.
    values += [(356, 250, "¥", s), (366, 250, f"{inv.je:.2f}", s), (496, 250, "¥", s), (506, 250, f"{inv.se:.2f}", s),
               (150, 268, _capital(inv.jshj), s), (436, 268, "¥", s), (446, 268, f"{inv.jshj:.2f}", s),
               (67, 345, inv.kpr, s)]
    values += [(40, 292 + 11 * i, text, s) for i, text in enumerate(inv.bz.splitlines())]
    return 595, 400, labels, values


def _toll(inv: Invoice, opts: Options) -> tuple[float, float, list[Item], list[Item]]:
    s = 7.0
    url = "localhost:63342/cloud/service/invoice/invoice-alle/src/main/resources/templates/invoice2.html?_ijt=x"
    labels: list[Item] = [(24, 16, f"{inv.kprq:%Y/%m/%d} 15:23", 6), (116, 16, url, 6),
                          (211, 56, TITLES["8208"], 12), (428, 53, "发票号码：", s), (428, 76, "开票日期：", s)]
    values: list[Item] = [(463, 53, inv.fphm, s), (463, 76, f"{inv.kprq:%Y年%m月%d日}", s)]
    for side, x, name, tax_id in (("购买方信息", 51, inv.gfmc, inv.gfsbh), ("销售方信息", 305, inv.xfmc, inv.xfsbh)):
        labels += [(x, 111 + 9.5 * i, char, s) for i, char in enumerate(side)]
        labels += [(x + 15, 122, "名称：", s), (x + 15, 135, "统一社会信用代码/纳税人识别号：", s)]
        values += [(x + 36, 122, name, s), (x + 127, 135, tax_id, s)]
    labels += [(78, 169, "项目名称", s), (157, 169, "车牌号", s), (211, 169, "车辆类型", s), (269, 169, "通行日期起", s),
               (335, 169, "通行日期止", s), (414, 169, "金额", s), (466, 169, "税率/征收率", s), (531, 169, "税额", s)]
    for i, line in enumerate(inv.lines):
        top = 191 + 12 * i
        special = inv.special[i] if i < len(inv.special) else {}
        values += [(52, top, line.mc, s), (154, top, special.get("cph", ""), s), (205, top, special.get("cllx", ""), s),
                   (268, top, special.get("txrqq", ""), s), (336, top, special.get("txrqz", ""), s),
                   (411, top, f"{line.je:.2f}", s), (468, top, _rate(line.slv), s), (519, top, f"{line.se:.2f}", s)]
    labels += [(87, 268, "合", s), (127, 268, "计", s), (77, 283, "价税合计（大写）", s), (394, 283, "（小写）", s),
               (51, 314, "备", s), (51, 324, "注", s), (46, 362, "开票人:", s), (24, 819, url, 6), (560, 819, "1/1", 6)]
    # The browser printout draws every value after every label (pdfminer runs them together).
    values += [(413, 265, f"¥{inv.je:.2f}", s), (517, 264, f"¥{inv.se:.2f}", s), (189, 283, _capital(inv.jshj), s),
               (435, 284, f"¥{inv.jshj:.2f}", s), (79, 362, inv.kpr, s)]
    values += [(66, 314 + 9 * i, text, s) for i, text in enumerate(inv.bz.splitlines())]
    return 595, 842, labels, values


def _off_page(inv: Invoice) -> list[Item]:
    """The values as one OFD converter draws them: each its own text object, at coordinates far outside the
    page and unrelated to the labels, in this order: totals, 大写, 价税合计, 开票人, number, date, the two
    names, the two ids, then each item's name, quantity, price, amount, rate and tax."""
    s = 9.0
    values: list[Item] = [(1232, -231, f"¥{inv.je:.2f}", s), (1689, -231, f"¥{inv.se:.2f}", s),
                          (603, -284, _capital(inv.jshj), s), (1372, -284, "¥", s), (1382, -284, f"{inv.jshj:.2f}", s),
                          (345, -534, inv.kpr, s), (1490, 344, inv.fphm, s), (1490, 391, f"{inv.kprq:%Y年%m月%d日}", s),
                          (226, 48, inv.gfmc, s), (1088, 242, inv.xfmc, s), (581, 162, inv.gfsbh, s),
                          (1417, 162, inv.xfsbh, s)]
    for i, line in enumerate(inv.lines):
        top = 236 + 20 * i
        values += [(94, top, line.mc, s), (911, top, line.sl or "1", s), (940, top, line.dj or f"{line.je:.2f}", s),
                   (1258, top, f"{line.je:.2f}", s), (1440, top, _rate(line.slv), s), (1715, top, f"{line.se:.2f}", s)]
    return values


def _rate(rate: Decimal | None) -> str:
    if rate is None:
        return "***"
    return f"{rate * 100:.0f}%" if rate else "免税"


def _right(end: float, text: str, size: float) -> float:
    return end - len(text) * size * 0.5


def _capital(amount: Decimal) -> str:
    """The 大写 amount, as printed (only used for the layout; readers do not read it)."""
    digits = "零壹贰叁肆伍陆柒捌玖"
    units = ["", "拾", "佰", "仟", "万", "拾", "佰", "仟", "亿"]
    cents = int((abs(amount) * 100).to_integral_value())
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    text = "".join(digits[int(d)] + units[len(str(yuan)) - 1 - i] for i, d in enumerate(str(yuan)) if d != "0")
    text = (text or "零") + "圆"
    text += (digits[jiao] + "角" if jiao else "") + (digits[fen] + "分" if fen else "")
    return text + ("" if fen else "整")


def _payload(inv: Invoice) -> str:
    """The QR payload as the real codes carry it: 税控 the amount without tax, 数电 the 价税合计."""
    if inv.fpdm:
        kind = "20" if inv.fplx == "08" else "10"
        return f"01,{kind},{inv.fpdm},{inv.fphm},{inv.je:.2f},{inv.kprq:%Y%m%d},{inv.jym},A1B2"
    kind = "31" if inv.fplx == "81" else "32"
    return f"01,{kind},,{inv.fphm},{inv.jshj:.2f},{inv.kprq:%Y%m%d},,A1B2"


def _draw_qr(page: Any, payload: str, x: float, y: float, size: float) -> None:

    widget = QrCodeWidget(payload)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, page, x, y)


_fonts = 0


def _kangxi_font(chars: set[str]) -> str:
    """STSong-Light again, with a ToUnicode map that says which character each drawn glyph is: the
    Kangxi radicals among ``chars`` are then extracted as radicals (⼦), as in real OFD conversions;
    the CID map alone would give 子. pdfminer looks a ToUnicode map up by CID, so the map is by CID."""
    global _fonts

    encoding = CMapDB.get_cmap("UniGB-UCS2-H")
    pairs = sorted({(cid, char) for char in chars for cid in encoding.decode(char.encode("utf-16-be"))})
    blocks = []
    for start in range(0, len(pairs), 100):  # at most 100 entries per block
        chunk = pairs[start:start + 100]
        blocks.append(f"{len(chunk)} beginbfchar\n"
                      + "\n".join(f"<{cid:04X}> <{char.encode('utf-16-be').hex().upper()}>" for cid, char in chunk)
                      + "\nendbfchar")
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Adobe-GB1-UCS def "
            "/CMapType 2 def 1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            + "\n".join(blocks) + "\nendcmap CMapName currentdict /CMap defineresource pop end end")

    class KangxiFont(UnicodeCIDFont):  # type: ignore[misc]
        def addObjects(self, doc: Any) -> None:  # noqa: N802 - reportlab's name
            super().addObjects(doc)
            font = doc.idToObject[doc.fontMapping[self.name][1:]]
            font.dict["ToUnicode"] = doc.Reference(PDFStream(content=cmap.encode()))

    _fonts += 1
    font = KangxiFont("STSong-Light")
    font.name = font.fontName = f"STSong-Kangxi-{_fonts}"
    pdfmetrics.registerFont(font)
    return str(font.name)


def _register_font() -> None:

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
