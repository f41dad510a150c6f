"""Named queries over companies. Only companies.service calls the writes."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadbase.models import Company


def get(session: Session, company_id: str, *, include_deleted: bool = False) -> Company | None:
    company = session.get(Company, company_id)
    if company is None or (company.is_deleted and not include_deleted):
        return None
    return company


def get_by_domain(session: Session, domain: str) -> Company | None:
    return session.scalars(
        select(Company)
        .where(Company.domain == domain, Company.is_deleted.is_(False))
        .where(Company.merged_into_id.is_(None))
        .order_by(Company.created_at, Company.id)
        .limit(1)
    ).first()


def existing_ids(session: Session, ids: Iterable[str]) -> set[str]:
    wanted = list(set(ids))
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(Company.id).where(Company.id.in_(wanted), Company.is_deleted.is_(False))
        )
    )


def add(session: Session, company: Company) -> None:
    session.add(company)
