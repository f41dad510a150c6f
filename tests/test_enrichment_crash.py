"""kill -9 of a `leadbase worker` in the middle of a batch of real enrichment
jobs, then a restart: every lead still ends enriched exactly once in effect
(one enrichment write on its timeline and in the audit log, however many
times its job ran), none is left ``in_progress``, and the audit chain holds —
for the local runner (SQLite) and for Celery (PostgreSQL + Redis).

The jobs do real work: the email step asks a local DNS server for MX records,
person and company read the address, and the webhook step posts to a local
web server that takes a while to answer, so the batch is mid-way when the
worker dies.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leadbase import context
from leadbase.audit import chain
from leadbase.db import Database
from leadbase.enrichment.service import ACTOR
from leadbase.enrichment.tasks import KIND as ENRICH_JOB
from leadbase.leads import service as leads_service
from leadbase.models import AuditLog, Company, Job, SalesLead
from tests.enrichment_servers import DnsServer, WebServer
from tests.workers import celery_mode, wait_for, worker, worker_env

FIRST = ("ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "ken")
LAST = ("lovelace", "hopper", "turing", "dijkstra", "liskov")
LEADS = len(FIRST) * len(LAST)  # 40
DOMAIN = "acmerobotics.io"
WEBHOOK_DELAY = 0.15  # seconds per lead: 40 leads on 3 threads take 2 s or more
WEBHOOK_ANSWER = {"title": "Head of Robotics", "company": {"name": "Acme Robotics"}}
Internet = tuple[DnsServer, WebServer]


@pytest.fixture
def internet() -> Iterator[Internet]:
    with DnsServer({DOMAIN: {"MX": [f"10 mx.{DOMAIN}."]}}) as dns, WebServer() as web:
        yield dns, web


def _enrichment_env(dns: DnsServer, web: WebServer) -> dict[str, str]:
    """The worker's waterfall: email (MX on the local DNS), person, company,
    and a slow webhook on the local web server."""
    settings: dict[str, Any] = {
        "enrichment_providers": ["email", "person", "company", "webhook"],
        "dns_nameservers": ["127.0.0.1"],
        "dns_port": dns.port,
        "enrichment_timeout_seconds": 5,
        "enrichment_webhook_url": web.answer_webhook("clay", WEBHOOK_ANSWER, delay=WEBHOOK_DELAY),
    }
    return {
        f"LEADBASE_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
        for name, value in settings.items()
    }


def _quick_add_batch(db: Database) -> dict[str, str]:
    """LEADS quick-adds in one unit of work: job id by lead id."""
    emails = [f"{first}.{last}@{DOMAIN}" for first in FIRST for last in LAST]
    with context.acting_as("user:test-editor"), db.unit_of_work() as uow:
        ids = [leads_service.quick_add(uow, {"email": email}).lead_id for email in emails]
    with db.read_session() as session:
        leads = session.scalars(select(SalesLead).where(SalesLead.id.in_(ids))).all()
        return {lead.id: str(lead.enrichment_task_id) for lead in leads}


def _lead_statuses(db: Database) -> Counter[str]:
    query = select(SalesLead.enrichment_status, func.count()).group_by(SalesLead.enrichment_status)
    with db.read_session() as session:
        return Counter({str(status): int(n) for status, n in session.execute(query)})


def _job_statuses(db: Database) -> Counter[str]:
    """The enrichment jobs' statuses (the writes also queue scoring jobs)."""
    query = select(Job.status, func.count()).where(Job.kind == ENRICH_JOB).group_by(Job.status)
    with db.read_session() as session:
        return Counter({str(status): int(n) for status, n in session.execute(query)})


def _enrichment_results_by_lead(db: Database) -> Counter[str]:
    """Per lead: audit entries (the timeline's updated events) of enrichment
    writing its result (the write that ends ``in_progress``)."""
    with db.read_session() as session:
        audits = session.execute(
            select(AuditLog.entity_id, AuditLog.changes).where(
                AuditLog.entity_type == "lead", AuditLog.actor == ACTOR
            )
        ).all()
    return Counter(lead for lead, changes in audits if "enrichment_status" in json.loads(changes))


def _kill_mid_batch_then_restart(
    db: Database, env: dict[str, str], log: Path, web: WebServer
) -> None:
    jobs_by_lead = _quick_add_batch(db)
    assert len(jobs_by_lead) == LEADS
    started = time.monotonic()

    def mid_batch() -> bool:
        jobs = _job_statuses(db)
        return jobs["succeeded"] >= 5 and jobs["running"] >= 1

    with worker(env, log) as first:
        wait_for(mid_batch, "the first worker to be mid-batch", log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    at_kill = _lead_statuses(db)
    stuck = _job_statuses(db)
    killed_after = time.monotonic() - started
    assert stuck["running"] >= 1, stuck  # held by the dead worker
    assert 0 < at_kill["completed"] < LEADS and at_kill["in_progress"] >= 1, at_kill

    with worker(env, log):
        wait_for(
            lambda: (
                _job_statuses(db) == {"succeeded": LEADS}
                and _lead_statuses(db) == {"completed": LEADS}
            ),
            "every lead to be enriched",
            log,
            timeout=90,
        )
    total = time.monotonic() - started
    webhook_calls = web.hits("/webhook/clay")
    print(
        f"\n{LEADS} leads: {at_kill['completed']} completed and {stuck['running']} jobs "
        f"running at the kill ({killed_after:.1f}s), all done after {total:.1f}s; "
        f"{webhook_calls} webhook calls"
    )

    with db.read_session() as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.kind == ENRICH_JOB))}
        leads = {lead.id: lead for lead in session.scalars(select(SalesLead))}
        companies = session.scalars(select(Company).where(Company.domain == DOMAIN)).all()
        verified = chain.verify(session)
    # The jobs the kill interrupted ran again, and the webhook saw them again...
    assert max(job.attempts for job in jobs.values()) == 2
    assert all(job.lease_owner is None for job in jobs.values())
    # ...yet each lead got its enrichment written once, by the job it waited for.
    audited = _enrichment_results_by_lead(db)
    assert audited == Counter(dict.fromkeys(jobs_by_lead, 1))
    for lead_id, job_id in jobs_by_lead.items():
        lead = leads[lead_id]
        assert lead.enrichment_task_id == job_id and lead.enrichment_data is not None
        assert lead.enrichment_data["job_id"] == job_id
        assert lead.title == "Head of Robotics" and lead.first_name is not None
    # One company for the domain, however many jobs raced to create it.
    assert len(companies) == 1
    assert {lead.company_id for lead in leads.values()} == {companies[0].id}
    assert verified.ok, verified.describe()


def test_kill_9_local_worker_mid_enrichment_batch_then_restart(
    sqlite_url: str, tmp_path: Path, internet: Internet
) -> None:
    db = Database(sqlite_url)
    try:
        env = worker_env(sqlite_url, tmp_path, **_enrichment_env(*internet))
        _kill_mid_batch_then_restart(db, env, tmp_path / "worker.log", internet[1])
    finally:
        db.dispose()


def test_kill_9_celery_worker_mid_enrichment_batch_then_restart(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, internet: Internet
) -> None:
    with celery_mode(monkeypatch) as queue:
        db = Database(postgres_url)
        try:
            env = worker_env(postgres_url, tmp_path, **queue, **_enrichment_env(*internet))
            _kill_mid_batch_then_restart(db, env, tmp_path / "worker.log", internet[1])
        finally:
            db.dispose()
