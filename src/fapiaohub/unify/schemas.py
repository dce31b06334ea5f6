"""Request bodies of fapiaohub's own unify write API (and of `fapiaohub unify import` files)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

from fapiaohub.domain.invoice import Invoice
from fapiaohub.unify.service import BatchPush, InvoiceRef


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here, before any statement sees it
    if "\x00" in value:
        raise ValueError("不能包含NUL字符（\\u0000）")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_nul)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_no_nul)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 AfterValidator(_no_nul)]  # the bureau's limit for a name
Loose = Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_nul)]
INVOICE = TypeAdapter(Invoice)


class CorporationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Name
    channel: Annotated[str, StringConstraints(min_length=1, max_length=32), AfterValidator(_no_nul)] = "OFFLINE"
    active: bool = True


class BatchInvoiceIn(BaseModel):
    """Either ``key`` (a stored 进项 invoice's identity) or ``invoice`` (canonical data to store)."""

    model_config = ConfigDict(extra="forbid")

    nsrsbh: Text
    key: Code | None = None
    invoice: Invoice | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.key is None) == (self.invoice is None):
            raise ValueError("give exactly one of key (a stored invoice) or invoice (data to store)")
        return self


class RelationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flowId: Text  # noqa: N815 - wire names
    flowCode: Text  # noqa: N815
    feeDetailId: Text  # noqa: N815
    invoiceDetailId: Loose = "null"  # noqa: N815 - Ekuaibao sends the string "null" when unset
    invoiceId: Loose = "null"  # noqa: N815


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unifyInvoiceCorporationId: Text  # noqa: N815
    batchNo: Code  # noqa: N815
    period: Annotated[str, StringConstraints(max_length=32), AfterValidator(_no_nul)] | None = None
    invoices: list[BatchInvoiceIn] = Field(default_factory=list, max_length=10_000)
    relation: list[RelationIn] = Field(default_factory=list, max_length=10_000)

    def to_push(self) -> BatchPush:
        return BatchPush(
            unify_corp_id=self.unifyInvoiceCorporationId,
            batch_no=self.batchNo,
            period=self.period,
            invoices=[InvoiceRef(nsrsbh=i.nsrsbh, key=i.key, invoice=i.invoice) for i in self.invoices],
            relations=[r.model_dump() for r in self.relation],
        )
