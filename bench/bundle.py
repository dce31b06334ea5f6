"""Benchmark of bundle imports: a bureau-style download of XML/OFD/PDF files, end to end vs the bare parse.

    python -m bench.bundle [--db URL] [--files 1000] [--repeat 3]

The bundle is download.zip holding invoice.zip holding xml/, ofd/ and pdf/, one file of each per
invoice (same stem), written by the test writers (tests/writers, reportlab for the PDFs) from demo
invoices the demo taxpayer received. Three sides, each in its own process (peak memory is its own):
- bare: read_invoices of each file on its own, already extracted, no store (what the files cost);
- bundle read: read_invoices of the bundle, no store (adds extraction, sniffing and the merge);
- import: what `fapiaohub import` does with the bundle (a task, Worker.run_task, the store).
Rates are files per second; the figure is the import's rate over the bare parse's. Data is written
once under bench/.data (git-ignored). The OFD/PDF importers measured are those of the checkout.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.importing import DATA, ROOT, new_taxpayer, probe_import, run_probe, taxpayer

Figure = tuple[str, float, str]


def _invoices(count: int) -> list:
    """``count`` demo 数电 invoices the demo taxpayer received, with distinct numbers."""
    from fapiaohub.demo.generator import generate_taxpayer_month

    nsrsbh, name = taxpayer()
    found: dict[str, object] = {}
    for kpyf in range(202501, 202513):
        for inv in generate_taxpayer_month(nsrsbh, name, "jx", kpyf, count):
            if inv.fplx in ("81", "82") and not inv.tdywlx and inv.fpzt_dm == "0":
                found.setdefault(inv.key, replace(inv, special=[]))
            if len(found) >= count:
                return list(found.values())
    return list(found.values())


def build_bundle(files: int) -> tuple[Path, Path]:
    """The bundle of ``files`` files (a multiple of three) and the same files extracted, once."""
    from tests.writers.einvoice_xml import einvoice_xml
    from tests.writers.ofd import write_ofd
    from tests.writers.pdf import write_pdf

    count = files // 3
    path = DATA / f"bundle-{count * 3}.zip"
    loose = DATA / f"bundle-{count * 3}-files"
    if path.exists() and loose.exists():
        return path, loose
    print(f"  writing a bundle of {count * 3} files (once; kept in {path.parent.name}/)", flush=True)
    loose.mkdir(parents=True, exist_ok=True)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        for inv in _invoices(count):
            (loose / f"{inv.fphm}.xml").write_bytes(einvoice_xml(inv))
            write_ofd(loose / f"{inv.fphm}.ofd", inv)
            write_pdf(loose / f"{inv.fphm}.pdf", inv)
            for kind in ("xml", "ofd", "pdf"):
                archive.write(loose / f"{inv.fphm}.{kind}", f"{kind}/{inv.fphm}.{kind}")
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as outer:
        outer.writestr("invoice.zip", inner.getvalue())
    partial.rename(path)
    return path, loose


# --- what each child process measures ------------------------------------------------------

def _probe_bare(folder: str) -> dict:
    from fapiaohub.importers import read_invoices
    from fapiaohub.importers.base import Parsed

    paths = sorted(Path(folder).iterdir())
    start = time.perf_counter()
    parsed = other = 0
    for path in paths:
        for record in read_invoices(path):
            parsed += isinstance(record, Parsed)
            other += not isinstance(record, Parsed)
    return {"seconds": time.perf_counter() - start, "files": len(paths), "parsed": parsed, "other": other}


def _probe_read(path: str) -> dict:
    from fapiaohub.importers import read_invoices
    from fapiaohub.importers.base import Parsed

    start = time.perf_counter()
    parsed = other = 0
    for record in read_invoices(Path(path)):
        parsed += isinstance(record, Parsed)
        other += not isinstance(record, Parsed)
    return {"seconds": time.perf_counter() - start, "parsed": parsed, "other": other}


PROBES: dict[str, Callable[..., dict[str, Any]]] = {"bare": _probe_bare, "read": _probe_read, "import": probe_import}


def _child(kind: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.bundle", "--probe", kind, *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"probe {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the figures -----------------------------------------------------------------------------

def bundle_figures(db_url: str, files: int = 1000, repeat: int = 3) -> list[Figure]:
    """Bare parse, bundle read and import of the same files, interleaved so that all three see the
    same machine load; each import goes into a fresh tenant. Rates are medians."""
    path, loose = build_bundle(files)
    bare, reads, imports, peaks = [], [], [], []
    total = 0
    for _ in range(repeat):
        b = _child("bare", str(loose))
        total = b["files"]
        bare.append(b["seconds"])
        r = _child("read", str(path))
        reads.append(r["seconds"])
        done = _child("import", str(path), db_url, new_taxpayer(db_url))
        counts = done["counts"]
        if done["state"] != "processed" or not counts["inserted"]:
            raise RuntimeError(f"the import stored nothing: {done}")
        imports.append(done["seconds"])
        peaks.append(done["peak_mb"])
        print(f"  bare {total} files in {b['seconds']:.1f} s ({b['parsed']} parsed, {b['other']} other,"
              f" peak {b['peak_mb']:.0f} MB); bundle read {r['seconds']:.1f} s ({r['parsed']} invoices,"
              f" {r['other']} other, peak {r['peak_mb']:.0f} MB); import {done['seconds']:.1f} s"
              f" (inserted {counts['inserted']}, rejected {counts['rejected']}, peak {done['peak_mb']:.0f} MB)",
              flush=True)
    bare_rate = total / statistics.median(bare)
    read_rate = total / statistics.median(reads)
    import_rate = total / statistics.median(imports)
    return [
        (f"bare parse, files/s ({total} files)", bare_rate, "reference"),
        ("bundle read (no store), files/s", read_rate, "≈ bare"),
        ("bundle import end to end, files/s", import_rate, "reported"),
        ("bundle import / bare parse rate", import_rate / bare_rate, "reported"),
        ("bundle import peak memory, MB", max(peaks), "< 300"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=f"sqlite:///{DATA / 'bundle-bench.db'}")
    parser.add_argument("--files", type=int, default=1000, help="files in the bundle (rounded down to thirds)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--probe", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        run_probe(PROBES, args.probe)
        return
    DATA.mkdir(exist_ok=True)
    print(f"database {args.db}")
    for name, value, target in bundle_figures(args.db, args.files, args.repeat):
        print(f"{name:40} {value:9.2f}  {target}", flush=True)


if __name__ == "__main__":
    main()
