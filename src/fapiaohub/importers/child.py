"""Readers in child processes: start `python -m MODULE ARGS`, take its pickled messages over a pipe, bound it.

The one mechanism behind the worksheet child (row_process: a second core for a big sheet) and the
file child (isolated: a whole file parsed where neither a crash, an unbounded allocation nor a
slow parse reaches the importing process). A message is a frame: the lengths of its kind and of
its payload's pickle, the kind (ASCII), the pickle; the kind can be read without unpickling (a
spool keeps frames as they came). The pipe's buffer is the only queue: a child that is ahead waits, so memory
stays flat. A child runs in its own process group, so that ending it ends the children it
started too (the file child's worksheet child), and inherits the memory limit its parent set
(resource limits pass through fork and exec).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
    import resource
except ImportError:  # not on Windows: no pipe sizing nor memory limit there
    fcntl = None  # type: ignore[assignment]
    resource = None  # type: ignore[assignment]

import fapiaohub

PIPE_BYTES = 1024**2  # the pipe's buffer (Linux's default limit for it)
_HEADER = struct.Struct("<HQ")  # a frame's kind length and pickle length
_PACKAGE_ROOT = str(Path(fapiaohub.__file__).resolve().parents[1])
MEMORY_EXIT = 75  # a child's exit status after MemoryError, when it could not even say so


class ChildFailed(RuntimeError):  # noqa: N818 - named for what happened
    """The child ended without finishing: ``timed_out`` when its parent ended it for taking too
    long, else ``status`` is its exit status (negative: the signal that killed it)."""

    def __init__(self, message: str, status: int | None = None, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out

    @property
    def signal_name(self) -> str | None:
        if self.status is None or self.status >= 0:
            return None
        try:
            return signal.Signals(-self.status).name
        except ValueError:
            return f"signal {-self.status}"


def start(module: str, *args: str, requests: bool = False) -> subprocess.Popen[bytes]:
    """``python -m module args…`` with its stdout a pipe to this process (and its stdin one from
    it, with ``requests``). OSError when no interpreter can be started (an embedded Python)."""
    env = dict(os.environ)  # the child imports this package from where the parent did
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    child = subprocess.Popen([sys.executable, "-m", module, *args],
                             stdin=subprocess.PIPE if requests else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                             start_new_session=True)
    assert child.stdout is not None
    # Linux: a larger pipe lets the child run a few batches ahead instead of a third of one
    if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        try:
            fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size: the default buffer only costs some overlap
    return child


class Messages:
    """The messages of a started child, as raw frames or unpickled. ``seconds`` bounds the time
    this process spends waiting for them (the child's work as the import sees it; time the child
    spends blocked because this process is behind is not counted): past it the child is ended
    and ChildFailed(timed_out=True) raised."""

    def __init__(self, child: subprocess.Popen[bytes], seconds: float | None = None) -> None:
        assert child.stdout is not None
        self.child = child
        self.fd = child.stdout.fileno()
        self.left = seconds

    def frame(self) -> bytes:
        """The next message as sent (see kind_of and payload_of)."""
        header = self._read(_HEADER.size)
        kind_length, length = _HEADER.unpack(header) if len(header) == _HEADER.size else (0, 0)
        data = self._read(kind_length + length) if kind_length else b""
        if not kind_length or len(data) != kind_length + length:
            status = self.child.wait()
            raise ChildFailed(f"the child process stopped halfway (exit status {status})", status)
        return header + data

    def __next__(self) -> tuple[str, Any]:
        frame = self.frame()
        return kind_of(frame), payload_of(frame)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return self

    def _read(self, size: int) -> bytes:
        parts: list[bytes] = []
        while size:
            if self.left is not None:
                started = time.monotonic()
                ready, _, _ = select.select([self.fd], [], [], max(self.left, 0.0))
                self.left -= time.monotonic() - started
                if not ready:
                    end(self.child)
                    raise ChildFailed("the child process ran out of time", timed_out=True)
            part = os.read(self.fd, min(size, PIPE_BYTES))
            if not part:
                break
            parts.append(part)
            size -= len(part)
        return b"".join(parts)

    def close(self) -> None:
        end(self.child)


def kind_of(frame: bytes) -> str:
    kind_length = _HEADER.unpack_from(frame)[0]
    return frame[_HEADER.size:_HEADER.size + kind_length].decode("ascii")


def payload_of(frame: bytes) -> Any:
    kind_length = _HEADER.unpack_from(frame)[0]
    return pickle.loads(memoryview(frame)[_HEADER.size + kind_length:])  # our own child's: safe  # noqa: S301


def read_frame(stream: IO[bytes]) -> bytes | None:
    """A frame written to a file earlier (a spool), None at its end."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    kind_length, length = _HEADER.unpack(header)
    return header + stream.read(kind_length + length)


def end(child: subprocess.Popen[bytes]) -> None:
    """End a child and whatever it started (its process group), and reap it. A child that has
    ended already needs nothing: what it started gets EPIPE at its next write and ends."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            child.kill()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            try:
                stream.close()
            except BrokenPipeError:  # stdin: a request it never read
                pass
    child.wait()


def send(stream: IO[bytes], kind: str, payload: Any) -> None:
    """The child's side: one message."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    name = kind.encode("ascii")
    stream.write(_HEADER.pack(len(name), len(data)))
    stream.write(name)
    stream.write(data)


def limit_memory(limit_bytes: int) -> None:
    """The child's side: cap this process's address space (and its children's) at ``limit_bytes``;
    an allocation beyond it fails (MemoryError in Python, an abort in native code)."""
    if resource is not None and limit_bytes > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit_bytes = min(limit_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))
