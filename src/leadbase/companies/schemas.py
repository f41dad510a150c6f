"""What a caller may send for a company."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


COMPANY_FIELDS: tuple[str, ...] = tuple(CompanyInput.model_fields)
TEXT_FIELDS = ("name", "company_type", "country", "city", "industry", "website")
