"""Failed getAccessToken attempts, limited per appKey and per client address (token buckets, per process).

Each key starts with ``burst`` allowed failures and earns them back at ``per_minute``; while a
bucket is empty every attempt with that key (right or wrong) answers 429 with Retry-After, so
guessing a secret costs time whatever the guesser does. The buckets live in the API process:
with N server processes an attacker gets N times the rate (docs/security.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED = 100_000  # buckets kept at most; full ones are forgotten first


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class FailureLimiter:
    def __init__(self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = max(1, burst)
        self.rate = max(per_minute, 0.001) / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def _level(self, key: tuple[str, str], now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            return _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def retry_after(self, *keys: tuple[str, str]) -> int:
        """Whole seconds to wait before an attempt with these keys is heard (0: now)."""
        with self._lock:
            now = self.clock()
            wait = 0.0
            for key in keys:
                bucket = self._level(key, now)
                if bucket.tokens < 1:
                    wait = max(wait, (1 - bucket.tokens) / self.rate)
            return math.ceil(wait)

    def failed(self, *keys: tuple[str, str]) -> None:
        """Take one allowed failure from each key's bucket."""
        with self._lock:
            now = self.clock()
            for key in keys:
                bucket = self._level(key, now)
                bucket.tokens = max(0.0, bucket.tokens - 1)
                self._buckets[key] = bucket
            if len(self._buckets) > MAX_TRACKED:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        for key in list(self._buckets):
            if self._level(key, now).tokens >= self.burst:
                del self._buckets[key]
