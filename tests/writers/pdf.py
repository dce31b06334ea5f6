"""Writes PDF e-invoices with a real Chinese text layer (reportlab, a test dependency)."""

from __future__ import annotations

from pathlib import Path

from fapiaohub.domain.invoice import Invoice


def write_pdf(path: Path, invoice: Invoice) -> None:
    """A PDF e-invoice with a real Chinese text layer, laid out label by label as issued ones are.
    reportlab is a test dependency, so it is imported here rather than at module level."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    titles = {"81": "电子发票（增值税专用发票）", "82": "电子发票（普通发票）", "08": "增值税电子专用发票",
              "10": "增值税电子普通发票"}
    lines = [titles[invoice.fplx]]
    if invoice.fpdm:
        lines.append(f"发票代码：{invoice.fpdm}")
    lines += [f"发票号码：{invoice.fphm}", f"开票日期：{invoice.kprq:%Y年%m月%d日}"]
    if invoice.jym:
        lines.append(f"校 验 码：{invoice.jym[:5]} {invoice.jym[5:10]} {invoice.jym[10:15]} {invoice.jym[15:]}")
    lines += [f"购买方 名称：{invoice.gfmc}", f"统一社会信用代码/纳税人识别号：{invoice.gfsbh}",
              f"销售方 名称：{invoice.xfmc}", f"统一社会信用代码/纳税人识别号：{invoice.xfsbh}"]
    lines += [f"{line.mc} {line.ggxh} {line.jldw} {line.sl} {line.dj} {line.je:.2f} {line.slv * 100:.0f}% {line.se:.2f}"
              for line in invoice.lines]
    lines += [f"合 计 ¥{invoice.je:.2f} ¥{invoice.se:.2f}", f"价税合计（大写） （小写）¥{invoice.jshj:.2f}",
              f"开票人：{invoice.kpr}"]
    page = canvas.Canvas(str(path))
    page.setFont("STSong-Light", 9)
    for number, text in enumerate(lines):
        page.drawString(40, 800 - number * 16, text)
    page.save()
