"""The collection worker: claims tasks from the database queue and runs them under a renewed lease.

It logs each task's outcome, counts it in the Prometheus metrics, and removes uploaded files: those of a
task that succeeded at once, those of a failed task once FAPIAOHUB_KEEP_FAILED_UPLOADS_HOURS have passed
(swept while the queue is idle).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from fapiaohub import bulk_gc, metrics
from fapiaohub.config import Settings, load_settings
from fapiaohub.store.engine import database_unavailable, first_line
from fapiaohub.tasks import repository, sources

log = logging.getLogger("fapiaohub.worker")
# a task whose holder was interrupted this many times (killed, crashed, lease lost) is failed as
# poison when claimed again, instead of taking down one worker after another
MAX_ATTEMPTS = 2
RUNNERS = {"sandbox": sources.run_sandbox}
SWEEP_EVERY_SECONDS = 600.0  # how often an idle worker looks for uploads to remove


class Worker:
    def __init__(self, engine: Engine, *, name: str | None = None, lease_seconds: float = 30.0,
                 poll_seconds: float = 1.0, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings or load_settings()  # the secret key, the upstream allow-list, the data dir
        # uploads live in <data_dir>/uploads/<taskId>/ (the CLI's import reads the user's files where
        # they are: its tasks have no folder there, so nothing of theirs is ever removed)
        self.uploads = Path(self.settings.data_dir) / "uploads"
        self.keep_failed = timedelta(hours=self.settings.keep_failed_uploads_hours)
        self._last_sweep = 0.0
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds

    @property
    def holding(self) -> repository.Lease:
        """This worker's lease, for creating a task already held by it (create_file_task's claimed_by)."""
        return repository.Lease(self.name, self.lease)

    def run_task(self, task_id: str, progress: sources.Progress | None = None) -> str | None:
        """Run one given waiting task now, if no other worker has taken it."""
        return self.run_once(task_id, progress)

    def run_held(self, task_id: str, progress: sources.Progress | None = None) -> str | None:
        """Run a task created already held by this worker (the CLI's import: no worker can take it
        first); None when this worker no longer holds it (its lease ran out and it was taken over)."""
        with self.engine.connect() as conn:
            task = repository.held_task(conn, task_id, self.name)
        if task is None:
            return None
        return self._run(task, progress, requeue=False)

    def run_once(self, task_id: str | None = None, progress: sources.Progress | None = None) -> str | None:
        """Claim and run one task; its id, or None when nothing was waiting."""
        with self.engine.begin() as conn:
            task = repository.claim_next(conn, self.name, self.lease, task_id)
        if task is None:
            return None
        log.info("task %s (%s, %s %s) claimed by %s, attempt %d", task.id, task.source,
                 task.taxpayer.nsrsbh, task.direction, self.name, task.attempts)
        if task.attempts > MAX_ATTEMPTS:
            # each earlier holder died or lost its lease while running it: running it again would
            # take this worker (and the server it may live in) down the same way
            log.error("task %s: failed as poison after %d interrupted attempts", task.id, task.attempts - 1)
            self._finish(task, repository.TaskResult("500", poison_message(task.attempts - 1)))
            return task.id
        return self._run(task, progress)

    def _run(self, task: repository.ClaimedTask, progress: sources.Progress | None, *, requeue: bool = True) -> str:
        """Run a claimed task and record its result. With ``requeue``, a task whose database
        connection was lost mid-way goes back to the queue instead of failing: the loss is not the
        task's fault, and its uncommitted file or month rolled back (the CLI's import, which has
        no queue behind it, reports the failure instead)."""
        started = time.perf_counter()
        lost = threading.Event()
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(task.id, stop, lost), daemon=True)
        beat.start()

        def check() -> None:
            if lost.is_set():
                raise sources.LeaseLost(task.id)

        try:
            with bulk_gc.bulk_work():  # a task stores thousands of invoices: rare garbage collections meanwhile
                if task.source == "files":
                    result = sources.run_files(self.engine, task, check, progress, self.settings)
                elif task.source == "upstream":
                    result = sources.run_upstream(self.engine, task, check, self.settings)
                else:
                    result = RUNNERS[task.source](self.engine, task, check)
        except sources.LeaseLost:
            log.warning("task %s: lease lost to another worker; abandoned", task.id)
            return task.id
        except Exception as exc:  # noqa: BLE001 - any failure of a source ends the task, not the worker
            if requeue and database_unavailable(exc):
                stop.set()
                beat.join()
                self._requeue(task, exc)
                return task.id
            log.exception("task %s failed", task.id)
            result = repository.TaskResult("500", failure_message(exc))
        finally:
            stop.set()
            beat.join()
        if not lost.is_set():
            self._finish(task, result, time.perf_counter() - started)
        return task.id

    def _requeue(self, task: repository.ClaimedTask, exc: Exception) -> None:
        log.warning("task %s: database out of reach mid-task (%s); back in the queue", task.id, first_line(exc))
        try:
            with self.engine.begin() as conn:
                repository.release(conn, task.id, self.name)
        except Exception:  # noqa: BLE001 - still out of reach: the lease runs out and the task is reclaimed
            log.warning("task %s: could not put it back now; it is reclaimed when its lease runs out", task.id)

    def abandon(self, task_id: str, message: str) -> None:
        """End a task this worker holds as failed without its result (the CLI's import on Ctrl+C):
        what it committed stays, each file being one transaction."""
        with self.engine.begin() as conn:
            repository.finish(conn, task_id, self.name, repository.TaskResult("500", message))

    def _finish(self, task: repository.ClaimedTask, result: repository.TaskResult, seconds: float = 0.0) -> None:
        for attempt in (1, 2):  # a connection cut under the result is replaced (pre-ping) and tried once more
            try:
                with self.engine.begin() as conn:
                    recorded = repository.finish(conn, task.id, self.name, result)
                break
            except SQLAlchemyError as exc:
                if attempt == 2 or not database_unavailable(exc):
                    raise
        if not recorded:
            log.warning("task %s: finished after losing the lease; result dropped", task.id)
            return
        rows = result.inserted + result.updated + result.unchanged + result.rejected + result.skipped
        rate = round(rows / seconds, 1) if seconds > 0 else 0.0
        metrics.TASKS_FINISHED.labels(task.source, result.state).inc()
        metrics.TASK_DURATION.labels(task.source).observe(seconds)
        for outcome in ("inserted", "updated", "unchanged", "rejected", "skipped"):
            metrics.IMPORT_ROWS.labels(outcome).inc(getattr(result, outcome))
        log.log(logging.INFO if result.state == repository.PROCESSED else logging.WARNING,
                "task %s %s (%s): %s; %d rows in %.1fs (%.1f rows/s)", task.id, result.state, result.code,
                result.message, rows, seconds, rate,
                extra={"taskId": task.id, "corpId": task.corp_id, "source": task.source, "state": result.state,
                       "code": result.code, "rows": rows, "durationMs": round(seconds * 1000, 1),
                       "rowsPerSecond": rate, "worker": self.name})
        if result.state == repository.PROCESSED and task.source == "files":
            self._remove_upload(task.id)

    def _remove_upload(self, task_id: str) -> None:
        folder = self.uploads / task_id
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            log.info("task %s: uploaded files removed", task_id, extra={"taskId": task_id})

    def sweep_uploads(self, now: datetime | None = None) -> list[str]:
        """Remove upload folders of finished tasks: succeeded ones, failed ones older than the keep time,
        and folders of tasks that do not exist (a create that rolled back) older than it. Their task ids."""
        if not self.uploads.is_dir():
            return []
        now = now or datetime.now(UTC)
        folders = {folder.name: folder for folder in self.uploads.iterdir() if folder.is_dir()}
        if not folders:
            return []
        with self.engine.connect() as conn:
            states = repository.upload_task_states(conn, sorted(folders))
        removed = []
        for task_id, folder in folders.items():
            state, finished = states.get(task_id, (None, None))
            if state in repository.ACTIVE:
                continue
            if state == repository.PROCESSED:
                expired = True
            elif state is None:
                expired = now - datetime.fromtimestamp(folder.stat().st_mtime, UTC) > self.keep_failed
            else:
                finished = finished.replace(tzinfo=UTC) if finished and finished.tzinfo is None else finished
                expired = finished is not None and now - finished > self.keep_failed
            if expired:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(task_id)
        if removed:
            log.info("removed the uploaded files of %d finished tasks", len(removed))
        return removed

    def _heartbeat(self, task_id: str, stop: threading.Event, lost: threading.Event) -> None:
        interval = self.lease.total_seconds() / 3
        while not stop.wait(interval):
            try:
                with self.engine.begin() as conn:
                    held = repository.extend_lease(conn, task_id, self.name, self.lease)
            except Exception as exc:  # noqa: BLE001 - a cut connection or a restarting database: try again next beat
                log.warning("task %s: renewing the lease failed (%s); trying again", task_id, first_line(exc))
                continue
            if not held:
                lost.set()
                return

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; sleep ``poll_seconds`` whenever the queue is empty."""
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                busy = self.run_once() is not None
            except Exception as exc:  # noqa: BLE001 - a lost database connection must not end the worker
                if database_unavailable(exc):  # a restart or a cut connection: expected, no trace needed
                    log.warning("worker %s: database out of reach (%s); retrying", self.name, first_line(exc))
                else:
                    log.exception("worker %s: claiming failed; retrying", self.name)
                busy = False
            if not busy:
                self._maybe_sweep()
                stop.wait(self.poll_seconds)
        log.info("worker %s stopped", self.name)

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep < SWEEP_EVERY_SECONDS:
            return
        self._last_sweep = time.monotonic()
        try:
            self.sweep_uploads()
        except Exception:  # noqa: BLE001 - a failed sweep is retried later; the queue matters more
            log.exception("worker %s: sweeping uploaded files failed", self.name)


def poison_message(interrupted: int) -> str:
    """Why a task was given up without running again."""
    return (f"处理失败：该任务已{interrupted}次在处理中中断（处理进程崩溃、被终止或失去租约），"
            "疑为导致崩溃的文件或数据，不再重试；请检查后重新发起任务")


def failure_message(exc: Exception) -> str:
    """A failed task's message for its owner: never SQL, bound parameters or a database's own words
    (those go to the server log with the trace); other errors by type and a bounded text."""
    if isinstance(exc, SQLAlchemyError):
        return "处理失败：数据库错误（详情见服务器日志）"
    return f"处理失败：{type(exc).__name__}: {str(exc)[:200]}"
