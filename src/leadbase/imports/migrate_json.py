"""``leadbase migrate-json DIR``: the lead JSON files the agents kept (seed
004's Migration Manager), into the database through the one write path.

The files come in every shape the agents wrote over time: an array of
leads, an object holding one (``{"leads": [...]}``), one lead object, an
object of leads keyed by their id, NDJSON; and with every spelling of the
keys (``full_name``/``name``/``fullName``, ``linkedin``/``linkedinUrl``,
``company`` as text or ``{name, domain}``, ``location`` "City, Country",
the old system's ``status`` words, dates as ISO text, "15/01/2024" or epoch
numbers). Each record becomes a lead dict here; ``imports.mapping`` reads
the plain columns, this module the ones whose meaning it knows better.

A file that holds no leads (a config object, a package.json) is reported
and skipped; a file that is not JSON at all is reported as failed. Before
anything is written the database is backed up (``<data dir>/backups/``)
and the files found are copied to ``<data dir>/migration-backup/<stamp>/``
keeping their paths. Each file is then written in ONE unit of work with its
``migration_log`` row: a file is migrated entirely or not at all. Files are
read whole (the agents' files hold hundreds or thousands of leads; a file
of a million is for ``leadbase import``, which streams).

Safe to re-run: every lead carries ``provider_name = "json_migration"`` and
an ``external_id`` (the old id, or a digest of the record when it has none),
an exact duplicate key, so a second run finds every lead it wrote and
changes none ("unchanged"), even a lead known by its name alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from leadbase import backup, context
from leadbase.config import get_settings
from leadbase.db import Database, UnitOfWork
from leadbase.errors import LeadbaseError, ValidationError
from leadbase.imports import migrate_repository as repository
from leadbase.imports.mapping import Mapping, apply_mapping, guess_mapping, words
from leadbase.imports.mapping import key as _uncached_key
from leadbase.leads import service as leads_service
from leadbase.leads.schemas import IDENTITY_FIELDS
from leadbase.models import utcnow

SOURCE_TYPE = "json_migration"
PROVIDER = "json_migration"
PATTERNS = ("*.json", "*.ndjson", "*.jsonl")
BATCH = 1000
# Folders no agent keeps leads in (and that hold thousands of JSON files).
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
# Keys an object may hold its array of leads under, best first.
LIST_KEYS = ("leads", "data", "items", "records", "results", "contacts", "prospects", "people")
# An old id this long (or a UUID) is unique on its own; a shorter one
# ("17", "lead_3") is scoped by its file, so two agents' counters never meet.
GLOBAL_ID_LENGTH = 16
# How many failures and warnings a migration_log row keeps (the report has all).
LOGGED_DETAILS = 200
Progress = Callable[[str, int, int], None]  # file, files done, files in all
FileStatus = Literal["completed", "unchanged", "partial", "failed", "skipped", "dry-run"]


# The same few dozen keys, in every record of every file: read once.
_key = lru_cache(maxsize=8192)(_uncached_key)


class MigrationError(LeadbaseError):
    """A folder that cannot be migrated at all (said before anything is written)."""

    status_code = 422
    code = "migration_error"


# --- the old system's values ---------------------------------------------------------

# Seed 004's status words (and what agents wrote besides) -> lead_status.
OLD_STATUSES = {
    "new": "new pending scraped raw enriched verified ready ready_for_outreach queued "
    "to_contact needs_enrichment open lead imported found",
    "contacted": "contacted emailed sent messaged outreach_sent in_progress working attempted "
    "follow_up followed_up replied responded engaged in_sequence",
    "qualified": "qualified interested meeting_booked meeting opportunity hot demo demo_booked "
    "sql mql",
    "converted": "converted won closed_won customer client signed",
    "lost": "lost closed_lost not_interested unqualified disqualified rejected bounced "
    "unsubscribed dead do_not_contact invalid",
}
STATUSES = {word: status for status, spelled in OLD_STATUSES.items() for word in spelled.split()}
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t", "verified", "enriched", "done"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f", "none", "null", "pending"})
# Keys read here rather than by imports.mapping (compared by mapping.key()).
ID_KEYS = ("id", "uuid", "leadid", "recordid")
NAME_KEYS = ("fullname", "name")
DATE_KEYS = frozenset(
    {"createdat", "updatedat", "scrapedat", "enrichedat", "lastsyncattempt", "dateadded", "addedat"}
)
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",  # day first, as the agents wrote ("15/01/2024")...
    "%m/%d/%Y",  # ...unless only month first parses ("01/31/2024")
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
)
EPOCH_SECONDS = (1e8, 1e11)  # 1973 .. 5138; above: milliseconds
# Fields whose bad value is kept in raw_data (as "invalid_<field>") rather
# than losing the lead: only an unusable identity fails it.
SALVAGED = frozenset(
    {
        "phone",
        "additional_phones",
        "additional_emails",
        "company_domain",
        "linkedin_url",
        "email",
        "title",
        "company_name",
        "street",
        "city",
        "state",
        "postal_code",
        "country",
        "industry",
        "tags",
        "source",
        "lead_score",
    }
)


def parse_date(value: Any) -> datetime | None:
    """A date the agents wrote, as an aware UTC datetime; None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return _epoch(float(text))
    found: datetime | None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        found = _strptime(text)
    if found is None:
        return None
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _epoch(number: float) -> datetime | None:
    if number >= EPOCH_SECONDS[1]:
        number /= 1000
    if not EPOCH_SECONDS[0] <= number < EPOCH_SECONDS[1]:
        return None
    return datetime.fromtimestamp(number, UTC)


def _strptime(text: str) -> datetime | None:
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS or not word:
            return False
    return None


def lead_status(value: Any) -> str | None:
    """The old system's status as our lead_status; None when unknown."""
    if not isinstance(value, str):
        return None
    return STATUSES.get("_".join(words(value)))


def split_location(text: str) -> dict[str, str]:
    """ "City, Country" -> city, country; "City, State, Country" -> all three;
    one part alone is taken for the city (LinkedIn's "Greater London")."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        return {}
    if len(parts) == 1:
        return {"city": parts[0]}
    if len(parts) == 2:
        return {"city": parts[0], "country": parts[1]}
    return {"city": parts[0], "state": parts[1], "country": parts[-1]}


# --- finding and reading the files ----------------------------------------------------


@dataclass
class SourceLead:
    """One record of a file: where it is, its old id, and what it says."""

    index: int  # array position, NDJSON line number, or key order
    old_id: str | None
    record: dict[str, Any] | None
    error: str | None = None  # a record that is not an object, a broken line


@dataclass
class LeadFile:
    path: Path
    relative: str
    kind: Literal["leads", "not_leads", "broken"]
    shape: str
    leads: list[SourceLead] = field(default_factory=list)
    reason: str | None = None
    # What an object holding the array says about all of it ({"query": ...,
    # "scrapedAt": ..., "leads": [...]}): the scrape's parameters and time.
    scrape_params: dict[str, Any] | None = None
    scraped_at: datetime | None = None


def find_files(root: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """JSON and NDJSON files under ``root``, in path order; hidden folders,
    dependency folders and ``exclude`` (the data dir: its backups) left out."""
    excluded = [path.resolve() for path in exclude]
    found: set[Path] = set()
    for pattern in PATTERNS:
        for path in root.rglob(pattern):
            relative = path.relative_to(root).parts
            if any(p.startswith(".") or p in SKIPPED_DIRS for p in relative[:-1]):
                continue
            resolved = path.resolve()
            if path.is_file() and not any(resolved.is_relative_to(e) for e in excluded):
                found.add(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_lead_file(path: Path, root: Path) -> LeadFile:
    relative = path.relative_to(root).as_posix()
    try:
        text = _text(path.read_bytes())
    except OSError as exc:
        return LeadFile(path, relative, "broken", "unreadable", reason=f"cannot be read: {exc}")
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        return _ndjson_file(path, relative, text)
    try:
        value = json.loads(text)
    except ValueError as exc:
        if _ndjson_lines(text):  # .json files are often NDJSON
            return _ndjson_file(path, relative, text)
        return LeadFile(path, relative, "broken", "invalid JSON", reason=f"not valid JSON: {exc}")
    return _shaped(path, relative, value)


def _text(data: bytes) -> str:
    """UTF-8 (with or without a BOM) as JSON should be; UTF-16 with its BOM
    (what Windows PowerShell 5 writes); else Windows' code page, which an
    agent on Windows may have written (it never fails)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _ndjson_lines(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()][:2]
    try:
        return len(lines) > 1 and all(isinstance(json.loads(line), dict) for line in lines)
    except ValueError:
        return False


def _ndjson_file(path: Path, relative: str, text: str) -> LeadFile:
    leads: list[SourceLead] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            leads.append(SourceLead(number, None, None, f"line {number}: not valid JSON: {exc}"))
            continue
        leads.append(_source_lead(number, value, None))
    if not any(lead.record and looks_like_lead(lead.record) for lead in leads):
        return LeadFile(path, relative, "not_leads", "ndjson", reason="no line holds a lead")
    return LeadFile(path, relative, "leads", "ndjson", leads)


def _source_lead(index: int, value: Any, key_id: str | None) -> SourceLead:
    if not isinstance(value, dict):
        return SourceLead(index, key_id, None, f"a JSON {type(value).__name__}, not an object")
    return SourceLead(index, _old_id(value) or key_id, value)


def _shaped(path: Path, relative: str, value: Any) -> LeadFile:
    """The file's leads, whatever shape holds them."""
    if isinstance(value, list):
        if _mostly_leads(value):
            leads = [_source_lead(i, item, None) for i, item in enumerate(value)]
            return LeadFile(path, relative, "leads", "array", leads)
        reason = "an array of non-leads" if value else "an empty array"
        return LeadFile(path, relative, "not_leads", "array", reason=reason)
    if isinstance(value, dict):
        return _shaped_object(path, relative, value)
    reason = f"a JSON {type(value).__name__}"
    return LeadFile(path, relative, "not_leads", "scalar", reason=reason)


def _shaped_object(path: Path, relative: str, value: dict[str, Any]) -> LeadFile:
    """An object: it holds an array of leads under a name such as "leads",
    or is one lead, or holds one array of leads under another name, or is
    leads keyed by their id. Asked in this order: a lead may hold a list
    (its past jobs) and an agent's wrapper may hold a name of its own."""
    lists = [(k, v) for k, v in value.items() if isinstance(v, list) and _mostly_leads(v)]
    named = [(k, v) for k, v in lists if _key(k) in LIST_KEYS]
    if named:
        return _wrapper(
            path, relative, value, *min(named, key=lambda n: LIST_KEYS.index(_key(n[0])))
        )
    if looks_like_lead(value, strict=True):
        return LeadFile(path, relative, "leads", "one lead", [_source_lead(0, value, None)])
    if len(lists) == 1:
        return _wrapper(path, relative, value, *lists[0])
    if value and _mostly_leads(list(value.values())):
        leads = [_source_lead(i, item, str(k)) for i, (k, item) in enumerate(value.items())]
        return LeadFile(path, relative, "leads", "keyed by id", leads)
    reason = f"an object that holds no leads (keys: {', '.join(list(value)[:6]) or 'none'})"
    return LeadFile(path, relative, "not_leads", "object", reason=reason)


def _wrapper(
    path: Path, relative: str, value: dict[str, Any], name: str, items: list[Any]
) -> LeadFile:
    leads = [_source_lead(i, item, None) for i, item in enumerate(items)]
    found = LeadFile(path, relative, "leads", f"object with {name!r}", leads)
    _wrapper_facts(found, {k: v for k, v in value.items() if k != name})
    return found


def _wrapper_facts(lead_file: LeadFile, facts: dict[str, Any]) -> None:
    """The scalars beside the array: its scrape time, the rest as the
    scrape's parameters (a count or a query, not the leads themselves)."""
    params: dict[str, Any] = {}
    for name, value in facts.items():
        if _key(name) in DATE_KEYS or _key(name) == "timestamp":
            lead_file.scraped_at = lead_file.scraped_at or parse_date(value)
        elif isinstance(value, str | int | float | bool) or value is None:
            params[name] = value
    lead_file.scrape_params = params or None


def _mostly_leads(items: Sequence[Any]) -> bool:
    leads = sum(1 for item in items if isinstance(item, dict) and looks_like_lead(item))
    return leads > 0 and leads * 2 >= len(items)


@lru_cache(maxsize=512)
def _mapping(keys: tuple[str, ...]) -> Mapping:
    return guess_mapping(keys)


def looks_like_lead(record: dict[str, Any], *, strict: bool = False) -> bool:
    """Whether a record names a person. ``strict`` (a file holding one
    object): a name alone is not enough ({"name": "scraper", ...} is a
    config), it needs an email or LinkedIn URL, or a name and two more fields."""
    fields = {f for f in _mapping(tuple(map(str, record))).columns.values() if f}
    if any(_key(str(k)) == "company" and isinstance(v, dict) for k, v in record.items()):
        fields.add("company_name")
    identities = fields & set(IDENTITY_FIELDS)
    if not strict:
        return bool(identities)
    if identities & {"email", "linkedin_url"}:
        return True
    return bool(identities) and len(fields) >= 3


def _old_id(record: dict[str, Any]) -> str | None:
    by_key = {_key(str(k)): v for k, v in record.items()}
    for name in ID_KEYS:
        value = by_key.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


# --- one record as a lead ---------------------------------------------------------------


@dataclass
class Mapped:
    lead: dict[str, Any]
    scraped_at: datetime | None
    warnings: list[str]


@dataclass
class _Parts:
    """What this module read from a record's keys, before imports.mapping
    reads the rest."""

    special: dict[str, Any] = field(default_factory=dict)  # lead fields
    raw: dict[str, Any] = field(default_factory=dict)  # kept in raw_data as well
    warnings: list[str] = field(default_factory=list)
    scraped_at: datetime | None = None


FLAG_KEYS = frozenset({"verified", "enriched", "needsenrichment"})


def to_lead(source: SourceLead, relative: str) -> Mapped:
    """A record as the lead dict the write path takes. Raises ValueError
    (the reason) for a record that is no lead."""
    if source.record is None:
        raise ValueError(source.error or "not an object")
    parts = _Parts()
    rest = {
        name: value
        for name, value in source.record.items()
        if not _read_known(parts, str(name), value)
    }
    lead = apply_mapping(rest, _mapping(tuple(map(str, rest))))
    for name, value in parts.special.items():
        lead.setdefault(name, value)  # a key of its own wins over a nested one
    raw = {**parts.raw, **lead.get("raw_data", {})}
    if source.old_id is not None and not _old_id(source.record):
        raw["id"] = source.old_id  # keyed by id: the key is the id
    lead["raw_data"] = raw or None
    if lead.get("source") is None:
        lead["source"] = SOURCE_TYPE
    lead["provider_name"] = PROVIDER
    lead["external_id"] = external_id(source, relative)
    return Mapped(lead, parts.scraped_at, parts.warnings)


def _read_known(parts: _Parts, name: str, value: Any) -> bool:
    """Read a key whose meaning this module knows; False leaves it to
    imports.mapping (plain columns, and raw_data for the rest)."""
    normal = _key(name)
    if normal == "company" and isinstance(value, dict):
        _company(value, parts)
    elif normal == "location" and isinstance(value, dict):
        _location_object(value, parts)
    elif normal == "location" and isinstance(value, str):
        parts.special.update(split_location(value))
        parts.raw[name] = value
    elif normal in ("status", "leadstatus"):
        _status(value, parts)
        parts.raw[name] = value
    elif normal in FLAG_KEYS:
        _flag(normal, value, parts)
        parts.raw[name] = value
    elif normal in DATE_KEYS:
        _date(name, normal, value, parts)
    elif normal in ("email", "emails") and isinstance(value, list):
        _emails(value, parts)
    else:
        return False
    return True


def _company(value: dict[str, Any], parts: _Parts) -> None:
    rest: dict[str, Any] = {}
    for name, item in value.items():
        normal = _key(str(name))
        if normal in ("name", "companyname") and isinstance(item, str):
            parts.special["company_name"] = item
        elif normal in ("domain", "website", "url", "site") and isinstance(item, str):
            parts.special.setdefault("company_domain", item)
        elif normal == "industry" and isinstance(item, str):
            parts.special["industry"] = item
        elif item not in (None, ""):
            rest[str(name)] = item
    if rest:
        parts.raw["company"] = rest


LOCATION_KEYS = {"city": "city", "state": "state", "region": "state", "country": "country"}


def _location_object(value: dict[str, Any], parts: _Parts) -> None:
    rest: dict[str, Any] = {}
    for name, item in value.items():
        normal = _key(str(name))
        if normal in LOCATION_KEYS and isinstance(item, str):
            parts.special[LOCATION_KEYS[normal]] = item
        elif normal in ("zip", "postcode", "postalcode") and item not in (None, ""):
            parts.special["postal_code"] = str(item)
        elif item not in (None, ""):
            rest[str(name)] = item
    if rest:
        parts.raw["location"] = rest


def _status(value: Any, parts: _Parts) -> None:
    if value in (None, ""):
        return
    found = lead_status(value)
    if found is None:
        parts.warnings.append(f"status {value!r} is not one I know: the lead is 'new'")
        return
    parts.special["lead_status"] = found
    if "_".join(words(str(value))) == "enriched":
        parts.special.setdefault("enrichment_status", "completed")


def _flag(normal: str, value: Any, parts: _Parts) -> None:
    flag = to_bool(value)
    if flag is None:
        parts.warnings.append(f"{normal}: {value!r} is neither yes nor no")
    elif normal == "verified":
        parts.special["verified"] = flag
    elif normal == "enriched" and flag:
        parts.special["enrichment_status"] = "completed"


def _date(name: str, normal: str, value: Any, parts: _Parts) -> None:
    """Dates stay in raw_data, as ISO text when they parse; scraped_at also
    goes on the lead's source row."""
    when = parse_date(value)
    if when is None and value not in (None, ""):
        parts.warnings.append(f"{name}: {value!r} is not a date I know")
    parts.raw[name] = when.isoformat() if when else value
    if normal == "scrapedat" and when is not None:
        parts.scraped_at = when


def _emails(value: list[Any], parts: _Parts) -> None:
    emails = [e for e in value if isinstance(e, str) and e.strip()]
    if emails:
        parts.special["email"] = emails[0]
    if emails[1:]:
        parts.special["additional_emails"] = emails[1:]


def external_id(source: SourceLead, relative: str) -> str:
    """The lead's key in the old system: its id (scoped by its file when
    short), or a digest of the record when it has no id."""
    old = source.old_id
    if old is None:
        canonical = json.dumps(source.record, sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    scoped = old if len(old) >= GLOBAL_ID_LENGTH or _is_uuid(old) else f"{relative}#{old}"
    if len(scoped) > 255:
        return "sha256:" + hashlib.sha256(scoped.encode()).hexdigest()[:32]
    return scoped


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def salvage(mapped: Mapped, refusal: LeadbaseError) -> bool:
    """Move the values the write path refused into raw_data (as
    "invalid_<field>"), so the lead still lands: a bad phone is no reason to
    lose a person. False when nothing can be moved, or moving it would leave
    nothing that names a person: then the refusal stands."""
    if not isinstance(refusal, ValidationError):
        return False
    lead = mapped.lead
    bad = {f.split(".")[0] for f in refusal.fields} & SALVAGED & set(lead)
    if not bad or not any(lead.get(f) and f not in bad for f in IDENTITY_FIELDS):
        return False
    raw = dict(lead.get("raw_data") or {})
    for name in sorted(bad):
        raw[f"invalid_{name}"] = lead.pop(name)
        mapped.warnings.append(f"{name} kept in raw_data: " + _message_for(refusal, name))
    lead["raw_data"] = raw
    return True


def cleaned(mapped: Mapped) -> dict[str, Any]:
    """The lead as the write path would store it (salvaged as a write
    would); raises the refusal that stands."""
    while True:
        try:
            return leads_service.clean_input(mapped.lead)
        except ValidationError as exc:
            if not salvage(mapped, exc):
                raise


def _message_for(exc: ValidationError, name: str) -> str:
    for detail in exc.details:
        if str(detail["field"]).split(".")[0] == name:
            return str(detail["message"])
    return exc.message


# --- reports ------------------------------------------------------------------------------


@dataclass
class FileResult:
    file: str
    status: FileStatus
    shape: str
    leads: int = 0
    created: int = 0
    merged: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None

    @property
    def migrated(self) -> int:
        """Source leads now in the database: new, merged in, or already there."""
        return self.created + self.merged + self.unchanged

    def fail(self, source: SourceLead, reason: str) -> None:
        self.failed += 1
        self.failures.append({"index": source.index, "id": source.old_id, "reason": reason})

    def count(
        self, source: SourceLead, mapped: Mapped, outcome: leads_service.WriteResult | LeadbaseError
    ) -> None:
        """A row's last outcome, and what was set aside on the way."""
        for warning in mapped.warnings:
            self.warnings.append({"index": source.index, "id": source.old_id, "warning": warning})
        if isinstance(outcome, LeadbaseError):
            self.fail(source, outcome.message)
        elif outcome.outcome == "created":
            self.created += 1
        elif outcome.outcome == "merged":
            self.merged += 1
        else:
            self.unchanged += 1

    def settle(self, dry_run: bool) -> None:
        if dry_run:
            self.status = "dry-run"
        elif self.failed and not self.migrated:
            self.status = "failed"
        elif self.failed:
            self.status = "partial"
        else:
            self.status = "completed" if self.created + self.merged else "unchanged"


@dataclass
class MigrationReport:
    directory: str
    stamp: str
    dry_run: bool
    started_at: str
    finished_at: str | None = None
    database_backup: str | None = None
    files_backup: str | None = None
    report_path: str | None = None
    files: list[FileResult] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        names = ("leads", "created", "merged", "unchanged", "failed")
        found = {name: sum(getattr(f, name) for f in self.files) for name in names}
        found["files"] = len(self.files)
        found["skipped_files"] = sum(1 for f in self.files if f.status == "skipped")
        found["failed_files"] = sum(1 for f in self.files if f.status == "failed")
        return found

    @property
    def ok(self) -> bool:
        """Every lead of every lead file is in the database."""
        return not any(f.failed or (f.status == "failed") for f in self.files)

    def to_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["totals"] = self.totals()
        for entry, result in zip(found["files"], self.files, strict=True):
            entry["migrated"] = result.migrated
        return found


# --- migrating --------------------------------------------------------------------------


def new_stamp() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%SZ")


def migrate(
    database: Database,
    root: Path,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    stamp: str | None = None,
) -> MigrationReport:
    """Back up, then migrate every lead file under ``root``; a dry run
    writes all of it in one transaction rolled back at the end (exact
    counts, nothing stays, no backup)."""
    root = _checked_root(root)
    data_dir = get_settings().data_dir
    files = find_files(root, exclude=[data_dir])
    stamp = stamp or _free_stamp(data_dir)
    report = MigrationReport(str(root), stamp, dry_run, utcnow().isoformat())
    if not files:
        return report  # nothing to back up, nothing to log
    if progress is not None:
        progress("backing up the database and the files", 0, len(files))
    if not dry_run:
        report.database_backup = str(backup_database(database, data_dir, stamp))
        report.files_backup = str(copy_files(files, root, data_dir, stamp))
    with context.acting_as(request_id=f"migrate-json:{stamp}"):
        if dry_run:
            _dry_run(database, root, files, report, progress)
        else:
            for done, path in enumerate(files, start=1):
                report.files.append(_migrate_file(database, read_lead_file(path, root), stamp))
                if progress is not None:
                    progress(report.files[-1].file, done, len(files))
    report.finished_at = utcnow().isoformat()
    if not dry_run:
        report.report_path = str(write_report(report, data_dir))
    return report


def _checked_root(root: Path) -> Path:
    if not root.is_dir():
        raise MigrationError(f"{root}: no such folder")
    return root.resolve()


def _free_stamp(data_dir: Path) -> str:
    stamp = new_stamp()
    base, n = stamp, 1
    while (data_dir / "migration-backup" / stamp).exists():
        n += 1
        stamp = f"{base}-{n}"
    return stamp


def backup_database(database: Database, data_dir: Path, stamp: str) -> Path:
    """A snapshot of the database before the migration writes (SQLite: a
    database file; servers: leadbase's portable dump)."""
    folder = data_dir / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".db" if database.engine.dialect.name == "sqlite" else ".jsonl.gz"
    target = folder / f"before-migrate-json-{stamp}{suffix}"
    backup.backup(database.engine, target)
    return target


def copy_files(files: Sequence[Path], root: Path, data_dir: Path, stamp: str) -> Path:
    """The original files as they were, at their paths under the folder."""
    target = data_dir / "migration-backup" / stamp
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        copy = target / path.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    return target


def write_report(report: MigrationReport, data_dir: Path) -> Path:
    """The report as JSON beside the files' backup folder."""
    target = data_dir / "migration-backup" / f"{report.stamp}-report.json"
    report.report_path = str(target)
    target.write_text(json.dumps(report.to_json(), indent=2, default=str), encoding="utf-8")
    return target


def _dry_run(
    database: Database,
    root: Path,
    files: Sequence[Path],
    report: MigrationReport,
    progress: Progress | None,
) -> None:
    with database.unit_of_work() as uow:
        for done, path in enumerate(files, start=1):
            lead_file = read_lead_file(path, root)
            result = _file_result(lead_file)
            if lead_file.kind == "leads":
                _write_leads(uow, lead_file, result, "dry-run")
                result.settle(dry_run=True)
            report.files.append(result)
            if progress is not None:
                progress(result.file, done, len(files))
        # Undo it all here: the unit of work then commits an empty transaction.
        uow.session.rollback()


def _file_result(lead_file: LeadFile) -> FileResult:
    if lead_file.kind == "not_leads":
        return FileResult(lead_file.relative, "skipped", lead_file.shape, reason=lead_file.reason)
    if lead_file.kind == "broken":
        return FileResult(lead_file.relative, "failed", lead_file.shape, reason=lead_file.reason)
    return FileResult(lead_file.relative, "completed", lead_file.shape, leads=len(lead_file.leads))


def _migrate_file(database: Database, lead_file: LeadFile, stamp: str) -> FileResult:
    """One file's leads and its migration_log row, in one unit of work."""
    result = _file_result(lead_file)
    try:
        with database.unit_of_work() as uow:
            if lead_file.kind == "leads":
                _write_leads(uow, lead_file, result, stamp)
                result.settle(dry_run=False)
            _log(uow, result, stamp)
    except Exception as exc:  # a database error: this file stays unwritten, say why
        failed = _file_result(lead_file)
        failed.status, failed.reason = "failed", f"not migrated: {_reason(exc)}"
        failed.failed = failed.leads
        with database.unit_of_work() as uow:
            _log(uow, failed, stamp)
        return failed
    return result


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, LeadbaseError) else f"{type(exc).__name__}: {exc}"


def _write_leads(uow: UnitOfWork, lead_file: LeadFile, result: FileResult, stamp: str) -> None:
    batch: list[tuple[SourceLead, Mapped]] = []
    for source in lead_file.leads:
        try:
            batch.append((source, to_lead(source, lead_file.relative)))
        except ValueError as exc:
            result.fail(source, str(exc))
        if len(batch) >= BATCH:
            _write_batch(uow, lead_file, batch, result, stamp)
            batch = []
    if batch:
        _write_batch(uow, lead_file, batch, result, stamp)
    result.failures.sort(key=lambda failure: failure["index"])
    result.warnings.sort(key=lambda warning: warning["index"])


def _write_batch(
    uow: UnitOfWork,
    lead_file: LeadFile,
    batch: Sequence[tuple[SourceLead, Mapped]],
    result: FileResult,
    stamp: str,
) -> None:
    """Write a batch; rows refused for a value that can be set aside go
    again without it (each pass sets a field aside: it ends)."""
    pending = list(batch)
    while pending:
        outcomes = leads_service.import_rows(
            uow,
            [mapped.lead for _, mapped in pending],
            on_duplicate="merge",
            sources=[_source_facts(lead_file, source, mapped, stamp) for source, mapped in pending],
        )
        again = []
        for (source, mapped), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, LeadbaseError) and salvage(mapped, outcome):
                again.append((source, mapped))
                continue
            result.count(source, mapped, outcome)
        pending = again


def _source_facts(
    lead_file: LeadFile, source: SourceLead, mapped: Mapped, stamp: str
) -> dict[str, Any]:
    return {
        "source_type": SOURCE_TYPE,
        "source_name": lead_file.relative[:255],
        "import_batch_id": f"migrate-json:{stamp}"[:64],
        "scraped_at": mapped.scraped_at or lead_file.scraped_at,
        "scrape_params": lead_file.scrape_params,
        "metadata": {"file": lead_file.relative, "index": source.index},
    }


def _log(uow: UnitOfWork, result: FileResult, stamp: str) -> None:
    details = {
        "run": stamp,
        "shape": result.shape,
        "reason": result.reason,
        "counts": {
            "leads": result.leads,
            "created": result.created,
            "merged": result.merged,
            "unchanged": result.unchanged,
            "failed": result.failed,
        },
        "failures": result.failures[:LOGGED_DETAILS],
        "warnings": result.warnings[:LOGGED_DETAILS],
    }
    repository.add_log(
        uow.session,
        source_file=result.file[:1000],
        leads_migrated=result.migrated,
        leads_failed=result.failed,
        status=result.status,
        error_details=json.dumps(details, default=str),
    )


# --- validating ---------------------------------------------------------------------------


@dataclass
class Missing:
    file: str
    index: int | None  # None: the whole file
    old_id: str | None
    name: str | None
    reason: str


@dataclass
class ValidationReport:
    directory: str
    leads: int = 0
    found: int = 0
    deleted: int = 0  # found, but soft-deleted since
    missing: list[Missing] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing


def validate(database: Database, root: Path) -> ValidationReport:
    """Whether every source lead under ``root`` can be found in the
    database: by its old id (the provider record the migration wrote), email,
    LinkedIn URL, or name and company. Writes nothing."""
    root = _checked_root(root)
    report = ValidationReport(str(root))
    with database.read_session() as session:
        for path in find_files(root, exclude=[get_settings().data_dir]):
            lead_file = read_lead_file(path, root)
            if lead_file.kind == "not_leads":
                report.skipped_files.append(lead_file.relative)
            elif lead_file.kind == "broken":
                report.missing.append(
                    Missing(lead_file.relative, None, None, None, lead_file.reason or "broken")
                )
            else:
                _validate_file(session, lead_file, report)
    return report


@dataclass
class _Keys:
    source: SourceLead
    clean: dict[str, Any]


def _validate_file(session: Any, lead_file: LeadFile, report: ValidationReport) -> None:
    keyed: list[_Keys] = []
    for source in lead_file.leads:
        report.leads += 1
        try:
            clean = cleaned(to_lead(source, lead_file.relative))
            if not any(clean.get(name) for name in IDENTITY_FIELDS):
                raise ValueError("names no person (no name, email, phone or LinkedIn URL)")
        except (ValueError, LeadbaseError) as exc:
            reason = exc.message if isinstance(exc, LeadbaseError) else str(exc)
            report.missing.append(
                Missing(lead_file.relative, source.index, source.old_id, None, reason)
            )
            continue
        keyed.append(_Keys(source, clean))
    for item, state in zip(keyed, _lookup(session, keyed), strict=True):
        if state is None:
            report.missing.append(
                Missing(
                    lead_file.relative,
                    item.source.index,
                    item.source.old_id,
                    item.clean.get("full_name") or item.clean.get("email"),
                    "not in the database (no lead with its id, email, LinkedIn URL, "
                    "or name and company)",
                )
            )
        else:
            report.found += 1
            report.deleted += state == "deleted"


def _lookup(session: Any, keyed: Sequence[_Keys]) -> Iterator[str | None]:
    """Per lead: "active", "deleted" or None (not found), best state first."""
    cleans = [k.clean for k in keyed]
    by_id = repository.states_by_external_id(
        session, PROVIDER, [c["external_id"] for c in cleans if c.get("external_id")]
    )
    by_email = repository.states_by_email(session, [c["email"] for c in cleans if c.get("email")])
    by_url = repository.states_by_linkedin_url(
        session, [c["linkedin_url"] for c in cleans if c.get("linkedin_url")]
    )
    by_name = repository.states_by_name_and_company(
        session,
        [_name_key(c) for c in cleans if c.get("full_name")],
    )
    for clean in cleans:
        states = [
            by_id.get(clean.get("external_id") or ""),
            by_email.get(clean.get("email") or ""),
            by_url.get(clean.get("linkedin_url") or ""),
            by_name.get(_name_key(clean)) if clean.get("full_name") else None,
        ]
        found = [s for s in states if s is not None]
        yield ("active" if "active" in found else "deleted") if found else None


def _name_key(clean: dict[str, Any]) -> tuple[str, str]:
    return (clean.get("full_name") or "", repository.company_key(clean.get("company_name")))
