"""The rules of the lead score: what each rule gives points for.

The built-in rules ship with the package (``default_rules.toml``). A rules
file of a team's own (TOML or JSON; ``settings.scoring_rules`` or
``leadbase score --rules FILE``) names only what it changes: each section it
gives replaces the keys it names, the others keep their defaults. A bad
file is refused with the key at fault named (``RulesError``), never half
applied.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadbase.errors import ValidationError as LeadbaseValidationError

DEFAULT_RULES = "default_rules.toml"
RULE_NAMES = (
    "title_seniority",
    "company_size",
    "target_countries",
    "target_industries",
    "email_quality",
    "completeness",
    "source",
    "engagement",
    "status",
)

Points = Annotated[int, Field(ge=-100, le=100)]
Keywords = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1)]


class RulesError(LeadbaseValidationError):
    """A rules file that cannot be used; ``field`` is the key at fault
    (``engagement.recency[1].points``), 422 over HTTP."""


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    points: Points
    keywords: Keywords

    @field_validator("keywords")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [word.strip().lower() for word in value]


class TitleSeniority(_Rule):
    levels: Annotated[list[Level], Field(min_length=1)]
    unknown: Points = 0


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: Annotated[int, Field(ge=0)] = 0
    max: Annotated[int, Field(ge=0)] | None = None
    points: Points


class CompanySize(_Rule):
    bands: Annotated[list[Band], Field(min_length=1)]
    unknown: Points = 0

    @field_validator("bands")
    @classmethod
    def _ordered(cls, bands: list[Band]) -> list[Band]:
        for band in bands:
            if band.max is not None and band.max < band.min:
                raise ValueError(f"a band's max ({band.max}) is below its min ({band.min})")
        return bands


class TargetCountries(_Rule):
    countries: list[Annotated[str, Field(min_length=2, max_length=100)]]
    points: Points
    other: Points = 0
    unknown: Points = 0


class TargetIndustries(_Rule):
    industries: list[Annotated[str, Field(min_length=1, max_length=100)]]
    points: Points
    other: Points = 0
    unknown: Points = 0

    @field_validator("industries")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [word.strip().lower() for word in value]


class EmailQuality(_Rule):
    verified: Points = 0
    business: Points = 0
    free_mail: Points = 0
    disposable: Points = 0
    role_account: Points = 0
    missing: Points = 0


class Completeness(_Rule):
    fields: Annotated[list[str], Field(min_length=1)]
    points: Points

    @field_validator("fields")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from leadbase.leads.schemas import LEAD_FIELDS

        unknown = [name for name in value if name not in LEAD_FIELDS]
        if unknown:
            raise ValueError(f"not lead fields: {', '.join(unknown)}")
        return value


class Source(_Rule):
    points: dict[str, Points]
    other: Points = 0


class Recency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    within_days: Annotated[int, Field(ge=1, le=3650)]
    points: Points


class Frequency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_least: Annotated[int, Field(ge=1)]
    points: Points


class PageViews(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_least: Annotated[int, Field(ge=1)] = 5
    points: Points = 0


class Engagement(_Rule):
    recency: list[Recency] = []
    frequency: list[Frequency] = []
    kinds: dict[str, Points] = {}
    kinds_cap: Annotated[int, Field(ge=0, le=100)] = 100
    outcomes: dict[str, Points] = {}
    outcomes_cap: Annotated[int, Field(ge=0, le=100)] = 100
    page_views: PageViews = PageViews()

    @field_validator("recency")
    @classmethod
    def _soonest_first(cls, value: list[Recency]) -> list[Recency]:
        return sorted(value, key=lambda band: band.within_days)

    @field_validator("frequency")
    @classmethod
    def _most_first(cls, value: list[Frequency]) -> list[Frequency]:
        return sorted(value, key=lambda band: -band.at_least)


class Status(_Rule):
    points: dict[str, Points]


class Rules(BaseModel):
    """The rules in effect: every rule, each on or off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title_seniority: TitleSeniority
    company_size: CompanySize
    target_countries: TargetCountries
    target_industries: TargetIndustries
    email_quality: EmailQuality
    completeness: Completeness
    source: Source
    engagement: Engagement
    status: Status

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def digest(self) -> str:
        """What names these rules in a score's explanation: sha256[:12] of
        their canonical JSON (the same rules, however written, the same digest)."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _key(location: tuple[int | str, ...]) -> str:
    """('engagement', 'recency', 1, 'points') -> 'engagement.recency[1].points'."""
    key = ""
    for part in location:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "rules"


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError("rules", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise RulesError("rules", f"{path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError("rules", f"{path} must hold an object of rules")
    return data


def _merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The defaults with each given section's keys replaced (one level deep)."""
    merged = dict(defaults)
    for name, section in given.items():
        if name not in defaults:
            known = ", ".join(RULE_NAMES)
            raise RulesError(name, f"unknown rule {name!r}; the rules are: {known}")
        if not isinstance(section, dict):
            raise RulesError(name, "must be a table of the rule's settings")
        merged[name] = {**defaults[name], **section}
    return merged


def validated(data: dict[str, Any]) -> Rules:
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RulesError(_key(first["loc"]), first["msg"]) from None


@cache
def _default_data() -> dict[str, Any]:
    text = resources.files("leadbase.scoring").joinpath(DEFAULT_RULES).read_text("utf-8")
    return tomllib.loads(text)


def default_rules() -> Rules:
    return validated(_default_data())


def load(path: Path | None) -> Rules:
    """The rules in effect: the built-in ones, changed by ``path`` if given."""
    if path is None:
        return default_rules()
    return validated(_merged(_default_data(), _read(path)))
