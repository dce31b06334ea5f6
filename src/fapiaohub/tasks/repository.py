"""Collection tasks (发票归集任务): creation rules, the queue (claim with a lease), and their results.

The task table is the queue. A worker claims the oldest claimable row — waiting, or processing
with an expired lease (its worker died) — by writing its own name and a lease expiry into it; it
extends the lease while it works and finishes only while it still holds it. On PostgreSQL the
claim skips rows other workers have locked (FOR UPDATE SKIP LOCKED); SQLite runs one writer at a
time, which serialises claims by itself.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fapiaohub import wire
from fapiaohub.domain.codes import ACTIVE_TASK_STATES as ACTIVE
from fapiaohub.domain.codes import (
    CUSTOMS_PAYMENT,
    DISABLED,
    FAILED,
    NOT_SUPPORTED,
    PROCESSED,
    PROCESSING,
    RESULT_CODES,
    TO_PROCESS,
)
from fapiaohub.errors import BusinessError
from fapiaohub.store.revert import RevertConflictError, revert_task_writes
from fapiaohub.store.tables import collection_task, sandbox_behaviour, task_file, task_record, taxpayer
from fapiaohub.store.taxpayers import Taxpayer, find_taxpayer, lock_taxpayer, taxpayer_by_id

UPLOAD_PATH = "/api/openapi/v2/invoice/v2/collectionTask/upload"
SANDBOX_FLAG = "沙箱发票（非真实数据）"  # in the flags of every invoice the sandbox bureau invents
SECRET_OPTIONS = ("appSecurity",)  # task options that must never be stored in clear

SOURCES = ("sandbox", "files", "upstream")
REVERT = "revert"  # the source of the task row that records a revert
REJECTIONS_KEPT = 200  # the first rejections are kept with the task; the count covers all
CANCELLED = "任务已取消（取消时尚未开始处理，或处理已中断）"


def _new_task_id() -> str:
    return "T" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(15))


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewTask:
    corp_id: str
    nsrsbh: str
    direction: str
    kpyf: int | None
    fplx: str | None
    source: str | None  # None: the taxpayer's channel
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a task and for how long at a time (a worker's name and its lease)."""

    owner: str
    duration: timedelta


LEASE_EXPIRED = "处理中断：租约已过期"


def expire_leases(conn: Connection, taxpayer_id: int) -> list[str]:
    """Fail the taxpayer's tasks whose holder's lease ran out (a killed worker or CLI import): what
    they committed stays (each file is one transaction), the rest is to be imported again. Their ids."""
    now = _now()
    return list(conn.execute(
        sa.update(collection_task)
        .where(collection_task.c.taxpayer_id == taxpayer_id, collection_task.c.state == PROCESSING,
               collection_task.c.lease_expires_at < now)
        .values(state=FAILED, code="500", message=LEASE_EXPIRED, finished_at=now,
                lease_owner=None, lease_expires_at=None)
        .returning(collection_task.c.id)
    ).scalars())


def create_task(conn: Connection, new: NewTask, *, today: datetime | None = None,
                reuse_active: bool = False, claimed_by: Lease | None = None) -> dict[str, Any]:
    """Create a task, or refuse with BusinessError (4008 while another task of the taxpayer is active;
    500 for a taxpayer unknown to the corporation). Tasks that cannot run are created finished:
    disabled (collection switched off) or notSupported (销项 customs payments, a future month).

    With ``reuse_active``, a create identical to the taxpayer's active task (direction, month, kind,
    source and its options) answers that task instead of 4008: a client that lost the answer to its
    create and sends it again gets its own task back (docs/api.md, "Retrying a create").

    A task without a source takes the taxpayer's channel. The sandbox bureau invents invoices, so a
    sandbox task is refused unless an operator marked the taxpayer sandbox (docs/security.md).

    With ``claimed_by``, a task that can run is created already held (processing, attempt 1, under
    that lease): the CLI's import runs its own task, and no worker can take it first.

    An active task whose lease ran out (its worker or CLI import died) does not block: it is failed
    here ("处理中断：租约已过期") before the new task is created."""
    clear = [key for key in SECRET_OPTIONS if key in new.options]
    if clear:  # the caller must seal them first (fapiaohub.sealing); never store a secret in clear
        raise ValueError(f"task options {clear} must be sealed before they are stored")
    tp = lock_taxpayer(conn, new.corp_id, new.nsrsbh)  # two creations cannot both see none active
    if tp is None:
        raise BusinessError("500", RESULT_CODES["500"])
    new = _resolve_source(new, tp)
    expire_leases(conn, tp.id)
    active = conn.execute(
        sa.select(collection_task.c.id, collection_task.c.direction, collection_task.c.kpyf,
                  collection_task.c.fplx, collection_task.c.source, collection_task.c.options)
        .where(collection_task.c.taxpayer_id == tp.id, collection_task.c.state.in_(ACTIVE))
    ).first()
    if active is not None and tp.collection_enabled:
        if reuse_active and _same_request(active, new):
            return get_task(conn, new.corp_id, active.id)
        raise BusinessError("4008", f"{RESULT_CODES['4008']}（任务 {active.id} 尚未完成）")
    state, code, message = TO_PROCESS, None, "已发起申请，待处理"
    this_month = (today or datetime.now(UTC)).strftime("%Y%m")
    if not tp.collection_enabled:
        state, code, message = DISABLED, "500", RESULT_CODES["500"]
    elif new.direction == "xx" and new.fplx == CUSTOMS_PAYMENT:
        state, code, message = NOT_SUPPORTED, "500", "销项不支持海关缴款书"
    elif new.kpyf is not None and new.kpyf > int(this_month):
        state, code, message = NOT_SUPPORTED, "500", f"取票月份{new.kpyf}大于当前月份{this_month}"
    now = _now()
    task_id = _new_task_id()
    held: dict[str, Any] = {"attempts": 0}
    if claimed_by is not None and state == TO_PROCESS:
        state, message = PROCESSING, "处理中"
        held = {"lease_owner": claimed_by.owner, "lease_expires_at": now + claimed_by.duration,
                "attempts": 1, "started_at": now}
    conn.execute(sa.insert(collection_task).values(
        id=task_id, corp_id=new.corp_id, taxpayer_id=tp.id, direction=new.direction, kpyf=new.kpyf,
        fplx=new.fplx, source=new.source, options=wire.dumps(new.options).decode(), state=state,
        code=code, message=message, inserted=0, updated=0, unchanged=0, rejected=0,
        rejections="[]", months="[]", created_at=now, finished_at=None if state in ACTIVE else now, **held,
    ))
    return get_task(conn, new.corp_id, task_id)


def _resolve_source(new: NewTask, tp: Taxpayer) -> NewTask:
    """The task with its source decided (explicit, else the taxpayer's channel), or a refusal."""
    source = new.source or tp.channel
    if source == "sandbox" and tp.channel != "sandbox":
        raise BusinessError("500", f"纳税人{tp.nsrsbh}未被运维标记为沙箱纳税人：沙箱任务会写入虚构的发票，已拒绝"
                                   "（运维可用 fapiaohub taxpayer channel --channel sandbox 标记测试用纳税人）")
    if new.source is None and source == "files":
        raise BusinessError("500", f"纳税人{tp.nsrsbh}的归集渠道为文件导入：请用上传接口 POST {UPLOAD_PATH}"
                                   " 上传发票文件（或在请求中给出 source 与 upstream）")
    if source == "upstream" and not new.options:
        raise BusinessError("4006", "必填项为空：upstream（baseUrl、appKey、appSecurity）")
    if source != "files" and new.kpyf is None:
        raise BusinessError("4006", "必填项为空：kpyf")
    return NewTask(new.corp_id, new.nsrsbh, new.direction, new.kpyf, new.fplx, source, new.options)


def _same_request(row: Any, new: NewTask) -> bool:
    """Whether an active task row was created by the same request as ``new`` (a retried create)."""
    def comparable(options: dict[str, Any]) -> dict[str, Any]:  # a sealed value differs at every sealing
        return {key: value for key, value in options.items() if not key.endswith("Sealed")}

    return (row.direction, row.kpyf, row.fplx, row.source, comparable(wire.loads(row.options))) == (
        new.direction, new.kpyf, new.fplx, new.source, comparable(new.options))


def add_task_file(conn: Connection, task_id: str, seq: int, name: str, path: str, size: int) -> None:
    conn.execute(sa.insert(task_file).values(task_id=task_id, seq=seq, name=name, path=path, size=size))


def task_files(conn: Connection, task_id: str) -> list[Any]:
    return list(conn.execute(
        sa.select(task_file).where(task_file.c.task_id == task_id).order_by(task_file.c.seq)
    ).all())


@dataclass(frozen=True, slots=True)
class KnownFile:
    """A file a finished task stored: where, under which name, the months' state right after, its counts."""

    task_id: str
    name: str
    months_after: str
    written: int
    rejected: int
    skipped: int


def record_known_file(conn: Connection, task_id: str, seq: int, sha256: str, reader: str, months_after: str,
                      written: int, rejected: int, skipped: int) -> None:
    """What a file of a task left behind, written in the transaction that stored (the last of) it."""
    conn.execute(sa.update(task_file).where(task_file.c.task_id == task_id, task_file.c.seq == seq).values(
        sha256=sha256, reader=reader, months_after=months_after, written=written, rejected=rejected,
        skipped=skipped))


def known_file(conn: Connection, task: ClaimedTask, sha256: str, reader: str) -> KnownFile | None:
    """The latest file of this content, read by this code, that a file task of the same taxpayer,
    direction, month and kind stored and that has not been undone (a reverted task is left out;
    its revert changed the months anyway)."""
    row = conn.execute(
        sa.select(task_file.c.task_id, task_file.c.name, task_file.c.months_after, task_file.c.written,
                  task_file.c.rejected, task_file.c.skipped)
        .join(collection_task, collection_task.c.id == task_file.c.task_id)
        .where(task_file.c.sha256 == sha256, task_file.c.reader == reader, task_file.c.months_after.is_not(None),
               task_file.c.task_id != task.id, collection_task.c.taxpayer_id == task.taxpayer.id,
               collection_task.c.direction == task.direction, collection_task.c.source == "files",
               collection_task.c.state == PROCESSED, collection_task.c.reverted_by.is_(None),
               _same(collection_task.c.kpyf, task.kpyf), _same(collection_task.c.fplx, task.fplx))
        .order_by(collection_task.c.finished_at.desc()).limit(1)
    ).first()
    return None if row is None else KnownFile(row.task_id, row.name, row.months_after, row.written, row.rejected,
                                              row.skipped)


def _same(column: sa.Column[Any], value: object) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def known_file_records(conn: Connection, known: KnownFile, limit: int) -> list[Any]:
    """The rejected and skipped records a known file's task kept for it, in the order met."""
    return list(conn.execute(
        sa.select(task_record.c.kind, task_record.c.file, task_record.c.sheet, task_record.c.row,
                  task_record.c.reason)
        .where(task_record.c.task_id == known.task_id,
               sa.or_(task_record.c.file == known.name,
                      task_record.c.file.startswith(known.name + "/", autoescape=True)))
        .order_by(task_record.c.seq).limit(limit)
    ).all())


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def task_view(row: Any, nsrsbh: str) -> dict[str, Any]:
    """A task as the HTTP API shows it (times in epoch ms, like the rest of the Ekuaibao API)."""
    return {
        "taskId": row.id,
        "nsrsbh": nsrsbh,
        "jxxbz": row.direction,
        "kpyf": str(row.kpyf) if row.kpyf is not None else "",
        "fplx": row.fplx or "",
        "source": row.source,
        "state": row.state,
        "code": row.code or "",
        "message": row.message,
        "counts": {"inserted": row.inserted, "updated": row.updated, "unchanged": row.unchanged,
                   "rejected": row.rejected, "skipped": row.skipped},
        "rejections": wire.loads(row.rejections),
        "months": wire.loads(row.months),
        "attempts": row.attempts,
        "createTime": _ms(row.created_at),
        "startTime": _ms(row.started_at),
        "finishTime": _ms(row.finished_at),
    }


def _with_nsrsbh() -> sa.Select[Any]:
    return sa.select(collection_task, taxpayer.c.nsrsbh).join(
        taxpayer, taxpayer.c.id == collection_task.c.taxpayer_id
    )


def get_task(conn: Connection, corp_id: str, task_id: str) -> dict[str, Any]:
    row = conn.execute(
        _with_nsrsbh().where(collection_task.c.id == task_id, collection_task.c.corp_id == corp_id)
    ).first()
    if row is None:
        raise BusinessError("500", f"任务 {task_id} 不存在")
    return task_view(row, row.nsrsbh)


def list_tasks(conn: Connection, corp_id: str, nsrsbh: str, limit: int = 100) -> list[dict[str, Any]]:
    tp = find_taxpayer(conn, corp_id, nsrsbh)
    if tp is None:
        raise BusinessError("500", RESULT_CODES["500"])
    rows = conn.execute(
        _with_nsrsbh().where(collection_task.c.taxpayer_id == tp.id)
        .order_by(collection_task.c.created_at.desc(), collection_task.c.id).limit(limit)
    )
    return [task_view(row, row.nsrsbh) for row in rows]


def cancel_task(conn: Connection, corp_id: str, task_id: str) -> dict[str, Any]:
    """Cancel a task that no worker has started, or one left processing by a worker or import that
    died (its lease expired: nothing of its unfinished file was committed). A task whose holder is
    alive runs to its end."""
    now = _now()
    stuck = sa.and_(collection_task.c.state == PROCESSING, collection_task.c.lease_expires_at < now)
    done = conn.execute(
        sa.update(collection_task)
        .where(collection_task.c.id == task_id, collection_task.c.corp_id == corp_id,
               sa.or_(collection_task.c.state == TO_PROCESS, stuck))
        .values(state=FAILED, code="500", message=CANCELLED, finished_at=now, lease_owner=None,
                lease_expires_at=None)
    ).rowcount
    task = get_task(conn, corp_id, task_id)
    if not done:
        raise BusinessError("500", f"任务 {task_id} 状态为 {task['state']}，只能取消尚未开始或已中断（租约过期）的任务")
    return task


def task_corporation(conn: Connection, task_id: str) -> str | None:
    """The corporation a task belongs to (for the operator's CLI, which names tasks only)."""
    return conn.execute(sa.select(collection_task.c.corp_id).where(collection_task.c.id == task_id)).scalar()


def revert_task(conn: Connection, corp_id: str, task_id: str) -> dict[str, Any]:
    """Undo what a finished task wrote (store.revert) and record the revert as a task row of
    source "revert" whose id the reverted task keeps in reverted_by; a task is reverted once."""
    revert_id = _new_task_id()
    claimed = conn.execute(  # a write first: it takes the lock that serialises two reverts (SQLite too)
        sa.update(collection_task)
        .where(collection_task.c.id == task_id, collection_task.c.corp_id == corp_id,
               collection_task.c.reverted_by.is_(None), collection_task.c.state.not_in(ACTIVE),
               collection_task.c.source != REVERT)
        .values(reverted_by=revert_id)
        .returning(collection_task.c.taxpayer_id, collection_task.c.direction, collection_task.c.kpyf,
                   collection_task.c.fplx)
    ).first()
    if claimed is None:
        raise BusinessError("500", _why_not_revertible(conn, corp_id, task_id))
    tp = taxpayer_by_id(conn, claimed.taxpayer_id)
    try:
        counts = revert_task_writes(conn, tp, claimed.direction, task_id)
    except RevertConflictError as exc:
        raise BusinessError("500", str(exc)) from None
    now = _now()
    conn.execute(sa.insert(collection_task).values(
        id=revert_id, corp_id=corp_id, taxpayer_id=tp.id, direction=claimed.direction, kpyf=claimed.kpyf,
        fplx=claimed.fplx, source=REVERT, options=wire.dumps({"reverts": task_id}).decode(), state=PROCESSED,
        code="2000", message=f"已撤销任务{task_id}：删除其新增的发票{counts.deleted}张，恢复其更新的发票{counts.restored}张",
        inserted=0, updated=counts.restored, unchanged=0, rejected=0, rejections="[]",
        months=wire.dumps(sorted(counts.months)).decode(), attempts=0, created_at=now, started_at=now,
        finished_at=now,
    ))
    return {**get_task(conn, corp_id, revert_id), "reverted": {"taskId": task_id, "deleted": counts.deleted,
                                                               "restored": counts.restored}}


def _why_not_revertible(conn: Connection, corp_id: str, task_id: str) -> str:
    row = conn.execute(sa.select(collection_task.c.state, collection_task.c.source, collection_task.c.reverted_by)
                       .where(collection_task.c.id == task_id, collection_task.c.corp_id == corp_id)).first()
    if row is None:
        return f"任务 {task_id} 不存在"
    if row.source == REVERT:
        return f"任务 {task_id} 是一次撤销的记录，不能再撤销"
    if row.reverted_by:
        return f"任务 {task_id} 已被撤销（撤销记录 {row.reverted_by}）"
    return f"任务 {task_id} 状态为 {row.state}，尚未结束，不能撤销（运行中的任务可先取消或等待结束）"


def reseal_options(conn: Connection, reseal: Callable[[str], str]) -> int:
    """Re-seal the sealed values of every task's options (key rotation); how many were re-sealed."""
    count = 0
    for row in conn.execute(
        sa.select(collection_task.c.id, collection_task.c.options)
        .where(collection_task.c.options.like('%Sealed"%'))
    ).all():
        options = wire.loads(row.options)
        sealed = [key for key in options if key.endswith("Sealed")]
        for key in sealed:
            options[key] = reseal(options[key])
        if sealed:
            conn.execute(sa.update(collection_task).where(collection_task.c.id == row.id)
                         .values(options=wire.dumps(options).decode()))
            count += len(sealed)
    return count


# --- the queue ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClaimedTask:
    id: str
    corp_id: str
    taxpayer: Taxpayer
    direction: str
    kpyf: int | None
    fplx: str | None
    source: str
    options: dict[str, Any]
    attempts: int


def claim_next(
    conn: Connection, owner: str, lease: timedelta, task_id: str | None = None
) -> ClaimedTask | None:
    """Take the oldest waiting task (or ``task_id`` only), or one whose worker's lease ran out."""
    now = _now()
    claimable = (
        sa.select(collection_task.c.id)
        .where(sa.or_(
            collection_task.c.state == TO_PROCESS,
            sa.and_(collection_task.c.state == PROCESSING, collection_task.c.lease_expires_at < now),
        ))
        .where(collection_task.c.id == task_id if task_id else sa.true())
        .order_by(collection_task.c.created_at, collection_task.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = conn.execute(
        sa.update(collection_task)
        .where(collection_task.c.id == claimable)
        .values(state=PROCESSING, lease_owner=owner, lease_expires_at=now + lease,
                attempts=collection_task.c.attempts + 1,
                started_at=sa.func.coalesce(collection_task.c.started_at, now),
                message="处理中")
        .returning(collection_task.c.id)
    ).scalar()
    if claimed is None:
        return None
    return _claimed(conn, claimed, owner)


def held_task(conn: Connection, task_id: str, owner: str) -> ClaimedTask | None:
    """A task ``owner`` holds (created claimed by it), as claim_next hands one over; None when it does not."""
    return _claimed(conn, task_id, owner)


def _claimed(conn: Connection, task_id: str, owner: str) -> ClaimedTask | None:
    row = conn.execute(
        sa.select(collection_task, taxpayer.c.nsrsbh, taxpayer.c.name, taxpayer.c.collection_enabled,
                  taxpayer.c.channel)
        .join(taxpayer, taxpayer.c.id == collection_task.c.taxpayer_id)
        .where(collection_task.c.id == task_id, collection_task.c.lease_owner == owner,
               collection_task.c.state == PROCESSING)
    ).first()
    if row is None:
        return None
    tp = Taxpayer.from_row(row)
    return ClaimedTask(row.id, row.corp_id, tp, row.direction, row.kpyf, row.fplx, row.source,
                       wire.loads(row.options), row.attempts)


def extend_lease(conn: Connection, task_id: str, owner: str, lease: timedelta) -> bool:
    """Push the lease forward; False when this worker no longer holds the task."""
    return bool(conn.execute(
        sa.update(collection_task)
        .where(collection_task.c.id == task_id, collection_task.c.lease_owner == owner,
               collection_task.c.state == PROCESSING)
        .values(lease_expires_at=_now() + lease)
    ).rowcount)


DATABASE_LOST = "处理中断：数据库连接中断，等待重新处理"


def release(conn: Connection, task_id: str, owner: str) -> bool:
    """Put a task ``owner`` holds back in the queue (its database connection was lost mid-task: what
    it had not committed rolled back); the next claim runs it again and counts an attempt."""
    return bool(conn.execute(
        sa.update(collection_task)
        .where(collection_task.c.id == task_id, collection_task.c.lease_owner == owner,
               collection_task.c.state == PROCESSING)
        .values(state=TO_PROCESS, message=DATABASE_LOST, lease_owner=None, lease_expires_at=None)
    ).rowcount)


@dataclass(slots=True)
class TaskResult:
    code: str
    message: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] | None = None
    months: list[int] | None = None
    skipped: int = 0
    skips: list[dict[str, Any]] | None = None

    @property
    def state(self) -> str:
        return PROCESSED if self.code in ("2000", "4000") else FAILED


def finish(conn: Connection, task_id: str, owner: str, result: TaskResult) -> bool:
    """Record the result, only while ``owner`` holds the lease (a worker that lost it is ignored):
    the counts, the first rejections in the task row, every rejected and skipped record in
    task_record."""
    done = bool(conn.execute(
        sa.update(collection_task)
        .where(collection_task.c.id == task_id, collection_task.c.lease_owner == owner,
               collection_task.c.state == PROCESSING)
        .values(
            state=result.state, code=result.code, message=result.message,
            inserted=result.inserted, updated=result.updated, unchanged=result.unchanged,
            rejected=result.rejected, skipped=result.skipped,
            rejections=wire.dumps((result.rejections or [])[:REJECTIONS_KEPT]).decode(),
            months=wire.dumps(sorted(result.months or [])).decode(),
            finished_at=_now(), lease_owner=None, lease_expires_at=None,
        )
    ).rowcount)
    if done:
        records = [("rejected", r) for r in result.rejections or []] + [("skipped", r) for r in result.skips or []]
        conn.execute(sa.delete(task_record).where(task_record.c.task_id == task_id))
        for start in range(0, len(records), 5000):
            conn.execute(sa.insert(task_record), [
                {"task_id": task_id, "seq": start + number, "kind": kind, "file": str(r["file"]),
                 "sheet": r.get("sheet"), "row": r.get("row"), "reason": str(r["reason"])}
                for number, (kind, r) in enumerate(records[start:start + 5000])
            ])
    return done


def task_records(conn: Connection, corp_id: str, task_id: str, *, kind: str | None = None, offset: int = 0,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """A task's rejected and skipped records in the order met (404-like BusinessError for a task of
    another corporation, through get_task)."""
    get_task(conn, corp_id, task_id)
    query = (sa.select(task_record).where(task_record.c.task_id == task_id)
             .order_by(task_record.c.seq).offset(offset).limit(limit))
    if kind is not None:
        query = query.where(task_record.c.kind == kind)
    return [{"kind": r.kind, "file": r.file, "sheet": r.sheet, "row": r.row, "reason": r.reason}
            for r in conn.execute(query)]


def count_by_state(conn: Connection) -> dict[str, int]:
    """How many tasks of all corporations are in each state (the operators' metrics)."""
    rows = conn.execute(sa.select(collection_task.c.state, sa.func.count()).group_by(collection_task.c.state))
    return {str(row[0]): int(row[1]) for row in rows}


def upload_task_states(conn: Connection, task_ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
    """(state, finished_at) of each of these tasks that exists (the worker's sweep of uploaded files)."""
    rows = conn.execute(sa.select(collection_task.c.id, collection_task.c.state, collection_task.c.finished_at)
                        .where(collection_task.c.id.in_(task_ids)))
    return {row.id: (row.state, row.finished_at) for row in rows}


# --- the sandbox bureau's behaviour per taxpayer -------------------------------------------------

def sandbox_behaviour_of(conn: Connection, taxpayer_id: int) -> Any:
    """(fail_code, invoices_per_month) configured for a taxpayer, or None."""
    return conn.execute(
        sa.select(sandbox_behaviour).where(sandbox_behaviour.c.taxpayer_id == taxpayer_id)
    ).first()


def set_sandbox_behaviour(conn: Connection, taxpayer_id: int, fail_code: str | None,
                          invoices_per_month: int) -> None:
    conn.execute(sa.delete(sandbox_behaviour).where(sandbox_behaviour.c.taxpayer_id == taxpayer_id))
    conn.execute(sa.insert(sandbox_behaviour).values(
        taxpayer_id=taxpayer_id, fail_code=fail_code, invoices_per_month=invoices_per_month))
