"""The collection worker: claims tasks from the database queue and runs them under a renewed lease."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from fapiaohub.tasks import repository, sources

log = logging.getLogger("fapiaohub.worker")
MAX_ATTEMPTS = 5  # a task that has killed this many workers is failed instead of retried forever
RUNNERS = {"sandbox": sources.run_sandbox, "upstream": sources.run_upstream}


class Worker:
    def __init__(self, engine: Engine, *, name: str | None = None, lease_seconds: float = 30.0,
                 poll_seconds: float = 1.0) -> None:
        self.engine = engine
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds

    def run_task(self, task_id: str, progress: sources.Progress | None = None) -> str | None:
        """Run one given task now (the CLI's import), if no other worker has taken it."""
        return self.run_once(task_id, progress)

    def run_once(self, task_id: str | None = None, progress: sources.Progress | None = None) -> str | None:
        """Claim and run one task; its id, or None when nothing was waiting."""
        with self.engine.begin() as conn:
            task = repository.claim_next(conn, self.name, self.lease, task_id)
        if task is None:
            return None
        log.info("task %s (%s, %s %s) claimed by %s, attempt %d", task.id, task.source,
                 task.taxpayer.nsrsbh, task.direction, self.name, task.attempts)
        if task.attempts > MAX_ATTEMPTS:
            self._finish(task, repository.TaskResult("500", f"处理失败：已尝试{MAX_ATTEMPTS}次仍未完成"))
            return task.id
        lost = threading.Event()
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(task.id, stop, lost), daemon=True)
        beat.start()

        def check() -> None:
            if lost.is_set():
                raise sources.LeaseLost(task.id)

        try:
            if task.source == "files":
                result = sources.run_files(self.engine, task, check, progress)
            else:
                result = RUNNERS[task.source](self.engine, task, check)
        except sources.LeaseLost:
            log.warning("task %s: lease lost to another worker; abandoned", task.id)
            return task.id
        except Exception as exc:  # noqa: BLE001 - any failure of a source ends the task, not the worker
            log.exception("task %s failed", task.id)
            result = repository.TaskResult("500", failure_message(exc))
        finally:
            stop.set()
            beat.join()
        if not lost.is_set():
            self._finish(task, result)
        return task.id

    def _finish(self, task: repository.ClaimedTask, result: repository.TaskResult) -> None:
        with self.engine.begin() as conn:
            if not repository.finish(conn, task.id, self.name, result):
                log.warning("task %s: finished after losing the lease; result dropped", task.id)

    def _heartbeat(self, task_id: str, stop: threading.Event, lost: threading.Event) -> None:
        interval = self.lease.total_seconds() / 3
        while not stop.wait(interval):
            with self.engine.begin() as conn:
                if not repository.extend_lease(conn, task_id, self.name, self.lease):
                    lost.set()
                    return

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; sleep ``poll_seconds`` whenever the queue is empty."""
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                busy = self.run_once() is not None
            except Exception:  # noqa: BLE001 - a lost database connection must not end the worker
                log.exception("worker %s: claiming failed; retrying", self.name)
                busy = False
            if not busy:
                stop.wait(self.poll_seconds)
        log.info("worker %s stopped", self.name)


def failure_message(exc: Exception) -> str:
    """A failed task's message for its owner: never SQL, bound parameters or a database's own words
    (those go to the server log with the trace); other errors by type and a bounded text."""
    if isinstance(exc, SQLAlchemyError):
        return "处理失败：数据库错误（详情见服务器日志）"
    return f"处理失败：{type(exc).__name__}: {str(exc)[:200]}"
