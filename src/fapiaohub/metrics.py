"""Prometheus metrics (prometheus-client): requests, latency, tasks, import rows, page-cache hits.

With several server processes (`serve --workers N`) the CLI points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before the processes start; prometheus-client then keeps each process's values in files there
and /metrics adds them up, so any process answers for all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

REQUESTS = Counter("fapiaohub_http_requests_total", "HTTP requests answered, by route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("fapiaohub_http_request_duration_seconds", "Time to answer an HTTP request, by route",
                    ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
PAGE_CACHE = Counter("fapiaohub_page_cache_requests_total",
                     "getInvoiceCollectionData page lookups in this process's cache", ["result"])
UNIFY_READS = Counter("fapiaohub_unify_reads_total",
                      "GET /invoice/unify reads, by whether this process held every entity form", ["forms"])
TASKS_FINISHED = Counter("fapiaohub_tasks_finished_total", "Collection tasks ended by a worker",
                         ["source", "state"])
TASK_DURATION = Histogram("fapiaohub_task_duration_seconds", "Time a worker spent on a collection task",
                          ["source"], buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800))
IMPORT_ROWS = Counter("fapiaohub_import_rows_total",
                      "Invoices read by collection tasks, by outcome (rate() gives rows per second)", ["outcome"])

Counts = Callable[[], dict[str, int]]


class TaskStates(Collector):
    """fapiaohub_tasks{state}: the queue's tasks by state, read from the database at each scrape."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("fapiaohub_tasks", "Collection tasks in the database, by state",
                                   labels=["state"])
        for state, count in sorted(self.counts().items()):
            family.add_metric([state], count)
        yield family


def exposition(task_counts: Counts) -> tuple[bytes, str]:
    """The text a scrape receives: this process's metrics (or all processes' in multiprocess mode)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
        registry.register(TaskStates(task_counts))
        return generate_latest(registry), CONTENT_TYPE_LATEST
    registry.register(TaskStates(task_counts))
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
