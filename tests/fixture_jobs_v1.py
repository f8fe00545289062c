"""Job functions of tests/data/store_v1.sqlite (a SQLite store written by fastscheduler 0.3.0 at
schema v1, before the one-schema change): its job records name these."""


def tick() -> None:
    pass


def boom() -> None:
    raise RuntimeError("boom")
