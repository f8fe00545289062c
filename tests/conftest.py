"""Shared pytest configuration.

Hypothesis: under CI (the ``CI`` environment variable, set by ``.ci/run``) examples are
derandomised so a run is reproducible; local runs draw new examples each time.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own directory, so the default state file (fastscheduler_state.json
    in the working directory) of one test is never another's."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _stop_leftover_schedulers() -> Iterator[None]:
    """A scheduler a test started and did not stop is stopped after it: it would otherwise keep
    the pytest process alive at exit (a started scheduler serves until stopped, by design)."""
    yield
    from fastscheduler._serving import STARTED as _STARTED

    for scheduler in list(_STARTED):
        if scheduler.running:
            scheduler.stop(False, 1)
