"""What a caller may send for a company."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from leadbase.dedupe.normalise import sort_key

# Ids and free text in paths and queries: nothing a database would choke on.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"
TEXT_PATTERN = r"^[^\x00]*$"
_URL_PREFIXES = ("https://", "http://", "www.")

Str = Annotated[str, StringConstraints(max_length=255)]
Short = Annotated[str, StringConstraints(max_length=100)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]


class CompanyInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=10_000)

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    domain: Str | None = None
    company_type: Annotated[str, StringConstraints(max_length=50)] | None = None
    country: Short | None = None
    city: Short | None = None
    industry: Short | None = None
    employee_count: Count | None = None
    employee_size_min: Count | None = None
    employee_size_max: Count | None = None
    description: str | None = None
    website: Annotated[str, StringConstraints(max_length=500)] | None = None
    linkedin_url: Annotated[str, StringConstraints(max_length=500)] | None = None
    tags: (
        Annotated[
            list[Annotated[str, StringConstraints(min_length=1, max_length=50)]],
            Field(max_length=100),
        ]
        | None
    ) = None

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                check_storable(text)
        return value


def check_storable(text: str) -> str:
    """Refuse NUL: PostgreSQL text cannot hold it (pydantic already refuses
    lone surrogates, the other text no database can store)."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


COMPANY_FIELDS: tuple[str, ...] = tuple(CompanyInput.model_fields)
TEXT_FIELDS = ("name", "company_type", "country", "city", "industry", "website")


class CompanyCreate(CompanyInput):
    """A POST body. Strict: JSON's types as the schema says ("5" is not a
    count), where CompanyInput itself also takes the strings of a CSV row."""

    model_config = ConfigDict(strict=True)


class CompanyWrite(CompanyCreate):
    """A PUT or PATCH body: the fields, plus the ``version`` the caller last read
    (a stale one is a 409; If-Match is the header form of the same check)."""

    version: Annotated[int, Field(ge=1)] | None = None


class CompanyOut(BaseModel):
    """A stored company as the API returns it. Plain types: what is stored is
    shown as it is, whatever path wrote it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    domain: str | None = None
    company_type: str | None = None
    country: str | None = None
    city: str | None = None
    industry: str | None = None
    employee_count: int | None = None
    employee_size_min: int | None = None
    employee_size_max: int | None = None
    description: str | None = None
    website: str | None = None
    linkedin_url: str | None = None
    tags: list[str] | None = None
    version: int
    merged_into_id: str | None = None
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    updated_by: str | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    deleted_by: str | None = None


class CompanyPage(BaseModel):
    items: list[CompanyOut]
    next_cursor: str | None


def name_search_prefix(q: str | None) -> str | None:
    """What a search matches company names against: their ``sort_name``,
    accents and case folded ("emile" and "ÉMILE" find "Émile SA")."""
    return sort_key(q.strip()) if q else None


def domain_search_prefix(q: str | None) -> str | None:
    """What a search matches stored domains against: they are lower-case,
    without scheme or ``www.``, so the search term is made the same."""
    if q is None:
        return None
    term = q.strip().lower()
    for prefix in _URL_PREFIXES:
        term = term.removeprefix(prefix)
    return term or None
