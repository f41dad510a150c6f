"""Handing a committed job to whatever runs jobs in this deployment.

A job is a row first (``jobs.service.enqueue`` writes it in the caller's
transaction); once that commits, ``hand_over`` tells the runner: in Celery
mode it sends the task, else it wakes the local runners started in this
process. Apart from ``runner`` so that the runners import it, and it
imports Celery's side only when that is the queue.
"""

from __future__ import annotations

import weakref

from leadbase import logs
from leadbase.config import Settings
from leadbase.jobs.runner import Runner

log = logs.get_logger("leadbase.jobs")

_local_runners: weakref.WeakSet[Runner] = weakref.WeakSet()


def register_local(runner: Runner) -> None:
    """A started local runner: jobs committed in this process wake it."""
    _local_runners.add(runner)


def unregister_local(runner: Runner) -> None:
    _local_runners.discard(runner)


def hand_over(job_id: str, settings: Settings) -> None:
    """After the commit that created (or requeued) a job: tell the runner.
    The jobs table stays the truth; if this fails the job is not lost: a
    polling local runner or the Celery sweeper picks it up."""
    try:
        if settings.queue == "celery":
            from leadbase.jobs import celery_app

            celery_app.send(job_id, settings)
            return
        for runner in list(_local_runners):
            runner.submit(job_id)
    except Exception as exc:
        log.warning("could not hand a job to the runner", job_id=job_id, error=str(exc))
