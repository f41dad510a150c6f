"""What a list can show, and what a saved view holds.

Column keys are lead field names: the list's chooser, the saved views and
the export's ``columns=`` parameter all speak the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field, field_validator

LEADS = "leads"


@dataclass(frozen=True)
class Column:
    key: str  # the lead field
    label: str
    sort: str | None = None  # the list's sort field, when the header sorts
    numeric: bool = False


# Every column the lead list can show, in the chooser's order. The name is
# always shown first (it links to the lead), so it is not a choice.
LEAD_COLUMNS: dict[str, Column] = {
    column.key: column
    for column in (
        Column("email", "Email"),
        Column("company_name", "Company"),
        Column("title", "Title"),
        Column("lead_status", "Status"),
        Column("lead_score", "Score", sort="lead_score", numeric=True),
        Column("phone", "Phone"),
        Column("country", "Country"),
        Column("city", "City"),
        Column("industry", "Industry"),
        Column("tags", "Tags"),
        Column("source", "Source"),
        Column("enrichment_status", "Enrichment"),
        Column("created_at", "Created", sort="created_at"),
        Column("updated_at", "Updated", sort="updated_at"),
    )
}
NAME_COLUMN = Column("full_name", "Name", sort="full_name")
DEFAULT_LEAD_COLUMNS = (
    "email",
    "company_name",
    "lead_status",
    "lead_score",
    "enrichment_status",
    "source",
    "created_at",
)
MAX_VIEW_NAME = 80
MAX_QUERY = 2000


def clean_columns(keys: list[str]) -> list[str]:
    """Known column keys, each once, in the order given."""
    return [key for key in dict.fromkeys(keys) if key in LEAD_COLUMNS]


class ColumnsIn(BaseModel):
    columns: list[str] = Field(max_length=len(LEAD_COLUMNS))

    @field_validator("columns")
    @classmethod
    def _known(cls, keys: list[str]) -> list[str]:
        unknown = [key for key in keys if key not in LEAD_COLUMNS]
        if unknown:
            raise ValueError(f"unknown column: {unknown[0][:40]}")
        return clean_columns(keys)


class SavedViewIn(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_VIEW_NAME)
    shared: bool = False
    query: str = Field(default="", max_length=MAX_QUERY)
    columns: list[str] = Field(default_factory=list, max_length=len(LEAD_COLUMNS))

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        name = " ".join(name.split())
        if not name:
            raise ValueError("give the view a name")
        return name

    @field_validator("columns")
    @classmethod
    def _columns(cls, keys: list[str]) -> list[str]:
        return clean_columns(keys)


@dataclass(frozen=True)
class ViewLink:
    """A saved view as the nav lists it."""

    id: str
    name: str
    shared: bool
    owner_id: str
