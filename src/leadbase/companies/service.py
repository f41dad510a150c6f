"""The one write path for companies: same steps as leads, keyed on domain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from leadbase import audit, context
from leadbase.changes import Changes, created, diff, row_values
from leadbase.companies import repository
from leadbase.companies.schemas import COMPANY_FIELDS, TEXT_FIELDS, CompanyInput
from leadbase.db import UnitOfWork, serialize_writers
from leadbase.dedupe import normalise as norm
from leadbase.errors import ConflictError, DuplicateLeadError, NotFoundError, ValidationError
from leadbase.leads.schemas import DuplicatePolicy
from leadbase.models import Company, utcnow
from leadbase.validation import parse


def clean_input(data: Any, *, full: bool = False) -> dict[str, Any]:
    model = parse(CompanyInput, data)
    clean = model.model_dump() if full else model.model_dump(exclude_unset=True)
    for field in TEXT_FIELDS:
        if field in clean:
            clean[field] = norm.clean_text(clean[field])
    if clean.get("domain"):
        clean["domain"] = norm.normalise_domain(clean["domain"])
    if clean.get("linkedin_url"):
        clean["linkedin_url"] = norm.normalise_linkedin_url(clean["linkedin_url"])
    if "name" in clean and not clean["name"]:
        raise ValidationError("name", "a company needs a name")
    return clean


def _duplicate_of(
    session: Session, domain: str | None, exclude: str | None = None
) -> Company | None:
    if not domain:
        return None
    existing = repository.get_by_domain(session, domain)
    return existing if existing is not None and existing.id != exclude else None


def create(
    uow: UnitOfWork, data: Mapping[str, Any], *, on_duplicate: DuplicatePolicy = "reject"
) -> Company:
    return create_or_merge(uow, data, on_duplicate=on_duplicate)[0]


def create_or_merge(
    uow: UnitOfWork, data: Mapping[str, Any], *, on_duplicate: DuplicatePolicy = "reject"
) -> tuple[Company, bool]:
    """Like ``create``, and says whether the company is new (False: the data
    was merged into the existing company with the same domain)."""
    clean = clean_input(data)
    if not clean.get("name"):
        if not clean.get("domain"):
            raise ValidationError("name", "a company needs a name")
        clean["name"] = clean["domain"]
    session = uow.session
    serialize_writers(session)
    existing = None if on_duplicate == "allow" else _duplicate_of(session, clean.get("domain"))
    if existing is not None:
        if on_duplicate == "reject":
            raise DuplicateLeadError(existing.id, "domain", entity="company")
        fill = {
            f: v for f, v in clean.items() if v is not None and getattr(existing, f) in (None, "")
        }
        return _write_changes(session, existing, diff(row_values(existing, fill), fill)), False
    actor = context.current().actor
    company = Company(**clean, created_by=actor, updated_by=actor)
    repository.add(session, company)
    session.flush()
    audit.append(
        session, "company", company.id, "create", created(row_values(company, COMPANY_FIELDS))
    )
    return company, True


def _load_for_write(
    session: Session,
    company_id: str,
    expected_version: int | None,
    *,
    include_deleted: bool = False,
) -> Company:
    serialize_writers(session)
    company = repository.get(session, company_id, include_deleted=include_deleted)
    if company is None:
        raise NotFoundError(f"company {company_id} not found")
    if expected_version is not None and company.version != expected_version:
        raise ConflictError(
            f"company {company_id} is at version {company.version}, not {expected_version}",
            current_version=company.version,
        )
    return company


def _write_changes(
    session: Session, company: Company, changes: Changes, action: str = "update"
) -> Company:
    if not changes:
        return company
    for field, (_, new) in changes.items():
        setattr(company, field, new)
    company.updated_by = context.current().actor
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError("the company was changed by someone else; reload and retry") from None
    audit.append(session, "company", company.id, action, changes)
    return company


def update(
    uow: UnitOfWork,
    company_id: str,
    data: Mapping[str, Any],
    *,
    expected_version: int | None = None,
    replace: bool = False,
) -> Company:
    clean = clean_input(data, full=replace)
    if replace and not clean.get("name"):
        raise ValidationError("name", "a company needs a name")
    session = uow.session
    company = _load_for_write(session, company_id, expected_version)
    changes = diff(row_values(company, clean), clean)
    if "domain" in changes:
        other = _duplicate_of(session, clean["domain"], exclude=company_id)
        if other is not None:
            raise DuplicateLeadError(other.id, "domain", entity="company")
    return _write_changes(session, company, changes)


def soft_delete(
    uow: UnitOfWork, company_id: str, *, expected_version: int | None = None
) -> Company:
    session = uow.session
    company = _load_for_write(session, company_id, expected_version)
    company.deleted_at, company.deleted_by = utcnow(), context.current().actor
    return _write_changes(session, company, {"is_deleted": [False, True]}, "delete")


def restore(uow: UnitOfWork, company_id: str) -> Company:
    session = uow.session
    company = _load_for_write(session, company_id, None, include_deleted=True)
    if not company.is_deleted:
        return company
    company.deleted_at, company.deleted_by = None, None
    return _write_changes(session, company, {"is_deleted": [True, False]}, "restore")
