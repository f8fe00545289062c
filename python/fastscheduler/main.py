"""0.2.x's ``fastscheduler.main``: ``from fastscheduler.main import FastScheduler, Job`` works as
it did. The scheduler lives in :mod:`fastscheduler.scheduler`; this module only names it."""

from fastscheduler.models import Job, JobHistory, JobStatus
from fastscheduler.scheduler import FastScheduler

__all__ = ["FastScheduler", "Job", "JobHistory", "JobStatus"]
