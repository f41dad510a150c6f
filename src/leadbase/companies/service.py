"""The one write path for companies: same steps as leads, keyed on domain.

``find_or_create`` is the one way a lead (any lead write) or enrichment
gets to its company: found by registered domain, else by name key, else
created here, audited like any other create.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from leadbase.leads.schemas import CompanyDuplicatePolicy
from leadbase.models import Company, new_id, utcnow
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
    uow: UnitOfWork, data: Mapping[str, Any], *, on_duplicate: CompanyDuplicatePolicy = "reject"
) -> Company:
    return create_or_merge(uow, data, on_duplicate=on_duplicate)[0]


def create_or_merge(
    uow: UnitOfWork, data: Mapping[str, Any], *, on_duplicate: CompanyDuplicatePolicy = "reject"
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
    company = Company(**clean, **derived_keys(clean["name"]), created_by=actor, updated_by=actor)
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
    for name, (_, new) in changes.items():
        setattr(company, name, new)
    if "name" in changes:
        for name, value in derived_keys(company.name).items():
            setattr(company, name, value)
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


def derived_keys(name: str | None, want: Wanted | None = None) -> dict[str, str | None]:
    """The columns kept from a company's name (not audited: derived); the
    name key ``want`` holds when it is for that name."""
    key = want.name_key if want is not None and want.name == name else norm.company_name_key(name)
    return {"name_key": key, "sort_name": norm.sort_key(name)}


# --- find or create: how leads and enrichment get to their company -------------------


@dataclass(frozen=True)
class Wanted:
    """What a record says of its company: its registered domain and/or its
    name, and (enrichment) more fields a new company takes and a found one
    fills where it has nothing."""

    domain: str | None = None
    name: str | None = None
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # The name's company_name_key: worked out unless given (a lead's key_company).
    name_key: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.name_key is None and self.name:
            object.__setattr__(self, "name_key", norm.company_name_key(self.name))


def wanted(
    domain: str | None, name: str | None, fields: Mapping[str, Any] | None = None
) -> Wanted | None:
    """The company a domain (any host of it: "www.", a subdomain, a URL, an
    address) and a name point at; None when they point nowhere."""
    found = _wanted(domain, name)
    if found is None or not fields:
        return found
    return Wanted(found.domain, found.name, fields, found.name_key)


def wanted_by_keys(domain: str | None, name: str | None, name_key: str | None) -> Wanted | None:
    """``wanted`` from what is worked out already: the registered (else
    normalised) domain, the clean name and its name key. A lead's match keys
    hold them (an import's reader derived them: nothing is worked out again
    behind memos that cost memory); ``wanted`` works them out first."""
    if domain is None and name_key is None:
        return None
    return Wanted(domain, name, name_key=name_key)


# A batch's leads name the same companies over and over: each (domain,
# name) is worked out once (a Wanted is frozen: sharing one is safe).
@functools.lru_cache(maxsize=4096)
def _wanted(domain: str | None, name: str | None) -> Wanted | None:
    registered = None
    if domain:
        registered = norm.registered_domain(domain) or norm.normalise_domain(domain)
    name = norm.clean_text(name)
    return wanted_by_keys(registered, name, norm.company_name_key(name))


@dataclass
class _Match:
    """A company a batch links to: found (``row`` None) or created by it."""

    id: str
    domain: str | None
    row: dict[str, Any] | None = None
    # Created by this batch with a name made up from its domain: the first
    # record of the batch that names the company names it.
    named_after_domain: bool = False


Known = tuple[str, str | None, str | None]  # a stored company's id, domain, name key


class CompanyFinder:
    """One batch's matching: the companies its domains and name keys found
    (``known``), then those it creates, so two records of one company share
    it. Pure: migration 0007 links stored leads with it too."""

    def __init__(self, known: Iterable[Known]) -> None:
        self.by_domain: dict[str, _Match] = {}
        self.by_key: dict[str, list[_Match]] = {}
        for company_id, domain, key in known:
            self._remember(_Match(company_id, domain), key)

    def _remember(self, match: _Match, key: str | None) -> None:
        if match.domain:
            self.by_domain.setdefault(match.domain, match)
        if key:
            self.by_key.setdefault(key, []).append(match)

    def find(self, want: Wanted) -> _Match | None:
        """By domain; else by name, a company with another domain excepted
        (acme.com's "Acme" is not acme.de's)."""
        if want.domain and want.domain in self.by_domain:
            return self.by_domain[want.domain]
        for match in self.by_key.get(want.name_key or "", []):
            if want.domain is None or match.domain is None:
                return match
        return None

    def create(self, row: dict[str, Any], *, named_after_domain: bool = False) -> _Match:
        match = _Match(row["id"], row["domain"], row, named_after_domain)
        self._remember(match, row["name_key"])
        return match

    def renamed(self, match: _Match, name: str) -> None:
        """A company this batch created takes ``name`` for its made-up one."""
        assert match.row is not None
        match.row.update(name=name, **derived_keys(name))
        match.named_after_domain = False
        if match.row["name_key"]:
            self.by_key.setdefault(match.row["name_key"], []).append(match)

    def gave_domain(self, match: _Match, domain: str) -> None:
        match.domain = domain
        self.by_domain.setdefault(domain, match)


def new_row(want: Wanted, fields: Mapping[str, Any], actor: str, now: datetime) -> dict[str, Any]:
    """Every column of a company the batch creates, named after the domain
    ("Acme Labs" for acme-labs.io) when the record gives no name."""
    name = want.name or (norm.name_from_domain(want.domain) if want.domain else None)
    values: dict[str, Any] = dict.fromkeys(COMPANY_FIELDS)
    values.update(fields)
    values.update(name=name or want.domain, domain=want.domain)
    return {
        **values,
        **derived_keys(values["name"], want),
        "id": new_id(),
        "version": 1,
        "merged_into_id": None,
        "created_at": now,
        "updated_at": now,
        "created_by": actor,
        "updated_by": actor,
        "is_deleted": False,
        "deleted_at": None,
        "deleted_by": None,
    }


def _empty_fields_filled(current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    return {f: v for f, v in given.items() if v not in (None, "") and current.get(f) in (None, "")}


def find_or_create(uow: UnitOfWork, wants: Sequence[Wanted | None]) -> list[str | None]:
    """The company id each ``Wanted`` names (None for None), found or
    created, in the caller's transaction.

    A batch costs one query per key kind (domains, name keys) and one
    multi-row insert of the companies it creates, each with its audit
    entry. A found company takes what it lacks from what the records say
    (a domain for a company known only by name; enrichment's industry...),
    as an audited update.
    """
    given = [w for w in wants if w is not None]
    if not given:
        return [None] * len(wants)
    session = uow.session
    serialize_writers(session)
    domains = {w.domain for w in given if w.domain}
    keys = {key for w in given if (key := w.name_key)}
    known = {
        row[0]: row
        for row in [
            *repository.known_by_domains(session, domains),
            *repository.known_by_name_keys(session, keys),
        ]
    }
    oldest_first = sorted(known.values(), key=lambda c: (c[3], c[0]))
    finder = CompanyFinder(row[:3] for row in oldest_first)
    actor, now = context.current().actor, utcnow()
    fills: dict[str, dict[str, Any]] = {}
    created_rows: list[dict[str, Any]] = []
    ids: list[str | None] = []
    for want in wants:
        if want is None:
            ids.append(None)
            continue
        match = finder.find(want)
        fields = _checked_fields(want) if match is None or want.fields else {}
        if match is None:
            match = finder.create(
                new_row(want, fields, actor, now), named_after_domain=not want.name
            )
            assert match.row is not None
            created_rows.append(match.row)
        else:
            offered = {**fields, "domain": want.domain}
            if match.domain is not None:
                offered.pop("domain")
            elif want.domain is not None:
                finder.gave_domain(match, want.domain)
            if match.row is not None:  # created by this batch: it takes them as it is
                match.row.update(_empty_fields_filled(match.row, offered))
                if want.name and match.named_after_domain:
                    finder.renamed(match, want.name)
            else:
                pending = fills.setdefault(match.id, {})
                pending.update(_empty_fields_filled(pending, offered))
        ids.append(match.id)
    _insert_created(session, created_rows)
    # Only the companies offered something are loaded as entities: few are
    # (an empty fill changes nothing).
    fills = {company_id: fill for company_id, fill in fills.items() if fill}
    entities = repository.get_many(session, fills) if fills else {}
    for company_id, fill in fills.items():
        company = entities[company_id]
        fill = _empty_fields_filled(row_values(company, fill), fill)
        _write_changes(session, company, diff(row_values(company, fill), fill))
    return ids


def _checked_fields(want: Wanted) -> dict[str, Any]:
    """What a company takes from ``want`` besides its name and domain,
    checked as a company's fields are (a name too long for one is refused)."""
    given = {**want.fields, **({"name": want.name} if want.name else {})}
    fields = clean_input(given)
    fields.pop("name", None)
    fields.pop("domain", None)
    return fields


def _insert_created(session: Session, rows: list[dict[str, Any]]) -> None:
    repository.insert_many(session, rows)
    for row in rows:
        values = {f: row[f] for f in COMPANY_FIELDS}
        audit.append(session, "company", row["id"], "create", created(values))
