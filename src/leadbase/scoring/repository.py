"""The scoring's reads: leads with their company, their activities, which
leads to score."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, case, func, select
from sqlalchemy.orm import Session

from leadbase.models import Company, LeadEvent, LeadSource, SalesLead
from leadbase.models.lead import NOT_ACTIVITIES


def lead_rows(
    session: Session, lead_ids: Collection[str], columns: Sequence[str]
) -> Sequence[Row[Any]]:
    """Each lead's ``columns`` and id, with its company's size, country and industry."""
    return session.execute(
        select(
            SalesLead.id,
            *(getattr(SalesLead, name) for name in columns),
            Company.employee_count,
            Company.employee_size_min,
            Company.employee_size_max,
            Company.country.label("company_country"),
            Company.industry.label("company_industry"),
        )
        .outerjoin(Company, Company.id == SalesLead.company_id)
        .where(SalesLead.id.in_(lead_ids))
    ).all()


def activity_rows(session: Session, lead_ids: Collection[str]) -> Sequence[Row[Any]]:
    """(lead id, event type, outcome, when, data) of every activity of these
    leads: one query over the (lead_id, event_type) index."""
    return session.execute(
        select(
            LeadEvent.lead_id,
            LeadEvent.event_type,
            LeadEvent.outcome,
            LeadEvent.event_timestamp,
            # Only a web visit's data is read (its page views): the others' stay in the table.
            case((LeadEvent.event_type == "web_visit", LeadEvent.event_data)),
        ).where(LeadEvent.lead_id.in_(lead_ids), LeadEvent.event_type.not_in(NOT_ACTIVITIES))
    ).all()


def _active() -> Any:
    return (SalesLead.is_deleted.is_(False)) & (SalesLead.merged_into_id.is_(None))


def active_ids_after(session: Session, last: str, batch: int) -> list[str]:
    """The next ``batch`` active lead ids after ``last``, in id order (a keyset page)."""
    return list(
        session.scalars(
            select(SalesLead.id)
            .where(_active(), SalesLead.id > last)
            .order_by(SalesLead.id)
            .limit(batch)
        )
    )


def count_active(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SalesLead).where(_active())) or 0)


def active_among(session: Session, lead_ids: Collection[str]) -> list[str]:
    """Those of ``lead_ids`` that are active leads (a deleted or merged one keeps its score)."""
    return list(session.scalars(select(SalesLead.id).where(SalesLead.id.in_(lead_ids), _active())))


def run_lead_ids(session: Session, run_id: str) -> list[str]:
    """The leads an import run or Apify sync wrote source rows for."""
    return list(
        dict.fromkeys(
            session.scalars(
                select(LeadSource.lead_id)
                .where(LeadSource.import_batch_id == run_id)
                .order_by(LeadSource.lead_id)
            )
        )
    )


def distribution(session: Session) -> dict[str, int]:
    """Active leads per score band of ten ("0-9" ... "90-100") and unscored."""
    band = case(
        (SalesLead.lead_score.is_(None), -1),
        (SalesLead.lead_score >= 90, 9),
        else_=SalesLead.lead_score // 10,
    )
    counts = dict(
        session.execute(select(band, func.count()).where(_active()).group_by(band)).tuples().all()
    )
    bands = {f"{10 * i}-{10 * i + 9 if i < 9 else 100}": int(counts.get(i, 0)) for i in range(10)}
    bands["unscored"] = int(counts.get(-1, 0))
    return bands


def stored_score(session: Session, lead_id: str) -> Row[Any] | None:
    return session.execute(
        select(
            SalesLead.id, SalesLead.lead_score, SalesLead.score_explanation, SalesLead.is_deleted
        ).where(SalesLead.id == lead_id)
    ).one_or_none()
