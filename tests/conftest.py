"""Shared pytest configuration.

Hypothesis: under CI (the ``CI`` environment variable, set by ``.ci/run``) examples are
derandomised so a run is reproducible; local runs draw new examples each time.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
