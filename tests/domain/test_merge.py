"""The merge rule for several sources of one invoice: precedence, empties, midnight times, whole lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest

from fapiaohub.domain.invoice import Invoice, InvoiceLine
from fapiaohub.domain.merge import merge_invoices, merge_with_findings


def base(**changes: object) -> Invoice:
    invoice = Invoice(fplx="82", fphm="26447910000000012345", kprq=datetime(2026, 1, 15), je=Decimal("100.00"),
                      se=Decimal("6.00"), jshj=Decimal("106.00"), xfsbh="91440300MA5DEM0019", xfmc="卖方",
                      gfsbh="91310115MA1DEM002X", gfmc="买方")
    return replace(invoice, **changes)  # type: ignore[arg-type]


LINE = InvoiceLine(mc="*信息技术服务*技术服务费", je=Decimal("100.00"), se=Decimal("6.00"), slv=Decimal("0.06"))


def test_the_first_stated_value_wins_and_conflicts_are_reported() -> None:
    export, xml, pdf = base(kpr="张三"), base(kpr="李四", bz="备注"), base(xfmc="卖方（PDF）", jym="123")
    merged, findings = merge_with_findings([export, xml, pdf])
    assert (merged.kpr, merged.bz, merged.xfmc, merged.jym) == ("张三", "备注", "卖方", "123")
    assert any(f.startswith("kpr: 张三 kept over 李四") for f in findings)
    assert any(f.startswith("xfmc: 卖方 kept over 卖方（PDF）") for f in findings)


def test_an_empty_value_never_overwrites_a_stated_one() -> None:
    merged = merge_invoices([base(gfmc="", kpr=""), base(gfmc="", kpr="张三"), base(gfmc="买方二")])
    assert (merged.gfmc, merged.kpr) == ("买方二", "张三")


def test_a_default_status_does_not_hide_a_stated_one() -> None:
    # XML/OFD/PDF do not state 发票状态 (the Invoice default "0"); the export's 全额红冲 stays
    assert merge_invoices([base(), base(fpzt_dm="8")]).fpzt_dm == "8"
    assert merge_invoices([base(fpzt_dm="8"), base()]).fpzt_dm == "8"


def test_a_midnight_time_takes_the_stated_time_of_the_same_day() -> None:
    xml, export = base(kprq=datetime(2026, 1, 15)), base(kprq=datetime(2026, 1, 15, 9, 30, 5))
    assert merge_invoices([xml, export]).kprq == datetime(2026, 1, 15, 9, 30, 5)
    assert merge_invoices([export, xml]).kprq == datetime(2026, 1, 15, 9, 30, 5)


def test_a_time_of_another_day_does_not_move_the_issue_day() -> None:
    merged, findings = merge_with_findings([base(), base(kprq=datetime(2026, 1, 16, 9, 0))])
    assert merged.kprq == datetime(2026, 1, 15)
    assert any(f.startswith("kprq:") for f in findings)


def test_lines_and_special_come_whole_from_the_first_source_that_has_them() -> None:
    pdf_line = replace(LINE, mc="*信息技术服务*技术服务")
    special = [{"cph": "粤B12345"}]
    merged = merge_invoices([base(), base(lines=[LINE], special=special, tdywlx="08"), base(lines=[pdf_line, LINE])])
    assert merged.lines == [LINE]
    assert merged.special == special
    assert merged.tdywlx == "08"


def test_a_single_record_is_itself_and_inputs_are_untouched() -> None:
    only = base(lines=[LINE])
    assert merge_invoices([only]) == only
    first, second = base(kpr=""), base(kpr="张三")
    merge_invoices([first, second])
    assert first.kpr == ""


def test_pairwise_merging_in_order_equals_merging_all() -> None:
    records = [base(kpr=""), base(kpr="甲", kprq=datetime(2026, 1, 15, 8)), base(bz="乙", lines=[LINE])]
    assert merge_invoices([merge_invoices(records[:2]), records[2]]) == merge_invoices(records)


def test_nothing_to_merge_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one invoice"):
        merge_invoices([])
