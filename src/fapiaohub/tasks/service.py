"""Creating file tasks, the one way the CLI, the upload endpoint and the console all use."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from fapiaohub.domain.codes import ACTIVE_TASK_STATES
from fapiaohub.tasks import repository


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A file of a task: the name the user gave it, where the worker reads it, its size."""

    name: str
    path: str
    size: int


def create_file_task(conn: Connection, new: repository.NewTask,
                     place_files: Callable[[str], Iterable[TaskFile]], *,
                     claimed_by: repository.Lease | None = None) -> dict[str, Any]:
    """Create a file-import task and its files in the caller's transaction. ``place_files`` gets
    the new task's id (uploads are stored in a folder named after it) and returns the files; a
    task created finished (collection switched off …) gets none. With ``claimed_by`` the task is
    created held by that worker (the CLI's import: Worker.run_held runs it), never waiting."""
    task = repository.create_task(conn, new, claimed_by=claimed_by)
    if task["state"] not in ACTIVE_TASK_STATES:
        return task
    for seq, file in enumerate(place_files(task["taskId"])):
        repository.add_task_file(conn, task["taskId"], seq, file.name, file.path, file.size)
    return task
