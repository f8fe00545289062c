"""The Python layer's performance tricks, each next to the same work without it (issue 13: a
trick stays only where a row shows it pays). ``make bench`` runs these with pytest-benchmark.

- ``every()``'s builder cache: registering many jobs on one interval reuses one builder chain and
  the spec it caches, instead of building both per job.
- Registration without the lock (``Registry.try_add``): while the scheduler is stopped and nobody
  listens to its events, a builder adds the job straight to the Rust registry; otherwise through
  the controller, under the scheduler's lock (forced here by a subscriber).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fastscheduler import FastScheduler

N = 10_000


def _job() -> None:
    pass


def _register(uncached: bool, locked: bool) -> Callable[[], None]:
    def work() -> None:
        s = FastScheduler(storage="memory", quiet=True)
        if locked:
            s.subscribe(lambda _event: None)
        every = s.every
        cache = s._every_cache
        for _ in range(N):
            if uncached:
                cache.clear()
            every(10).seconds.do(_job)

    return work


@pytest.mark.parametrize(
    ("uncached", "locked"),
    [(False, False), (True, False), (False, True)],
    ids=["as-shipped", "without-builder-cache", "without-lock-free-registration"],
)
def test_register_10k_jobs(benchmark: Any, uncached: bool, locked: bool) -> None:
    benchmark.pedantic(_register(uncached, locked), rounds=5, iterations=1)
