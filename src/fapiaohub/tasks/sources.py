"""What a collection task does for each source: files, the sandbox bureau, an upstream server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy.engine import Connection, Engine

from fapiaohub.client import AuthError, Client, FapiaohubError
from fapiaohub.client import BusinessError as SdkBusinessError
from fapiaohub.config import Settings, load_settings
from fapiaohub.demo.generator import generate_taxpayer_month
from fapiaohub.domain.codes import RESULT_CODES
from fapiaohub.domain.invoice import Invoice
from fapiaohub.errors import BusinessError
from fapiaohub.importers.base import ImportRecord, Rejected, Skipped, SourceRef, UnreadableFile
from fapiaohub.importers.isolated import IsolatedReader, ParseLimits
from fapiaohub.sealing import SealError, sealer_for
from fapiaohub.shapes.collection_parse import ItemError, invoice_from_item
from fapiaohub.store.invoices import WriteCounts, batched, store_invoices
from fapiaohub.tasks import known_files, repository
from fapiaohub.tasks.outbound import UnsafeUpstreamError, check_base_url
from fapiaohub.tasks.repository import ClaimedTask, KnownFile, TaskResult, task_files

log = logging.getLogger("fapiaohub.worker")

DEFAULT_SANDBOX_INVOICES = 40  # per kind-agnostic month, when no behaviour row says otherwise


UPSTREAM_RETRY_SECONDS = 10.0  # an upstream that does not answer for this long fails the task (retried later)


class LeaseLost(Exception):  # noqa: N818 - named for what happened
    """Another worker took the task over; stop without recording anything."""


RECORDS_LISTED = 100_000  # rejected/skipped records listed per task (each is counted in any case)


@dataclass(slots=True)
class Tally:
    """What a task has written, rejected and skipped so far."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[dict[str, object]] = field(default_factory=list)
    rejected: int = 0
    months: set[int] = field(default_factory=set)
    skips: list[dict[str, object]] = field(default_factory=list)
    skipped: int = 0

    def record(self, counts: WriteCounts) -> None:
        self.inserted += counts.inserted
        self.updated += counts.updated
        self.unchanged += counts.unchanged

    def merge(self, other: Tally) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.rejections += other.rejections[:RECORDS_LISTED - len(self.rejections)]
        self.months |= other.months
        self.skipped += other.skipped
        self.skips += other.skips[:RECORDS_LISTED - len(self.skips)]

    def reject(self, source: SourceRef, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < RECORDS_LISTED:
            self.rejections.append({"file": source.file, "sheet": source.sheet, "row": source.row,
                                    "reason": reason})

    def skip(self, source: SourceRef, reason: str) -> None:
        self.skipped += 1
        if len(self.skips) < RECORDS_LISTED:
            self.skips.append({"file": source.file, "sheet": source.sheet, "row": source.row, "reason": reason})

    def result(self, code: str | None = None, message: str | None = None) -> TaskResult:
        """The task's outcome. Nothing written although records were rejected is a failure: the
        file was read and none of it could be stored, which a user must not mistake for success."""
        written = self.inserted + self.updated + self.unchanged
        if code is None and not written and self.rejected:
            code = "500"
            reasons = "；".join(str(r["reason"]) for r in self.rejections[:3])
            message = f"全部{self.rejected}条记录被拒绝，未导入任何发票。前几条原因：{reasons}"
        code = code or ("2000" if written else "4000")
        if message is None:
            message = RESULT_CODES[code] if code != "2000" else (
                f"新增{self.inserted}，更新{self.updated}，未变{self.unchanged}，拒绝{self.rejected}，跳过{self.skipped}")
        return TaskResult(code, message, self.inserted, self.updated, self.unchanged, self.rejected,
                          self.rejections, sorted(self.months), self.skipped, self.skips)


def _accept(task: ClaimedTask, invoice: Invoice) -> str | None:
    """Why an invoice does not belong to this taxpayer's side, or None when it does: such a
    record is rejected (the file holds someone else's invoices)."""
    own = task.taxpayer.nsrsbh
    if task.direction == "jx" and invoice.gfsbh != own:
        return f"购方识别号 {invoice.gfsbh or '（空）'} 不是本纳税人 {own}：不属于进项"
    if task.direction == "xx" and invoice.xfsbh != own:
        return f"销方识别号 {invoice.xfsbh or '（空）'} 不是本纳税人 {own}：不属于销项"
    return None


def _outside(task: ClaimedTask, invoice: Invoice) -> str | None:
    """Why an invoice of this taxpayer is outside the month or kind the task asked for, or None:
    such a record is skipped, not rejected (nothing is wrong with it)."""
    if task.kpyf is not None and invoice.kpyf != task.kpyf:
        return f"开票月份 {invoice.kpyf} 不是任务月份 {task.kpyf}"
    if task.fplx is not None and invoice.fplx != task.fplx:
        return f"发票类型 {invoice.fplx} 不是任务的发票类型 {task.fplx}"
    return None


Progress = Callable[[str, int, bool], None]  # (file name, records read so far, file done)


def run_files(engine: Engine, task: ClaimedTask, check: Callable[[], None],
              progress: Progress | None = None, settings: Settings | None = None) -> TaskResult:
    """Import every uploaded file, each parsed in a child process within the parse limits. A file
    that cannot be read (or breaks a limit) leaves nothing behind and fails the task; the other
    files' invoices are kept. PostgreSQL stores a file in one transaction while the child reads
    on; SQLite, which has one write lock for the whole database, first lets the child read the
    whole file, then commits it in transactions of FAPIAOHUB_SQLITE_COMMIT_INVOICES invoices, so
    that getAccessToken, sign-ins and task creation wait for one of them at most, not the file."""
    settings = settings or load_settings()
    limits = ParseLimits(settings.parse_memory_mb, settings.parse_seconds)
    per_commit = _commit_size(engine, settings)
    with engine.connect() as conn:
        files = task_files(conn, task.id)
    with IsolatedReader(limits) as reader:  # one child reads the files one after another
        return _run_files(engine, task, check, progress, files, reader, per_commit)


def _run_files(engine: Engine, task: ClaimedTask, check: Callable[[], None], progress: Progress | None,
               files: list[Any], reader: IsolatedReader, per_commit: int | None) -> TaskResult:
    tally = Tally()
    unreadable: list[str] = []
    for file in files:
        check()
        file_tally = Tally()
        digest = known_files.file_digest(Path(file.path))
        with engine.begin() as conn:
            known = known_files.unchanged_since(conn, task, digest)
            if known is not None:  # read and stored before, and nothing has changed since
                _repeat(conn, task, file, digest, known, file_tally)
        if known is not None:
            log.info("task %s: %s is the file task %s stored, and nothing has changed since: not read again",
                     task.id, file.name, known.task_id)
            if progress is not None:
                progress(file.name, 0, True)
            tally.merge(file_tally)
            continue

        def remember(conn: Connection, counts: WriteCounts, file: Any = file, file_tally: Tally = file_tally,
                     digest: str | None = digest) -> None:
            known_files.remember(conn, task, file.seq, digest, counts.inserted + counts.updated + counts.unchanged,
                                 file_tally.rejected, file_tally.skipped)

        try:
            flags: dict[str, list[str]] = {}
            records = reader.read(Path(file.path), spool=per_commit is not None)
            if progress is not None:
                records = _reporting(records, file.name, progress)
            accepted = _accepted(task, records, file.name, file_tally, flags)
            if per_commit is None:
                with engine.begin() as conn:
                    counts = store_invoices(conn, task.taxpayer, task.direction, accepted, task_id=task.id,
                                            flags=flags)
                    remember(conn, counts)
                    check()  # a worker that lost its lease must not commit
            else:
                counts = _store_in_commits(engine, task, accepted, flags, check, per_commit, remember)
        except UnreadableFile as exc:
            unreadable.append(f"{file.name}: {exc.reason}")
            continue
        finally:
            if progress is not None:
                progress(file.name, 0, True)
        file_tally.record(counts)
        tally.merge(file_tally)

    if unreadable:
        return tally.result("500", "文件无法读取，未导入：" + "；".join(unreadable))
    return tally.result()


def _store_in_commits(engine: Engine, task: ClaimedTask, accepted: Iterator[Invoice], flags: dict[str, list[str]],
                      check: Callable[[], None], per_commit: int,
                      last: Callable[[Connection, WriteCounts], None] | None = None) -> WriteCounts:
    """Invoices read in full already (a file's: an unreadable file never gets here; an upstream
    month's), stored in transactions of ``per_commit``. Each renumbers the months it touched
    before it commits, so a reader sees every month whole (dense positions, its count, a new
    version) with the invoices committed so far. Each chunk is taken from the spool before its
    transaction begins, and so is the one after it, which leaves the write lock free while they
    are unpickled and tells the last transaction it is the last: ``last`` runs in it, with the
    counts of all. Every row written names the task (created_by_task, invoice_history.task_id):
    `fapiaohub task revert` undoes them all."""
    total = WriteCounts()
    chunks = batched(accepted, per_commit)
    chunk = next(chunks, None)
    while chunk is not None:
        following = next(chunks, None)
        with engine.begin() as conn:
            counts = store_invoices(conn, task.taxpayer, task.direction, chunk, task_id=task.id, flags=flags)
            total.inserted += counts.inserted
            total.updated += counts.updated
            total.unchanged += counts.unchanged
            if following is None and last is not None:
                last(conn, total)
            check()  # a worker that lost its lease must not commit (the chunks before stay, all the task's)
        chunk = following
    return total


def _repeat(conn: Connection, task: ClaimedTask, file: Any, digest: str | None, known: KnownFile,
            tally: Tally) -> None:
    """What reading a known file again would give: its invoices unchanged, its rejected and skipped
    records as the earlier task kept them, under this upload's name. This task's file row keeps
    the same, so that the next import of the file finds it here too."""
    tally.unchanged = known.written
    for record in repository.known_file_records(conn, known, RECORDS_LISTED):
        source = SourceRef(file.name + record.file[len(known.name):], record.sheet, record.row)
        (tally.reject if record.kind == "rejected" else tally.skip)(source, record.reason)
    tally.rejected, tally.skipped = known.rejected, known.skipped  # those not listed count too
    known_files.remember(conn, task, file.seq, digest, known.written, known.rejected, known.skipped)


def _reporting(records: Iterator[ImportRecord], name: str, progress: Progress) -> Iterator[ImportRecord]:
    for count, record in enumerate(records, start=1):
        if count % 500 == 0:
            progress(name, count, False)
        yield record


def _accepted(task: ClaimedTask, records: Iterator[ImportRecord], name: str,
              tally: Tally, flags: dict[str, list[str]]) -> Iterator[Invoice]:
    """The invoices of a file that belong to the task; everything else is tallied as rejected.
    The soft findings of flagged invoices are collected in ``flags`` as they pass."""
    for record in records:
        # a bundle's records name their member after the bundle's own name ("b.zip/xml/1.xml"):
        # keep the member, under the name the file was uploaded as
        member = record.source.file.partition("/")[2]
        source = SourceRef(f"{name}/{member}" if member else name, record.source.sheet, record.source.row)
        if isinstance(record, Rejected):
            tally.reject(source, record.reason)
            continue
        if isinstance(record, Skipped):
            tally.skip(source, record.reason)
            continue
        reason = _accept(task, record.invoice)
        if reason is not None:
            tally.reject(source, reason)
            continue
        outside = _outside(task, record.invoice)
        if outside is not None:
            tally.skip(source, outside)
            continue
        tally.months.add(record.invoice.kpyf)
        if record.flags:
            flags[record.invoice.key] = record.flags
        yield record.invoice


def run_sandbox(engine: Engine, task: ClaimedTask, check: Callable[[], None]) -> TaskResult:
    """The sandbox bureau: fail as configured for the taxpayer, else generate the month's invoices."""
    if task.taxpayer.channel != "sandbox":  # unmarked since the task was created, or queued before 0007
        return TaskResult("500", f"纳税人{task.taxpayer.nsrsbh}未被标记为沙箱纳税人：沙箱任务未执行，没有写入任何发票")

    with engine.connect() as conn:
        behaviour = repository.sandbox_behaviour_of(conn, task.taxpayer.id)
    if behaviour is not None and behaviour.fail_code:
        return TaskResult(behaviour.fail_code, RESULT_CODES[behaviour.fail_code])
    count = behaviour.invoices_per_month if behaviour is not None else DEFAULT_SANDBOX_INVOICES
    invoices = [
        inv for inv in generate_taxpayer_month(
            task.taxpayer.nsrsbh, task.taxpayer.name, task.direction, task.kpyf or 0, count)
        if task.fplx is None or inv.fplx == task.fplx
    ]
    # invented invoices say so wherever flags show (exports, the console): never mistaken for real ones
    flags = {inv.key: [repository.SANDBOX_FLAG] for inv in invoices}
    return _store_all(engine, task, invoices, check, Tally(), flags)


def set_sandbox_behaviour(engine: Engine, taxpayer_id: int, fail_code: str | None,
                          invoices_per_month: int = DEFAULT_SANDBOX_INVOICES) -> None:
    if fail_code is not None and (fail_code not in RESULT_CODES or fail_code in ("2000", "500")):
        raise ValueError(f"fail code {fail_code!r} is not one of the seed's task failure codes")
    with engine.begin() as conn:
        repository.set_sandbox_behaviour(conn, taxpayer_id, fail_code, invoices_per_month)

class UpstreamError(Exception):
    """The upstream server refused or answered something that is not the collection API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def run_upstream(engine: Engine, task: ClaimedTask, check: Callable[[], None],
                 settings: Settings | None = None) -> TaskResult:
    """Mirror one month of a taxpayer from another server speaking getInvoiceCollectionData."""
    settings = settings or load_settings()
    tally = Tally()
    try:
        invoices = list(_pull_upstream(task, tally, check, settings))
    except UpstreamError as exc:
        return TaskResult(exc.code, exc.message)
    return _store_all(engine, task, invoices, check, tally, per_commit=_commit_size(engine, settings))


def _store_all(engine: Engine, task: ClaimedTask, invoices: list[Invoice], check: Callable[[], None],
               tally: Tally, flags: dict[str, list[str]] | None = None, per_commit: int | None = None) -> TaskResult:
    """Store a month's invoices in one transaction (in several of ``per_commit`` on SQLite, as
    run_files does), committed only while the lease is held."""
    if per_commit is not None:
        counts = _store_in_commits(engine, task, iter(invoices), flags or {}, check, per_commit)
    else:
        with engine.begin() as conn:
            counts = store_invoices(conn, task.taxpayer, task.direction, invoices, task_id=task.id, flags=flags)
            check()
    tally.record(counts)
    tally.months |= {inv.kpyf for inv in invoices}
    return tally.result()


def _commit_size(engine: Engine, settings: Settings) -> int | None:
    """Invoices per transaction on SQLite (one write lock for the whole database: see run_files);
    None on PostgreSQL, whose writers lock rows."""
    return settings.sqlite_commit_invoices if engine.dialect.name == "sqlite" else None


def _unusable(base_url: str) -> UpstreamError:
    """One message for every way an upstream can fail to answer (refused, closed, timed out, not
    HTTP, redirected, not the API): a task message must not tell a tenant what listens where."""
    return UpstreamError("500", f"上游 {base_url} 没有给出可用的应答（无法连接、超时、重定向，或不是"
                                "getInvoiceCollectionData接口）")


def _pull_upstream(task: ClaimedTask, tally: Tally, check: Callable[[], None],
                   settings: Settings) -> Iterator[Invoice]:
    options = task.options
    base_url = str(options["baseUrl"]).rstrip("/")
    try:  # checked again here: the name may resolve elsewhere now, or the allow-list have changed
        check_base_url(base_url, settings.upstream_allow)
    except UnsafeUpstreamError as exc:
        raise UpstreamError("500", str(exc)) from None
    try:
        secret = sealer_for(settings.secret_key, settings.old_secret_keys).open(str(options["appSecuritySealed"]))
    except BusinessError as exc:
        raise UpstreamError("500", exc.message) from None
    except (SealError, KeyError):
        raise UpstreamError("500", "上游凭据无法解密：加密密钥已更换且旧密钥未列入FAPIAOHUB_OLD_SECRET_KEYS，"
                                   "请重新创建任务") from None
    nsrsbh = str(options.get("nsrsbh") or task.taxpayer.nsrsbh)
    numbers: dict[str, int] = {}
    try:
        # the SDK: the same paging, token handling and retries an integrator's sync uses
        with Client(base_url, str(options["appKey"]), secret, corp_id=options.get("corpId") or None,
                    retry_deadline=UPSTREAM_RETRY_SECONDS) as upstream:
            for fplx, item in upstream.iter_items(nsrsbh, task.kpyf or 0, task.direction, task.fplx):
                check()
                numbers[fplx] = numbers.get(fplx, 0) + 1
                source = SourceRef(f"{base_url} fplx={fplx}", None, numbers[fplx])
                try:
                    invoice = invoice_from_item(fplx, cast(dict[str, Any], item))
                except ItemError as exc:
                    tally.reject(source, str(exc))
                    continue
                reason = _accept(task, invoice)
                if reason is None:
                    yield invoice
                else:
                    tally.reject(source, reason)
    except AuthError:
        raise UpstreamError("4001", f"上游 {base_url} 拒绝了 appKey/appSecurity") from None
    except SdkBusinessError as exc:
        raise UpstreamError(str(exc.code), f"上游：{exc.message}") from None
    except (FapiaohubError, httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        log.info("task %s: upstream %s unusable: %s", task.id, base_url, type(exc).__name__)  # the operator's log only
        raise _unusable(base_url) from None
