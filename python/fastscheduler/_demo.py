"""The scheduler ``fastscheduler demo`` runs: a handful of example jobs, one of each kind."""

from __future__ import annotations

import random
import time

from fastscheduler.scheduler import FastScheduler


def build_demo_scheduler(state_file: str) -> FastScheduler:
    """A scheduler on the JSON store ``state_file`` with example jobs: intervals, a daily job in a
    zone, cron, a one-shot, and a flaky job whose retries end in the dead-letter queue."""
    s = FastScheduler(state_file=state_file, quiet=True, max_history=2000)

    @s.every(5).seconds.name("heartbeat")
    def heartbeat() -> None:
        """Every 5 s: the live dashboard shows it tick."""

    @s.every(12).seconds.name("sync inventory").timeout(3)
    def sync_inventory() -> None:
        time.sleep(random.uniform(0.1, 1.0))

    @s.daily.at("09:00", tz="Europe/Paris").name("morning report")
    async def morning_report() -> None:
        """09:00 in Paris, whatever the server's zone (DST included)."""

    @s.cron("* * * * *").name("every minute (cron)")
    def every_minute() -> None:
        pass

    @s.weekly.weekdays.at("17:30", tz="America/New_York").name("NY close")
    def ny_close() -> None:
        pass

    @s.every(20).seconds.retries(2).name("flaky payment gateway")
    def flaky() -> None:
        """Fails 7 times in 10 (2 retries, then the dead-letter queue): a simulated outage."""
        if random.random() < 0.7:
            raise ConnectionError("payment gateway did not answer within 3 s (simulated outage)")

    @s.once(15).name("one-shot warm-up")
    def warm_up() -> None:
        pass

    return s
