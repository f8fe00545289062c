"""Shared pytest configuration.

Hypothesis: under CI (the ``CI`` environment variable, set by ``.ci/run``) examples are
derandomised so a run is reproducible; local runs draw new examples each time.
"""

import os
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
