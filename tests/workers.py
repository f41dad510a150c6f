"""Real `leadbase worker` processes for tests, and Celery mode on the test Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from leadbase.config import get_settings
from tests import dbs

ROOT = Path(__file__).resolve().parents[1]


def worker_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker on ``url``: short leases, polls and
    backoffs so tests run fast, and the test job handlers loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBASE_")}
    env.update(
        LEADBASE_DATABASE_URL=url,
        LEADBASE_DATA_DIR=str(tmp_path / "data"),
        LEADBASE_JOB_HANDLER_MODULES='["tests.job_handlers"]',
        LEADBASE_JOB_LEASE_SECONDS="1",
        LEADBASE_JOB_POLL_SECONDS="0.1",
        LEADBASE_JOB_BACKOFF_SECONDS="0.1",
        LEADBASE_JOB_BACKOFF_MAX_SECONDS="0.5",
        LEADBASE_WORKER_CONCURRENCY="3",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`leadbase worker` running until the block ends (SIGTERM, then kill)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "leadbase", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(condition: Any, what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


@contextmanager
def celery_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Celery on the test Redis under a key prefix of the test's own, set in
    this process too (it enqueues as the worker expects); yields the
    variables to pass on to a worker."""
    with dbs.redis_namespace() as (redis_url, prefix):
        queue = {
            "LEADBASE_QUEUE": "celery",
            "LEADBASE_REDIS_URL": redis_url,
            "LEADBASE_RATE_LIMIT_KEY_PREFIX": prefix,
        }
        for name, value in queue.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield queue
