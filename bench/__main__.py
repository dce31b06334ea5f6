"""fapiaohub benchmarks: every figure is a ratio of two measurements taken in the same run.

    python -m bench --db postgresql://postgres@127.0.0.1:5432/fapiaohub_bench [--only floor,paging,unify,load,import,bundle,ledger,scale]
    python -m bench --quick       # SQLite, small data, under a minute: CI runs it so the bench keeps working

Builds its own data with the demo generator (into the database given, once; files under
bench/.data, which git ignores), starts fapiaohub as separate server processes and measures over
real HTTP on 127.0.0.1 with wrk (apt-get install wrk) and a sequential httpx client. See
docs/performance.md for the method and the results.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

from bench.ledger import ledger_figures
from bench.scale import scale_figures
from bench.server import DATA
from bench.serving import Figure, floor_figures, load_figures, paging_figures, unify_figures

GROUPS = ("floor", "paging", "unify", "load", "import", "bundle", "ledger", "scale")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("FAPIAOHUB_BENCH_DB", f"sqlite:///{DATA / 'bench.db'}"),
                        help="database to build the data in and serve from (PostgreSQL for the figures that count)")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups of {', '.join(GROUPS)}")
    parser.add_argument("--invoices", type=int, default=1_000_000, help="demo invoices for the floor and load figures")
    parser.add_argument("--scale-db", default=os.environ.get("FAPIAOHUB_BENCH_SCALE_DB"),
                        help="a second database, of --scale-invoices demo invoices: the scale figures compare the "
                             "two (left out without it)")
    parser.add_argument("--scale-invoices", type=int, default=5_000_000)
    parser.add_argument("--month-size", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=100_000, help="unify batches for the cursor figure")
    parser.add_argument("--repeat", type=int, default=50, help="latency samples per request")
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument("--import-repeat", type=int, default=3, help="imports timed (the median counts)")
    parser.add_argument("--bundle-files", type=int, default=1000, help="XML/OFD/PDF files in the bundle figure")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run of the floor figures")
    parser.add_argument("--load-seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="server processes for the load figure")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true",
                        help="a fresh SQLite database and small data: checks that every figure still runs (its values "
                             "mean nothing); groups that need wrk are left out when it is not installed")
    args = parser.parse_args()
    if args.quick:
        quick_data = tempfile.mkdtemp(prefix="fapiaohub-bench-quick-")
        args.db = f"sqlite:///{quick_data}/bench.db"
        args.invoices, args.month_size, args.batches, args.repeat = 3000, 400, 200, 5
        args.import_rows, args.import_repeat, args.bundle_files, args.seconds = 3000, 1, 30, 2
        args.load_seconds, args.workers = 4, 1  # SQLite serves from one process
        args.scale_db, args.scale_invoices = f"sqlite:///{quick_data}/scale.db", 6000
        if args.only == ",".join(GROUPS) and shutil.which("wrk") is None:
            args.only = "paging,import,bundle,ledger,scale"
    groups = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown groups {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    DATA.mkdir(exist_ok=True)

    def imports() -> list[Figure]:
        from bench.importing import import_figures

        return import_figures(args.db, args.import_rows, args.import_repeat)

    def bundles() -> list[Figure]:
        from bench.bundle import bundle_figures

        return bundle_figures(args.db, args.bundle_files, args.import_repeat)

    def scale() -> list[Figure]:
        if not args.scale_db:
            print("  no --scale-db (a second database, of --scale-invoices demo invoices): skipping the scale figures")
            return []
        return scale_figures(args.db, args.scale_db, args.invoices, args.scale_invoices, args.month_size,
                             args.batches, args.repeat)

    measures: dict[str, Callable[[], list[Figure]]] = {
        "floor": lambda: floor_figures(args.db, args.invoices, args.seconds, args.connections),
        "paging": lambda: paging_figures(args.db, args.month_size, args.batches, args.repeat),
        "unify": lambda: unify_figures(args.db, args.month_size, args.batches, args.seconds, args.connections),
        "load": lambda: load_figures(args.db, args.invoices, args.workers, args.load_seconds, args.connections),
        "import": imports,
        "bundle": bundles,
        "ledger": lambda: ledger_figures(args.db, args.invoices, args.repeat),
        "scale": scale,
    }
    print(f"database {args.db}", flush=True)
    results: list[Figure] = []
    for group in groups:
        print(f"\n[{group}]", flush=True)
        start = time.perf_counter()
        results += measures[group]()
        print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    width = max((len(name) for name, _, _ in results), default=10)
    print(f"\n{'figure':{width}} {'value':>9}  target")
    for name, value, target in results:
        print(f"{name:{width}} {value:9.2f}  {target}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
