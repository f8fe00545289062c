"""0.2.x's ``fastscheduler.storage.json_backend``: the JSON file backend with its arguments."""

from __future__ import annotations

import os
from pathlib import Path

from fastscheduler.stores.json_file import JSONStorageBackend as _JSONStorageBackend

__all__ = ["JSONStorageBackend"]


class JSONStorageBackend(_JSONStorageBackend):
    """The JSON state file (:class:`fastscheduler.stores.json_file.JSONStorageBackend`), made
    with 0.2.x's arguments: ``JSONStorageBackend(state_file="x.json", quiet=True)``. ``quiet`` is
    kept for those calls; the scheduler's own ``quiet=`` decides what it logs. Dead letters are
    kept in the state file itself (0.2.x wrote a second ``*_dead_letters.json`` file)."""

    def __init__(
        self,
        state_file: str | os.PathLike[str] = "fastscheduler_state.json",
        quiet: bool = False,
        *,
        max_file_size: int = 1 << 30,
    ) -> None:
        super().__init__(state_file, max_file_size=max_file_size)
        self.quiet = quiet

    @property
    def state_file(self) -> Path:
        """The state file (0.2.x's name for :attr:`path`)."""
        return self.path
