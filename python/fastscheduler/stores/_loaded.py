"""Job records as a SQL store loads them: texts held and checked in Rust, dicts made on demand.

A million stored jobs used to make a million record dicts at ``start()`` (about 2 KB each, the
better part of a restart: issue 14). :class:`LoadedJobs` keeps each record's JSON text in Rust
(``fastscheduler._core.StoredJobs``), where the fast path of the validator checks it and keeps
what arming needs; a record becomes a dict only when something reads it as one (an orphan shown,
the CLI), and arming takes a job's state as one tuple (:meth:`LoadedJobs.take`). Records the
fast path does not vouch for are decoded and checked by :mod:`fastscheduler.stores._records`
when loaded, as before, and kept as dicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any, Final

from fastscheduler import _core
from fastscheduler.stores._records import (
    _STATUSES,
    DEFAULTS_KEY,
    MAX_TIME,
    MIN_TIME,
    with_defaults,
)
from fastscheduler.stores.base import FORMAT_VERSION

__all__ = ["LoadedJobs", "Saved"]

Saved = tuple[bool, Any, Any, Any, int, int, int, Any, Any, tuple[str, ...]]
"""What arming needs of a stored record: ``(same_definition, v, next_run, last_run, run_count,
failure_count, retry_count, paused, finished, recent)``; ``same_definition`` says the stored
definition is what the record writer writes for the job now (False when not compared)."""

_ORDERED_STATUSES: Final = sorted(_STATUSES)


def decode(text: str) -> dict[str, Any]:
    """A stored record's text as the dict the Python validator checks (its defaults put back)."""
    record = json.loads(text)
    if type(record) is dict and DEFAULTS_KEY in record:
        with_defaults(record)
    return record  # type: ignore[no-any-return]


class LoadedJobs(MutableMapping[str, dict[str, Any]]):
    """Job records by job id (see the module doc), in the order they were loaded. A mapping like
    a dict of record dicts: reading a record decodes it (once: the dict is kept, and changes to
    it stay); :meth:`take` is the arming path."""

    def __init__(self) -> None:
        self._texts = _core.StoredJobs(FORMAT_VERSION, MIN_TIME, MAX_TIME, _ORDERED_STATUSES)
        #: Records held as dicts: those the fast path handed back, and those read or set since.
        self._dicts: dict[str, dict[str, Any]] = {}

    def add_rows(self, rows: Sequence[tuple[str, str]]) -> list[str]:
        """Add ``(job_id, JSON text)`` rows; returns the ids of those the Rust fast path did not
        vouch for (the caller decodes and checks them, and sets them as dicts)."""
        return self._texts.add_rows(list(rows))

    def text(self, job_id: str) -> str | None:
        """The record's JSON text as loaded (None: no record, or one set as a dict; a record
        read as a dict keeps its text, but the dict is the record from then on)."""
        return self._texts.text(job_id)

    def take(self, job: _core.Job, compare: bool) -> Saved | dict[str, Any] | None:
        """Remove the record of ``job`` (None: there is none): its :data:`Saved` tuple if Rust
        vouched for it, else its dict. ``compare``: compare the stored definition with the job's
        (the tuple's first field; a dict is compared by the caller)."""
        if self._dicts:
            record = self._dicts.pop(job.job_id, None)
            if record is not None:
                self._texts.discard(job.job_id)
                return record
        taken = self._texts.take(job, compare)
        if isinstance(taken, str):
            return decode(taken)
        return taken

    @property
    def texts(self) -> _core.StoredJobs:
        """The records held in Rust (for ``_core.restore_jobs``)."""
        return self._texts

    def compact(self) -> None:
        """End of an arming: drop what :meth:`take` cached while comparing definitions, and
        give back the memory of the records taken."""
        self._texts.compact()

    def __getitem__(self, job_id: str) -> dict[str, Any]:
        record = self._dicts.get(job_id)
        if record is None:
            text = self._texts.text(job_id)
            if text is None:
                raise KeyError(job_id)
            record = self._dicts[job_id] = decode(text)
            self._texts.insert(job_id, text)  # (held as a dict from now on: arming takes the dict)
        return record

    def __setitem__(self, job_id: str, record: dict[str, Any]) -> None:
        self._texts.insert(job_id)  # (its place kept if it had one)
        self._dicts[job_id] = record

    def __delitem__(self, job_id: str) -> None:
        if not self._texts.discard(job_id):
            raise KeyError(job_id)
        self._dicts.pop(job_id, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts.ids())

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and job_id in self._texts

    def clear(self) -> None:
        self._texts.clear()
        self._dicts.clear()

    def __repr__(self) -> str:
        return f"LoadedJobs({len(self)} records)"
