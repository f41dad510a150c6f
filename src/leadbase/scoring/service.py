"""Scoring leads: read their facts, apply the rules (and, by setting, the
trained model), store what changed through ``leads.service.record_scores``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from leadbase import audit
from leadbase.config import Settings, get_settings
from leadbase.db import Database, UnitOfWork
from leadbase.errors import NotFoundError
from leadbase.jobs import service as jobs_service
from leadbase.leads import service as leads_service
from leadbase.models import utcnow
from leadbase.scoring import engine, learned, repository
from leadbase.scoring import rules as rules_module
from leadbase.scoring.facts import lead_facts
from leadbase.scoring.rules import Rules

SCORE_JOB = leads_service.SCORE_JOB
BATCH = 1000  # leads read, scored and written per transaction
Progress = Callable[[int], None]
Scored = tuple[int, dict[str, Any]]

_cached: dict[tuple[str, float], Rules] = {}


def rules_in_effect(path: Path | None = None, settings: Settings | None = None) -> Rules:
    """The rules of ``path`` (else settings.scoring_rules, else the built-in
    ones); a file is read again once it changes."""
    path = path or (settings or get_settings()).scoring_rules
    if path is None:
        return rules_module.default_rules()
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return rules_module.load(path)  # raises RulesError naming the file
    if key not in _cached:
        _cached.clear()
        _cached[key] = rules_module.load(path)
    return _cached[key]


def rule_scores(
    session: Session, lead_ids: Sequence[str], rules: Rules, now: datetime
) -> dict[str, Scored]:
    """Each lead's rule score and its explanation."""
    digest = rules.digest
    stamp = now.isoformat()
    scored: dict[str, Scored] = {}
    for lead_id, facts in lead_facts(session, lead_ids).items():
        result = engine.score(facts, rules, now)
        scored[lead_id] = (
            result.score,
            {
                "score": result.score,
                "mode": "rules",
                "rules": digest,
                "points": [point.as_dict() for point in result.points],
                "scored_at": stamp,
            },
        )
    return scored


def combine_with_model(
    session: Session, lead_ids: Sequence[str], scored: dict[str, Scored], settings: Settings
) -> dict[str, Scored]:
    """``settings.scoring_mode`` model: the trained model's round(100 p);
    blend: round((1 - w) rule + w 100 p). The explanation keeps the rules'
    points and gains ``"model": {"version", "probability", "contributions"}``
    (each feature's share in score points). With no trained model yet the
    rule score stands, and its explanation says why."""
    model = learned.active_model(session)
    if model is None:
        for _, explanation in scored.values():
            explanation["model"] = None
        return scored
    predictions = model.predict(session, [i for i in lead_ids if i in scored])
    weight = 1.0 if settings.scoring_mode == "model" else settings.scoring_blend_weight
    combined: dict[str, Scored] = {}
    for lead_id, (rule_score, explanation) in scored.items():
        prediction = predictions.get(lead_id)
        if prediction is None:
            combined[lead_id] = (rule_score, explanation)
            continue
        score = round((1 - weight) * rule_score + weight * 100 * prediction.probability)
        score = max(0, min(100, score))
        combined[lead_id] = (
            score,
            {
                **explanation,
                "score": score,
                "mode": settings.scoring_mode,
                "rule_score": rule_score,
                "model": {
                    "version": model.version,
                    "weight": weight,
                    "probability": round(prediction.probability, 4),
                    "contributions": prediction.contributions,
                },
            },
        )
    return combined


def score_chunk(
    uow: UnitOfWork, lead_ids: Sequence[str], rules: Rules, *, now: datetime | None = None
) -> list[str]:
    """Score these leads and store the changed scores; returns their ids."""
    settings = get_settings()
    scored = rule_scores(uow.session, lead_ids, rules, now or utcnow())
    if settings.scoring_mode != "rules":
        scored = combine_with_model(uow.session, lead_ids, scored, settings)
    return leads_service.record_scores(uow, scored)


@dataclass
class Report:
    scored: int = 0
    changed: int = 0
    rules: str = ""
    distribution: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "changed": self.changed,
            "rules": self.rules,
            "distribution": self.distribution,
        }


def score_leads(
    database: Database,
    batches: Iterable[Sequence[str]],
    rules: Rules,
    progress: Progress | None = None,
) -> Report:
    """Score leads a batch (one transaction) at a time."""
    report = Report(rules=rules.digest)
    for batch in batches:
        for start in range(0, len(batch), BATCH):
            chunk = batch[start : start + BATCH]
            with database.unit_of_work() as uow:
                active = repository.active_among(uow.session, chunk)
                report.changed += len(score_chunk(uow, active, rules))
            report.scored += len(active)
            if progress is not None:
                progress(len(chunk))
    return report


def active_batches(database: Database) -> Iterator[list[str]]:
    """Every active lead's id, a keyset page at a time, each page read
    when the one before is scored (in a read of its own: scoring writes
    between pages). At a million leads, holding every id took ~80 MB."""
    last = ""
    while True:
        with database.read_session() as session:
            ids = repository.active_ids_after(session, last, BATCH)
        if not ids:
            return
        yield ids
        last = ids[-1]


def score_all(database: Database, rules: Rules, progress: Progress | None = None) -> Report:
    """Score every active lead, a batch at a time; with the distribution after."""
    report = score_leads(database, active_batches(database), rules, progress)
    with database.read_session() as session:
        report.distribution = repository.distribution(session)
    return report


def count_active(database: Database) -> int:
    with database.read_session() as session:
        return repository.count_active(session)


def run_lead_ids(database: Database, run_id: str) -> list[str]:
    with database.read_session() as session:
        return repository.run_lead_ids(session, run_id)


def queue_all(uow: UnitOfWork) -> str:
    """One job that scores every active lead; who asked for it is on the
    chain (the scores it changes are, under the job's own actor)."""
    job_id = jobs_service.enqueue(uow, SCORE_JOB, {"all": True})
    audit.append(uow.session, "scoring", job_id, "rescore_all", {"job_id": [None, job_id]})
    return job_id


def stored(session: Session, lead_id: str) -> dict[str, Any]:
    """A lead's stored score and explanation."""
    row = repository.stored_score(session, lead_id)
    if row is None:
        raise NotFoundError(f"lead {lead_id} not found")
    return {"lead_id": row.id, "score": row.lead_score, "explanation": row.score_explanation}
