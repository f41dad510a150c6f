"""Named queries over companies. Only companies.service calls the writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, func, or_, select, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from leadbase.db import bulk_insert, chunked
from leadbase.models import Company, SalesLead

# Every stored domain is lower-case punycode: [a-z0-9.-]. In every collation
# we run on (bytewise, glibc, ICU, MariaDB's *_ci) "z" sorts after all of
# those, so q + "z" * n is an upper bound for every domain starting with q.
_DOMAIN_LAST_CHAR = "z"
_DOMAIN_MAX = 255


def _not_deleted(column: Any) -> Any:
    """``is_deleted IS NOT true``: the same rows as ``is_deleted = false`` (the
    column is NOT NULL), but no index can serve it. Given ``= false``, SQLite
    without ANALYZE statistics walks the is_deleted index (nearly every row)
    and sorts, instead of the id, domain or filter index a page wants."""
    return column.is_not(True)


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


def _live(query: Any) -> Any:
    """Companies a record may link to: neither deleted nor merged away; oldest first.
    Not deleted as ``_not_deleted`` says it: given ``is_deleted IS false``,
    SQLite walked the is_deleted index (every company) for each chunk of
    values, not the looked-up column's index."""
    return query.where(_not_deleted(Company.is_deleted), Company.merged_into_id.is_(None)).order_by(
        Company.created_at, Company.id
    )


# A stored company as a batch's find-or-create knows it: id, domain, name
# key and created_at (tuples, not entities: a batch reads thousands). The
# created_at is only sorted by: read as the driver gives it, unconverted (the
# same order: SQLite's text is one fixed-width format, elsewhere a datetime).
Known = tuple[str, str | None, str | None, Any]
_KNOWN = select(
    Company.id, Company.domain, Company.name_key, type_coerce(Company.created_at, String())
)


def known_by_domains(session: Session, domains: Iterable[str]) -> list[Known]:
    """Live companies with one of these domains (one query per 500; one on PostgreSQL)."""
    return _known(session, Company.domain, domains)


def known_by_name_keys(session: Session, keys: Iterable[str]) -> list[Known]:
    """Live companies with one of these name keys (one query per 500; one on PostgreSQL)."""
    return _known(session, Company.name_key, keys)


def _known(session: Session, column: Any, values: Iterable[str]) -> list[Known]:
    wanted = sorted(set(values))
    if wanted and session.get_bind().dialect.name == "postgresql":
        # One statement, the values an array: an import's batch names some
        # thousands of companies (a dozen statements of 500 otherwise).
        where = column == any_(bindparam("wanted", type_=postgresql.ARRAY(String)))
        return list(session.execute(_live(_KNOWN.where(where)), {"wanted": wanted}).tuples())
    found: list[Known] = []
    for chunk in chunked(wanted):
        found.extend(session.execute(_live(_KNOWN.where(column.in_(chunk)))).tuples())
    return found


def get_many(session: Session, company_ids: Iterable[str]) -> dict[str, Company]:
    """Companies by id, as entities (to write changes to them)."""
    found: dict[str, Company] = {}
    for chunk in chunked(sorted(set(company_ids))):
        found.update(
            (c.id, c) for c in session.scalars(select(Company).where(Company.id.in_(chunk)))
        )
    return found


def insert_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT (per driver batch); only companies.service calls it."""
    bulk_insert(session, Company, rows)


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


def page(
    session: Session,
    filters: dict[str, Any],
    *,
    domain_prefix: str | None,
    name_prefix: str | None = None,
    after_id: str | None,
    limit: int,
    descending: bool,
    include_deleted: bool,
    by_name: bool = False,
) -> Sequence[Company]:
    """One keyset page in id order (UUIDv7 ids: creation order), or by name
    (``by_name``: the accent- and case-folded ``sort_name``, then id),
    descending when ``descending``. The cursor is the last id of the
    previous page (by name, the page goes on from that company's name).

    A search finds companies whose domain starts with ``domain_prefix`` or
    whose folded name starts with ``name_prefix``. The domain is matched as
    a range on its index (a range uses the B-tree under any collation,
    where ``LIKE 'x%'`` does not on PostgreSQL); the LIKE that follows only
    drops what a collation that skips punctuation lets into the range.
    """
    query = select(Company)
    if not include_deleted:
        query = query.where(_not_deleted(Company.is_deleted))
    for field, value in filters.items():
        query = query.where(Company.__table__.c[field] == value)
    found = [
        *([_domain_starts(domain_prefix)] if domain_prefix else []),
        *([Company.sort_name.startswith(name_prefix, autoescape=True)] if name_prefix else []),
    ]
    if found:
        query = query.where(or_(*found))
    if by_name:
        return _by_name(session, query, after_id, limit, descending)
    if after_id is not None:
        query = query.where(Company.id < after_id if descending else Company.id > after_id)
    order = Company.id.desc() if descending else Company.id.asc()
    return session.scalars(query.order_by(order).limit(limit)).all()


def _domain_starts(prefix: str) -> Any:
    upper = prefix + _DOMAIN_LAST_CHAR * max(1, _DOMAIN_MAX - len(prefix))
    return and_(
        Company.domain >= prefix,
        Company.domain <= upper,
        Company.domain.startswith(prefix, autoescape=True),
    )


def _by_name(
    session: Session, query: Any, after_id: str | None, limit: int, descending: bool
) -> Sequence[Company]:
    """``query`` in (sort_name, id) order, past the company ``after_id``."""
    key, ident = Company.sort_name, Company.id
    if after_id is not None:
        anchor = select(Company.sort_name).where(Company.id == after_id).scalar_subquery()
        if descending:
            query = query.where(or_(key < anchor, and_(key == anchor, ident < after_id)))
        else:
            query = query.where(or_(key > anchor, and_(key == anchor, ident > after_id)))
    order = [key.desc(), ident.desc()] if descending else [key.asc(), ident.asc()]
    return session.scalars(query.order_by(*order).limit(limit)).all()


def leads_page(
    session: Session,
    company_id: str,
    *,
    lead_status: str | None,
    after_id: str | None,
    limit: int,
    descending: bool,
    include_deleted: bool,
) -> Sequence[SalesLead]:
    """One keyset page of a company's leads, in the order of ``page``.
    Read only: leads are written by leads.service alone."""
    query = select(SalesLead).where(SalesLead.company_id == company_id)
    if lead_status is not None:
        query = query.where(SalesLead.lead_status == lead_status)
    if not include_deleted:
        query = query.where(_not_deleted(SalesLead.is_deleted))
    if after_id is not None:
        query = query.where(SalesLead.id < after_id if descending else SalesLead.id > after_id)
    order = SalesLead.id.desc() if descending else SalesLead.id.asc()
    return session.scalars(query.order_by(order).limit(limit)).all()


def lead_counts(session: Session, company_ids: Sequence[str]) -> dict[str, int]:
    """How many live leads each of these companies has (one query, by the
    company_id index); companies without leads are left out."""
    if not company_ids:
        return {}
    query = (
        select(SalesLead.company_id, func.count())
        .where(
            SalesLead.company_id.in_(company_ids),
            _not_deleted(SalesLead.is_deleted),
            SalesLead.merged_into_id.is_(None),
        )
        .group_by(SalesLead.company_id)
    )
    return {str(company_id): int(count) for company_id, count in session.execute(query)}
