"""The values the list's filters can take, and what a typed filter value means.

Two things, for the API's GET /leads, the console's /leads and the export:

- ``values(session, field, prefix=...)``: the values that exist for source,
  country, tag, lead_status and industry, each with how many active leads a
  filter on it finds, most common first, narrowed by a typed prefix
  (ignoring case and accents). Spellings that filter alike are one value:
  "apify", "Apify" and "APIFY" are "apify" (the most common spelling);
  "FR" and "France" are "France".
- ``resolve_filters`` / ``resolve_tag``: a filter value as a user typed it
  becomes the stored spellings it stands for, which the repository then
  matches with an IN list (so the (field, created_at, id) indexes still
  serve the list): "apify" finds "Apify" and "APIFY"; "fr", "FR", "France"
  and "FRA" find "FR" and "France" (ISO 3166 codes and names, pycountry).

Cost, and the cache. Counting leads by value reads a whole index (0.2 s a
field on 1M SQLite leads); counting tags reads every tagged lead's JSON
array (no index lists them: ~1.5 s). So counts come from a per-process
cache that lives CACHE_SECONDS: past that a request still gets the old
counts while one background thread recounts, so no page render waits for a
count. Only a cold cache (the first suggestions asked of this process)
counts while the request waits.

Resolving never waits for a count either. A scalar field's stored values
come fresh from a loose index scan (one index seek a distinct value, well
under a millisecond), so a spelling stored a second ago is found. Tags have
no such index: their spellings come from the cached counts (at most
CACHE_SECONDS old; cold, a background count starts and the tag resolves to
its usual case variants meanwhile), and the given tag and its lower,
upper and title case always count too.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pycountry
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from leadbase.errors import ValidationError
from leadbase.leads import repository

log = logging.getLogger(__name__)

# Fields whose values are offered; all but tag are columns (FACET_COLUMNS).
FIELDS = ("source", "country", "tag", "lead_status", "industry")
# How long counted values serve before a background recount.
CACHE_SECONDS = 60.0
# Values in one answer, by default and at most.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Distinct values of a column read fresh for each resolve; past this many
# (free text nobody cleaned) the cached counts' spellings are used instead.
FRESH_VALUES_CAP = 500


class FacetValue(BaseModel):
    """One value a filter can take: ``value`` to filter by, ``count`` active
    leads that filter finds, and the stored ``spellings`` it matches."""

    model_config = ConfigDict(frozen=True)

    value: str
    count: int
    spellings: list[str]


class FacetValues(BaseModel):
    """The answer of GET /api/v1/leads/facets/{field} and the console's
    GET /leads/facets/{field}."""

    field: str
    prefix: str
    values: list[FacetValue]


# --- folding and countries ----------------------------------------------------------


def fold_case(value: str) -> str:
    """What "equal ignoring case" compares: "Apify" and "APIFY" fold alike."""
    return unicodedata.normalize("NFC", value.strip()).casefold()


def fold(value: str) -> str:
    """Case and accents folded, for prefixes typed: "zur" finds "Zürich"."""
    decomposed = unicodedata.normalize("NFKD", value.strip().casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Names that are not ISO 3166's but that people and scrapers write.
COUNTRY_ALIASES = {
    "UK": "GB",
    "Great Britain": "GB",
    "England": "GB",
    "Deutschland": "DE",
    "España": "ES",
    "Italia": "IT",
    "Nederland": "NL",
    "Holland": "NL",
    "Schweiz": "CH",
    "Suisse": "CH",
    "Österreich": "AT",
    "Sverige": "SE",
    "Norge": "NO",
    "Danmark": "DK",
    "Polska": "PL",
    "Brasil": "BR",
    "México": "MX",
    "Türkei": "TR",
    "Turkey": "TR",
    "Russia": "RU",
    "America": "US",
    "United States of America": "US",
}


@cache
def _country_codes() -> dict[str, str]:
    """Folded code or name -> ISO 3166 alpha-2 code."""
    codes: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            name = getattr(country, attribute, None)
            if name:
                codes.setdefault(fold(name), country.alpha_2)
    for alias, code in COUNTRY_ALIASES.items():
        codes.setdefault(fold(alias), code)
    return codes


def country_code(value: str) -> str | None:
    """The ISO 3166 alpha-2 code a country's code or name stands for."""
    return _country_codes().get(fold(value))


def country_name(code: str) -> str:
    """How a country is shown: its common name ("South Korea"), else ISO's."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def _country_terms(code: str) -> list[str]:
    """Codes a typed prefix may match besides the stored spellings ("GBR")."""
    country = pycountry.countries.get(alpha_2=code)
    return [] if country is None else [country.alpha_2, country.alpha_3, country_name(code)]


def match_key(field: str, value: str) -> str:
    """Values with the same key are the same filter."""
    if field == "country" and (code := country_code(value)) is not None:
        return f"iso:{code}"
    return fold_case(value)


# --- the cache ------------------------------------------------------------------------

Counts = list[tuple[str, int]]


@dataclass
class _Entry:
    counts: Counts
    at: float


class _CountCache:
    """Per process, per database (engine) and field: the stored values and
    their active-lead counts, as last counted."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: weakref.WeakKeyDictionary[Engine, dict[str, _Entry]] = (
            weakref.WeakKeyDictionary()
        )
        self._counting: set[tuple[int, str]] = set()

    def get(self, session: Session, field: str, *, wait: bool) -> Counts | None:
        """The counts of ``field``: fresh or stale (a recount starts in the
        background). None yet: counted now when ``wait``, else in the background."""
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        with self._lock:
            entry = self._entries.get(engine, {}).get(field)
        if entry is not None:
            if time.monotonic() - entry.at > self.ttl:
                self._count_later(engine, field)
            return entry.counts
        if not wait:
            self._count_later(engine, field)
            return None
        counts = _count(session, field)
        self._store(engine, field, counts)
        return counts

    def _store(self, engine: Engine, field: str, counts: Counts) -> None:
        with self._lock:
            self._entries.setdefault(engine, {})[field] = _Entry(counts, time.monotonic())

    def _count_later(self, engine: Engine, field: str) -> None:
        key = (id(engine), field)
        with self._lock:
            if key in self._counting:
                return
            self._counting.add(key)
        threading.Thread(
            target=self._recount, args=(engine, field, key), name=f"facets-{field}", daemon=True
        ).start()

    def _recount(self, engine: Engine, field: str, key: tuple[int, str]) -> None:
        try:
            with Session(engine) as session:
                self._store(engine, field, _count(session, field))
        except Exception:  # a database gone away: the next request tries again
            log.warning("counting %s values failed", field, exc_info=True)
        finally:
            with self._lock:
                self._counting.discard(key)


def _count(session: Session, field: str) -> Counts:
    if field == "tag":
        return repository.tag_counts(session)
    return repository.value_counts(session, field)


COUNTS = _CountCache(CACHE_SECONDS)


# --- the values a filter offers -------------------------------------------------------


def check_field(field: str) -> str:
    if field not in FIELDS:
        raise ValidationError("field", f"must be one of: {', '.join(FIELDS)}")
    return field


def _grouped(field: str, counts: Iterable[tuple[str, int]]) -> list[FacetValue]:
    """Stored values with their counts, as filter values: spellings that
    filter alike merged, most common first."""
    groups: dict[str, dict[str, int]] = defaultdict(dict)
    for value, total in counts:
        spellings = groups[match_key(field, value)]
        spellings[value] = spellings.get(value, 0) + total
    facets = []
    for key, spellings in groups.items():
        ordered = sorted(spellings, key=lambda s: (-spellings[s], s))
        shown = country_name(key[4:]) if key.startswith("iso:") else ordered[0]
        facets.append(FacetValue(value=shown, count=sum(spellings.values()), spellings=ordered))
    facets.sort(key=lambda facet: (-facet.count, fold(facet.value), facet.value))
    return facets


def _matches_prefix(field: str, facet: FacetValue, prefix: str) -> bool:
    """``prefix`` (folded) starts the value, a spelling, or a word of one."""
    terms = [facet.value, *facet.spellings]
    if field == "country" and (code := country_code(facet.value)) is not None:
        terms += _country_terms(code)
    for term in terms:
        folded = fold(term)
        if folded.startswith(prefix) or any(
            word.startswith(prefix) for word in folded.replace("-", " ").split()
        ):
            return True
    return False


def values(
    session: Session, field: str, *, prefix: str | None = None, limit: int = DEFAULT_LIMIT
) -> FacetValues:
    """The values ``field`` takes among active leads, most common first,
    those matching ``prefix`` (case and accents aside) when one is given."""
    counts = COUNTS.get(session, check_field(field), wait=True) or []
    facets = _grouped(field, counts)
    wanted = fold(prefix or "")
    if wanted:
        facets = [facet for facet in facets if _matches_prefix(field, facet, wanted)]
    return FacetValues(field=field, prefix=prefix or "", values=facets[:limit])


# --- resolving what a user typed --------------------------------------------------------


def _case_variants(value: str) -> list[str]:
    return [value, value.lower(), value.upper(), value.title(), value.capitalize()]


def _stored(session: Session, field: str) -> tuple[list[str], bool]:
    """Values ``field`` holds and whether the list is complete."""
    if field != "tag":
        fresh = repository.distinct_values(session, field, FRESH_VALUES_CAP)
        if len(fresh) < FRESH_VALUES_CAP:
            return fresh, True
    counts = COUNTS.get(session, field, wait=False)
    return [value for value, _ in counts or []], False


def resolve(session: Session, field: str, value: str) -> list[str]:
    """The stored spellings a filter value stands for: those equal to it
    ignoring case (a country: naming the same country); the value itself
    when none is stored (the filter finds nothing, as it should). Where the
    stored values may be incomplete (tags, counted a while ago), the value
    and its usual case variants too, so a tag just written is not missed."""
    stored, complete = _stored(session, check_field(field))
    key = match_key(field, value)
    found = [spelling for spelling in stored if match_key(field, spelling) == key]
    if not complete:
        found = _case_variants(value) + found
    return list(dict.fromkeys(found)) or [value]


# The filters resolve_filters widens: case-insensitive, countries by name or code.
RESOLVED = ("source", "country", "lead_status", "industry")


def resolve_filters(session: Session, filters: Mapping[str, Any]) -> dict[str, Any]:
    """``filters`` as the repository takes them, each text value of source,
    country, lead_status and industry replaced by its stored spellings: one
    stays a value (an equality, as before), several become a list (IN)."""
    resolved = dict(filters)
    for field in RESOLVED:
        value = resolved.get(field)
        if isinstance(value, str) and value.strip():
            spellings = resolve(session, field, value)
            resolved[field] = spellings[0] if len(spellings) == 1 else spellings
    return resolved


def resolve_tag(session: Session, tag: str | None) -> list[str] | None:
    """The stored spellings of a tag filter (repository.searched's ``tag``)."""
    if tag is None or not tag.strip():
        return None if tag is None else [tag]
    return resolve(session, "tag", tag)
