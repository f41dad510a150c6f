"""What providers return, what a waterfall run produces, and who is trusted more.

Trust decides which value a field keeps: a value a person typed or imported
(no provenance, or provenance for a different value) is never replaced; a
provider's value is replaced only by an equally or more trusted provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from leadbase.leads.schemas import EnrichmentStatus, LeadStatus

StepStatus = Literal["ok", "no_data", "error", "timeout", "junk", "skipped", "circuit_open"]

# Higher is more trusted. A custom provider registered without a rank gets 0.
TRUST: dict[str, int] = {
    "email": 10,
    "person": 20,
    "phone": 30,
    "company": 40,
    "website": 50,
    "webhook": 60,
}

# Lead fields a provider may fill. Status, ownership and bookkeeping fields are not here.
ENRICHABLE_FIELDS: frozenset[str] = frozenset(
    {
        "full_name",
        "first_name",
        "last_name",
        "title",
        "email",
        "phone",
        "additional_emails",
        "additional_phones",
        "linkedin_url",
        "company_name",
        "company_domain",
        "street",
        "address_line2",
        "city",
        "state",
        "postal_code",
        "country",
        "industry",
    }
)

COMPANY_HINT_FIELDS = (
    "domain",
    "name",
    "description",
    "website",
    "linkedin_url",
    "country",
    "city",
    "industry",
    "emails",
    "phones",
)


def trust_of(provider: str) -> int:
    return TRUST.get(provider, 0)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass(frozen=True)
class Found:
    """One value a provider proposes, with how sure it is (0..1)."""

    value: Any
    confidence: float


@dataclass(frozen=True)
class CompanyHint:
    """What the waterfall learnt about the lead's company (not a stored row)."""

    domain: str | None = None
    name: str | None = None
    description: str | None = None
    website: str | None = None
    linkedin_url: str | None = None
    country: str | None = None
    city: str | None = None
    industry: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if v}


@dataclass
class ProviderResult:
    """A provider's answer. Empty everywhere (or ``no_data``) means "no data";
    flags are kept either way (a 404 homepage is worth knowing)."""

    fields: dict[str, Found] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    company: CompanyHint | None = None
    no_data: bool = False

    @property
    def empty(self) -> bool:
        if self.no_data:
            return True
        return not self.fields and not self.flags and self.company is None


@dataclass(frozen=True)
class FieldValue:
    value: Any
    provider: str
    at: datetime
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "provider": self.provider,
            "at": self.at.isoformat(),
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class Step:
    provider: str
    status: StepStatus
    error: str | None = None
    ms: int = 0
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EnrichmentOutcome:
    fields: dict[str, FieldValue] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)
    company: CompanyHint | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """Some provider ran to the end (found data, or found there was none)."""
        return any(step.status in ("ok", "no_data") for step in self.steps)

    @property
    def reason(self) -> str | None:
        """Why nothing worked, naming each step; None when something did."""
        if self.ok:
            return None
        if not self.steps:
            return "no enrichment providers are configured"
        return "no provider succeeded: " + "; ".join(
            f"{s.provider} {s.status}" + (f" ({s.error})" if s.error else "") for s in self.steps
        )

    def step(self, provider: str) -> Step | None:
        return next((s for s in self.steps if s.provider == provider), None)


def source_of(field_name: str, value: Any, provenance: Mapping[str, Any]) -> str | None:
    """The provider that set ``value``; None when a person or an import did.

    Provenance is for the value it records: once someone edits the field,
    the new value has no provider and is theirs.
    """
    record = provenance.get(field_name)
    if isinstance(record, Mapping) and record.get("value") == value:
        provider = record.get("provider")
        return provider if isinstance(provider, str) else None
    return None


def may_replace(
    field_name: str, current: Any, provenance: Mapping[str, Any], provider: str
) -> bool:
    """May ``provider`` write ``field_name`` over its ``current`` value?"""
    if is_empty(current):
        return True
    source = source_of(field_name, current, provenance)
    if source is None:
        return False  # typed or imported: people beat providers
    return trust_of(provider) >= trust_of(source)


# --- POST /api/v1/enrichment/run --------------------------------------------------------

MAX_RUN = 1000


class EnrichmentRunInput(BaseModel):
    """Which leads to enrich: the list filters of ``GET /leads`` and a cap."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enrichment_status: EnrichmentStatus | None = Field(
        default="pending", description="Leads in this state; null for any state"
    )
    limit: int = Field(default=100, ge=1, le=MAX_RUN, description="At most this many leads")
    q: Annotated[str, StringConstraints(max_length=200)] | None = None
    tag: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    is_manual: bool | None = None
    lead_status: LeadStatus | None = None
    source: Annotated[str, StringConstraints(max_length=50)] | None = None
    country: Annotated[str, StringConstraints(max_length=100)] | None = None
    industry: Annotated[str, StringConstraints(max_length=100)] | None = None
    company_id: Annotated[str, StringConstraints(max_length=36)] | None = None

    def filters(self) -> dict[str, Any]:
        """The equality filters given (search and tag aside)."""
        given = self.model_dump(exclude={"limit", "q", "tag"}, exclude_none=True)
        return given


class QueuedEnrichment(BaseModel):
    lead_id: str
    job_id: str


class EnrichmentRun(BaseModel):
    queued: int
    jobs: list[QueuedEnrichment]
