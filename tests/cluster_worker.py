"""One scheduler instance of a cluster test (tests/test_cluster.py), run as its own process:

    python tests/cluster_worker.py URL NAME JOBS WORK LEASE LOG

registers JOBS jobs ``job000``, ``job001``, ... every second (3 retries), each sleeping WORK seconds
and then appending ``job_id scheduled_time attempt pid finished_time`` to LOG (one ``write`` of one line on an
O_APPEND file, so lines from several processes never interleave). Prints ``started`` once running,
then runs until SIGTERM (graceful stop) or SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from fastscheduler import FastScheduler, current_run
from fastscheduler.cluster import ClusterConfig


def main() -> None:
    url, name, jobs, work, lease, log_path = sys.argv[1:7]
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pid = os.getpid()
    pause = float(work)

    def job(i: int) -> None:
        time.sleep(pause)
        run = current_run()
        assert run is not None
        os.write(
            fd, f"{run.job_id} {run.scheduled_time:.6f} {run.attempt} {pid} {time.time():.6f}\n".encode()
        )

    s = FastScheduler(
        storage="sqlmodel",
        database_url=url,
        quiet=True,
        max_workers=64,
        cluster=ClusterConfig(lease=float(lease), grace=0.3, poll_interval=0.5, instance_id=name),
    )
    for i in range(int(jobs)):
        s.every(1).seconds.id(f"job{i:03d}").retries(3).do(job, i)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    s.start()
    print("started", flush=True)
    stop.wait()
    s.stop(wait=True, timeout=20)
    print(f"stopped {s.cluster_status() or s.get_statistics()['total_runs']}", flush=True)


if __name__ == "__main__":
    main()
