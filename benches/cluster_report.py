"""Cluster dispatch throughput (issue 5): fires claimed and run per second with 1, 2 and 4 instances.

N one-shot jobs fall due at the same instant T on every instance (each instance registers the same
N jobs, as a deployment's workers do). Each fire is claimed by exactly one instance (a run row is
created in the claiming transaction), run there, and its end recorded in the row. We time, from the
database, how long the cluster takes from T until the last of the N runs had ended: fires per
second = N / (latest ``finished_at`` - T). The jobs do nothing, so this measures the coordination
(claim transactions, handing runs to executors, recording ends), not work.

    python benches/cluster_report.py [--n 5000] [--repeat 3] [--markdown FILE]

Needs the test servers (``make services``) or FASTSCHEDULER_TEST_POSTGRES_URL /
FASTSCHEDULER_TEST_MYSQL_URL admin URLs (a user that may create and drop databases). Every instance
is its own process; the machine's cores are shared by the instances and the database server, so
compare the rows of one run, not absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

ADMIN = {
    "PostgreSQL": os.environ.get(
        "FASTSCHEDULER_TEST_POSTGRES_URL", "postgresql://fastscheduler:fastscheduler@127.0.0.1:55432/postgres"
    ),
    "MariaDB": os.environ.get(
        "FASTSCHEDULER_TEST_MYSQL_URL", "mysql://fastscheduler:fastscheduler@127.0.0.1:53306/mysql"
    ),
}


def noop() -> None:
    pass


def worker(url: str, name: str, n: int, at: float) -> None:
    """One instance: register N jobs due at ``at``, run until stdin closes."""
    from fastscheduler import FastScheduler
    from fastscheduler.cluster import ClusterConfig

    s = FastScheduler(
        storage="sqlmodel",
        database_url=url,
        quiet=True,
        cluster=ClusterConfig(instance_id=name),
        max_workers=16,
    )
    when = datetime.fromtimestamp(at, tz=timezone.utc)
    for i in range(n):
        s.at(when).id(f"b{i:06d}").do(noop)
    s.start()
    print("started", flush=True)
    sys.stdin.read()
    s.stop(wait=True, timeout=60)


def _driver(url: str) -> str:
    from fastscheduler.stores.sql import normalize_database_url

    return normalize_database_url(url)


def measure(kind: str, instances: int, n: int) -> tuple[float, list[int]]:
    """One run: (claims per second, fires per instance)."""
    admin = sa.create_engine(_driver(ADMIN[kind]), isolation_level="AUTOCOMMIT")
    name = f"fs_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.make_url(ADMIN[kind]).set(database=name).render_as_string(hide_password=False)
    procs: list[subprocess.Popen[str]] = []
    try:
        at = time.time() + 8 + 2 * instances + n / 2000
        for i in range(instances):
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", url, f"i{i}", str(n), repr(at)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "started"
        if time.time() > at:
            raise RuntimeError("the instances took longer to start than planned; raise the lead time")
        engine = sa.create_engine(_driver(url))
        deadline = at + 300
        while True:
            time.sleep(0.25)
            with engine.connect() as conn:
                count, last = conn.execute(
                    sa.text(
                        "SELECT count(*), max(finished_at) FROM fastscheduler_runs WHERE state = 'succeeded'"
                    )
                ).one()
            if count >= n or time.time() > deadline:
                break
        with engine.connect() as conn:
            owners = [
                int(c)
                for _o, c in conn.execute(
                    sa.text("SELECT owner, count(*) FROM fastscheduler_runs GROUP BY owner")
                )
            ]
        engine.dispose()
        if count < n:
            raise RuntimeError(f"only {count} of {n} fires were claimed in 300 s")
        return n / (float(last) - at), sorted(owners, reverse=True)
    finally:
        for p in procs:
            if p.stdin:
                p.stdin.close()
        for p in procs:
            p.wait(120)
        with admin.connect() as conn:
            drop = f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if kind == "PostgreSQL" else "")
            conn.exec_driver_sql(drop)
        admin.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=5000, help="fires due at once (default 5000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported (default 3)")
    p.add_argument("--instances", default="1,2,4", help="instance counts (default 1,2,4)")
    p.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        url, name, n, at = a.worker
        worker(url, name, int(n), float(at))
        return
    counts = [int(x) for x in a.instances.split(",")]
    lines = [
        f"Cluster dispatch: {a.n:,} one-shot jobs due at the same instant; fires claimed and run per second "
        f"until the last had ended (median of {a.repeat}; {os.cpu_count()} cores shared by the instances and "
        f"the server; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        "| database | " + " | ".join(f"{c} instance{'s' if c > 1 else ''}" for c in counts) + " |",
        "|---|" + "---:|" * len(counts),
    ]
    for kind in ADMIN:
        cells = []
        for c in counts:
            results = []
            for r in range(a.repeat):
                rate, owners = measure(kind, c, a.n)
                print(
                    f"  {kind}, {c} instance(s), run {r + 1}: {rate:,.0f} claims/s, per instance {owners}",
                    file=sys.stderr,
                )
                results.append(rate)
            cells.append(f"{statistics.median(results):,.0f}/s")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if a.markdown:
        Path(a.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
