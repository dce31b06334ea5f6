"""Taxpayers of a corporation: who fapiaohub collects invoices for (all SQL about the taxpayer table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub.store.tables import taxpayer


@dataclass(frozen=True, slots=True)
class Taxpayer:
    id: int
    corp_id: str
    nsrsbh: str
    name: str
    collection_enabled: bool
    channel: str = "files"  # files | upstream | sandbox: what a task without a source does

    @classmethod
    def from_row(cls, row: Any) -> Taxpayer:
        """A taxpayer from a row with the taxpayer table's columns (``id`` may be named ``taxpayer_id``)."""
        mapping = row._mapping
        return cls(mapping["taxpayer_id"] if "taxpayer_id" in mapping else mapping["id"], mapping["corp_id"],
                   mapping["nsrsbh"], mapping["name"], mapping["collection_enabled"], mapping["channel"])


CHANNELS = ("files", "upstream", "sandbox")


def add_taxpayer(
    conn: Connection, corp_id: str, nsrsbh: str, name: str, *, collection_enabled: bool = True,
    channel: str = "files",
) -> Taxpayer:
    result = conn.execute(
        sa.insert(taxpayer)
        .values(
            corp_id=corp_id,
            nsrsbh=nsrsbh,
            name=name,
            collection_enabled=collection_enabled,
            channel=channel,
            created_at=datetime.now(UTC),
        )
        .returning(taxpayer.c.id)
    )
    return Taxpayer(result.scalar_one(), corp_id, nsrsbh, name, collection_enabled, channel)


def find_taxpayer(conn: Connection, corp_id: str, nsrsbh: str) -> Taxpayer | None:
    row = conn.execute(
        sa.select(taxpayer).where(taxpayer.c.corp_id == corp_id, taxpayer.c.nsrsbh == nsrsbh)
    ).first()
    return Taxpayer.from_row(row) if row else None


def lock_taxpayer(conn: Connection, corp_id: str, nsrsbh: str) -> Taxpayer | None:
    """Find a taxpayer and hold its row lock until the transaction ends, serialising decisions
    about it (task creation). A no-op UPDATE locks on both databases; SELECT … FOR UPDATE would
    not lock anything on SQLite. Make it the transaction's first statement."""
    row = conn.execute(
        sa.update(taxpayer)
        .where(taxpayer.c.corp_id == corp_id, taxpayer.c.nsrsbh == nsrsbh)
        .values(collection_enabled=taxpayer.c.collection_enabled)
        .returning(taxpayer.c.id, taxpayer.c.name, taxpayer.c.collection_enabled, taxpayer.c.channel)
    ).first()
    return Taxpayer(row.id, corp_id, nsrsbh, row.name, row.collection_enabled, row.channel) if row else None


def list_taxpayers(conn: Connection, corp_id: str) -> list[Taxpayer]:
    rows = conn.execute(
        sa.select(taxpayer).where(taxpayer.c.corp_id == corp_id).order_by(taxpayer.c.nsrsbh)
    )
    return [Taxpayer.from_row(r) for r in rows]


def taxpayer_by_id(conn: Connection, taxpayer_id: int) -> Taxpayer:
    row = conn.execute(sa.select(taxpayer).where(taxpayer.c.id == taxpayer_id)).one()
    return Taxpayer.from_row(row)



def set_channel(conn: Connection, corp_id: str, nsrsbh: str, channel: str) -> bool:
    """Set how a taxpayer's tasks without a source collect; False when the taxpayer is unknown."""
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    return bool(conn.execute(
        sa.update(taxpayer).where(taxpayer.c.corp_id == corp_id, taxpayer.c.nsrsbh == nsrsbh)
        .values(channel=channel)
    ).rowcount)
