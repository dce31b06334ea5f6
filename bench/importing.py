"""Benchmark of bureau-export imports (issue 6, figure 5): end to end vs python-calamine's bare read.

    python -m bench.importing [--db URL] [--rows 200000] [--repeat 2]

The import side is exactly what a collection task does for an uploaded file (the `fapiaohub
import` command): a task with the file is created for a fresh tenant's taxpayer, and
Worker.run_task reads, validates and stores it in one transaction. Each side runs in its own
process, so the peak memory reported is the importer's own (VmHWM; ru_maxrss of a child carries
the parent's peak across fork/exec). Data is generated once under bench/.data (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.procs import child_pids, peak_mb

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().with_name(".data")
MONTHS = [202500 + month for month in range(1, 13)]



class ChildPeaks(threading.Thread):
    """Watches the peak memory of this process's descendants (the importer parses each file in a
    child process, which reads a big sheet in a child of its own: their memory is the import's
    too). VmHWM only grows, so the last reading of a process, taken at most INTERVAL before it
    ends, is its peak or close to it."""

    INTERVAL = 0.05

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[str, tuple[int, float]] = {}  # pid → (generation: 1 for a child, its peak)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.INTERVAL):
            parents, generation = [os.getpid()], 1
            while parents:
                found = [child for parent in parents for child in child_pids(parent)]
                for pid in found:
                    try:
                        self.peaks[str(pid)] = (generation, peak_mb(str(pid)))
                    except (OSError, AttributeError):
                        pass  # it has just ended
                parents, generation = found, generation + 1

    def stop(self) -> float:
        """The descendants' memory, in MB (0 when there were none): the largest peak of each
        generation, added up (they run at the same time, one of each generation at a time)."""
        self.done.set()
        self.join()
        largest: dict[int, float] = {}
        for generation, peak in self.peaks.values():
            largest[generation] = max(largest.get(generation, 0.0), peak)
        return sum(largest.values())


def taxpayer() -> tuple[str, str]:
    from fapiaohub.demo.generator import demo_taxpayers

    tp = demo_taxpayers()[0]
    return tp.nsrsbh, tp.name


def _invoices(rows: int) -> Iterator:
    """Demo invoices received by one taxpayer (进项) over a year, until ``rows`` line rows. A real
    export is per taxpayer and direction, so every row belongs to the importing taxpayer. 海关缴款书
    are left out: the bureau's 全量发票查询 does not list them."""
    from fapiaohub.demo.generator import generate_taxpayer_month

    nsrsbh, name = taxpayer()
    written = 0
    while True:
        for kpyf in MONTHS:
            for inv in generate_taxpayer_month(nsrsbh, name, "jx", kpyf, rows // 30 + 1):
                if inv.fplx == "17":
                    continue
                yield inv
                written += len(inv.lines)
                if written >= rows:
                    return


def build_export(rows: int) -> Path:
    """The line-layout export of ``rows`` rows (written once, then reused)."""
    from fapiaohub.shapes.bureau_layout import write_bureau_export

    DATA.mkdir(exist_ok=True)
    # named after the writer's layout: a file kept from before (openpyxl's, which the bureau never
    # writes) is not measured again
    path = DATA / f"import-jx-{rows}-poi.xlsx"
    if not path.exists():
        print(f"  writing a {rows}-row line-layout export (once; kept in {path.parent.name}/)", flush=True)
        partial = path.with_suffix(".partial.xlsx")
        write_bureau_export(partial, _invoices(rows))
        partial.rename(path)
    return path


def new_taxpayer(db_url: str) -> str:
    """A fresh tenant holding the exporting taxpayer; returns its corpId."""
    from fapiaohub.auth.service import create_tenant
    from fapiaohub.store.engine import make_engine, upgrade
    from fapiaohub.store.taxpayers import add_taxpayer

    engine = make_engine(db_url)
    upgrade(engine)
    nsrsbh, name = taxpayer()
    with engine.begin() as conn:
        creds = create_tenant(conn, f"导入基准{uuid.uuid4().hex[:6]}")
        add_taxpayer(conn, creds.corp_id, nsrsbh, name)
    engine.dispose()
    return creds.corp_id


def revert_imports(db_url: str, stored: list[tuple[str, str]]) -> None:
    """Undo the measured imports (`fapiaohub task revert`, each), so that the bench database keeps
    the size it was built with however often the figure is measured."""
    from fapiaohub.store.engine import make_engine
    from fapiaohub.tasks import repository as tasks

    engine = make_engine(db_url)
    for corp_id, task_id in stored:
        with engine.begin() as conn:
            tasks.revert_task(conn, corp_id, task_id)
    engine.dispose()
    print(f"  reverted the {len(stored)} measured imports: the bench database keeps its size", flush=True)


# --- what each child process measures ------------------------------------------------------

def _probe_calamine(path: str) -> dict:
    import python_calamine

    start = time.perf_counter()
    book = python_calamine.CalamineWorkbook.from_path(path)
    rows = sum(1 for name in book.sheet_names for _ in book.get_sheet_by_name(name).iter_rows())
    return {"seconds": time.perf_counter() - start, "rows": rows}


def _probe_read(path: str) -> dict:
    """The importer's read, invoice assembly and validation, without a database."""
    from fapiaohub.importers import read_invoices
    from fapiaohub.importers.base import Parsed

    start = time.perf_counter()
    parsed = rejected = 0
    for record in read_invoices(Path(path)):
        if isinstance(record, Parsed):
            parsed += 1
        else:
            rejected += 1
    return {"seconds": time.perf_counter() - start, "parsed": parsed, "rejected": rejected}


def probe_import(path: str, db_url: str, corp_id: str) -> dict:
    """What `fapiaohub import --corp C --nsrsbh N --jxxbz jx FILE` does, timed from the claim on."""
    from fapiaohub.store.engine import make_engine
    from fapiaohub.tasks import repository as tasks
    from fapiaohub.tasks.service import TaskFile, create_file_task
    from fapiaohub.tasks.worker import Worker

    engine = make_engine(db_url)
    nsrsbh, _ = taxpayer()
    file = Path(path)
    with engine.begin() as conn:
        new = tasks.NewTask(corp_id, nsrsbh, "jx", None, None, "files", {})
        task = create_file_task(conn, new, lambda _: [TaskFile(file.name, str(file), file.stat().st_size)])
    start = time.perf_counter()
    Worker(engine).run_task(task["taskId"])
    seconds = time.perf_counter() - start
    with engine.connect() as conn:
        done = tasks.get_task(conn, corp_id, task["taskId"])
    engine.dispose()
    return {"seconds": seconds, "state": done["state"], "message": done["message"], "counts": done["counts"],
            "task_id": task["taskId"]}


def _probe_import_read(path: str, db_url: str, corp_id: str) -> dict:
    """probe_import with the known-file answer off: the file is read and compared in full, as a
    re-import after any other write is (tasks/known_files.py)."""
    from fapiaohub.tasks import known_files

    known_files.unchanged_since = lambda *_: None  # type: ignore[assignment]  # this probe process only
    return probe_import(path, db_url, corp_id)


PROBES = {"calamine": _probe_calamine, "read": _probe_read, "import": probe_import,
          "import-read": _probe_import_read}


def _child(kind: str, *args: str) -> dict:
    """Run one probe in a fresh Python process; its result with its peak memory (MB)."""
    done = subprocess.run([sys.executable, "-m", "bench.importing", "--probe", kind, *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"probe {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the figures -----------------------------------------------------------------------------

def import_figures(db_url: str, rows: int = 200_000, repeat: int = 1) -> list[tuple[str, float, str]]:
    """Import end to end vs calamine's read of the same workbook, interleaved (calamine, import,
    calamine, import, …, calamine) so that both sides see the same machine load; each import is a
    first import, into a fresh tenant, reverted once everything is measured. Figures are medians."""
    path = build_export(rows)
    calamine, imports, peaks = [], [], []
    corp_id = ""
    stored: list[tuple[str, str]] = []  # (corpId, taskId) of each import that wrote: reverted at the end
    for _ in range(repeat):
        cal = _child("calamine", str(path))
        calamine.append(cal["seconds"])
        corp_id = new_taxpayer(db_url)
        done = _child("import", str(path), db_url, corp_id)
        counts = done["counts"]
        if done["state"] != "processed" or counts["rejected"] or not counts["inserted"]:
            raise RuntimeError(f"the import did not store every invoice: {done}")
        stored.append((corp_id, done["task_id"]))
        imports.append(done["seconds"])
        peaks.append(done["peak_mb"])
        print(f"  calamine read {cal['rows']} rows in {cal['seconds']:.1f} s (peak {cal['peak_mb']:.0f} MB);"
              f" import stored {counts['inserted']} invoices in {done['seconds']:.1f} s"
              f" (peak {done['peak_mb']:.0f} MB, of which the parse children {done['child_mb']:.0f})", flush=True)
    calamine.append(_child("calamine", str(path))["seconds"])
    # read in full first (its answer is what the known file's must be), then known
    read_again = _child("import-read", str(path), db_url, corp_id)
    again = _child("import", str(path), db_url, corp_id)
    for done in (read_again, again):
        if done["counts"]["inserted"] or done["counts"]["updated"]:
            raise RuntimeError(f"re-importing the same file changed the store: {done}")
    if again["counts"] != read_again["counts"]:
        raise RuntimeError(f"the known file's answer {again['counts']} is not the read's {read_again['counts']}")
    print(f"  calamine {calamine[-1]:.1f} s; re-import of the same file (all unchanged): known, not read again"
          f" {again['seconds']:.2f} s; read and compared in full {read_again['seconds']:.1f} s", flush=True)
    revert_imports(db_url, stored)
    ratio = statistics.median(imports) / statistics.median(calamine)
    return [
        (f"import end to end / calamine read ({rows // 1000}k rows)", ratio, "≤ 2"),
        ("re-import of the same file (all unchanged) / calamine read", again["seconds"] / calamine[-1], "≤ 1"),
        ("re-import read in full (as after any other write) / calamine read", read_again["seconds"] / calamine[-1],
         "(reported)"),
        ("import peak memory, MB", max(peaks), "< 300"),
    ]


def phase_figures(rows: int = 200_000) -> None:
    """Where the import's time goes without a database: read + assemble + validate."""
    path = build_export(rows)
    cal = _child("calamine", str(path))
    read = _child("read", str(path))
    print(f"  calamine {cal['seconds']:.1f} s; read+assemble+validate {read['seconds']:.1f} s"
          f" ({read['parsed']} invoices, {read['rejected']} rejected, peak {read['peak_mb']:.0f} MB)", flush=True)


def run_probe(probes: dict[str, Callable[..., dict[str, Any]]], probe: list[str]) -> None:
    """Run one measurement in this (child) process and print it as JSON with its peak memory: this
    process's peak plus its parse children's (an upper bound)."""
    kind, *probe_args = probe
    children = ChildPeaks()
    children.start()
    result = probes[kind](*probe_args)
    child_mb = children.stop()
    print(json.dumps({**result, "peak_mb": peak_mb() + child_mb, "child_mb": child_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.importing", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=f"sqlite:///{DATA / 'import-bench.db'}")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--phases", action="store_true", help="also time the read without a database")
    parser.add_argument("--probe", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        run_probe(PROBES, args.probe)
        return
    DATA.mkdir(exist_ok=True)
    print(f"database {args.db}")
    if args.phases:
        phase_figures(args.rows)
    for name, value, target in import_figures(args.db, args.rows, args.repeat):
        print(f"{name:48} {value:8.2f}  {target}", flush=True)


if __name__ == "__main__":
    main()
