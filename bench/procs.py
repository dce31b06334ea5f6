"""Process facts the benchmarks read from /proc (Linux): children, CPU time, resident and peak memory.

Kept apart from the rest of the bench: the import figure's probes import it, and must load
nothing else (their peak memory is what they measure).
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def peak_mb(pid: str = "self") -> float:
    """A process's peak resident memory (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux: /proc/<pid>/task/*/children)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(n) for n in task.read_text().split()]
        except OSError:
            pass  # the thread (or the process) has just ended
    return sorted(children)


def rss_mb(pid: int) -> float:
    """Resident memory of a process now (VmRSS), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # after the command's name
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
