"""Which column of a file goes to which lead field.

``guess_mapping`` reads headers the way exports from CRMs and lead tools
spell them (HubSpot, Salesforce, Apollo, LinkedIn Sales Navigator tools,
Outlook and Google contacts, our own export): case, spaces, punctuation,
accents and camelCase do not count ("E-mail", "email_address",
"emailAddress"), and a qualifier such as "Work", "Primary", "Contact",
"Person" or "1" may stand in front ("Work Email", "Person Linkedin Url",
"E-mail 1 - Value"). Each header gets its best field; when two headers want
the same field, the better spelling wins (the field's own name as written in
the API, "full_name"; then the synonym listed first; then a qualified one;
then the header further left) and the other stays unmapped. A repeated
header ("Email (2)") always loses to the first.

Fields whose values must have a given form (status, score, flags, ids of
other rows, JSON) are guessed only from their exact field name
("lead_status"): "Lead Status" in a HubSpot export holds "OPEN", which
would reject every row. Unmapped columns are kept in the lead's raw_data.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from leadbase.leads.schemas import LEAD_FIELDS, LIST_FIELDS

FLAG_FIELDS = frozenset({"email_verified", "phone_verified", "is_manual", "verified"})
JSON_FIELDS = frozenset({"raw_data", "enrichment_data", "score_explanation"})
ENUM_FIELDS = frozenset({"lead_status", "enrichment_status"})
# Fields whose values are passed on as they are (pydantic parses "yes", "85").
TYPED_FIELDS = FLAG_FIELDS | JSON_FIELDS | {"lead_score"}
TEXT_FIELDS = frozenset(LEAD_FIELDS) - TYPED_FIELDS - set(LIST_FIELDS)
PLAIN_TEXT_FIELDS = TEXT_FIELDS - ENUM_FIELDS
# Guessed only from the exact field name (see the module's doc).
STRICT_FIELDS = (
    FLAG_FIELDS | JSON_FIELDS | ENUM_FIELDS | {"lead_score", "company_id", "enrichment_task_id"}
)

# Spellings per field, best first. Written readable; compared by key().
SYNONYMS: dict[str, tuple[str, ...]] = {
    "full_name": (
        "full name",
        "name",
        "contact name",
        "lead name",
        "person name",
        "display name",
        "contact full name",
        "nom complet",
    ),
    "first_name": (
        "first name",
        "given name",
        "first",
        "fname",
        "forename",
        "prenom",
        "vorname",
        "nombre",
    ),
    "last_name": (
        "last name",
        "surname",
        "family name",
        "last",
        "lname",
        "nom de famille",
        "nachname",
        "apellido",
        "apellidos",
    ),
    "title": (
        "job title",
        "title",
        "position",
        "job position",
        "role",
        "job role",
        "designation",
        "occupation",
        "organization title",
        "headline",
        "job",
        "poste",
        "fonction",
    ),
    "email": (
        "email",
        "email address",
        "mail",
        "emails",
        "courriel",
        "adresse email",
    ),
    "additional_emails": (
        "additional emails",
        "other emails",
        "other email",
        "secondary email",
        "email 2",
        "email 2 address",
        "email 2 value",
        "alternate email",
        "alternative email",
    ),
    "phone": (
        "phone",
        "phone number",
        "first phone",
        "telephone",
        "telephone number",
        "tel",
        "mobile",
        "mobile phone",
        "mobile phone number",
        "mobile number",
        "cell",
        "cell phone",
        "direct phone",
        "direct dial",
        "work direct phone",
        "phone direct",
        "portable",
        "telefon",
        "company phone",
        "corporate phone",
    ),
    "additional_phones": (
        "additional phones",
        "other phones",
        "other phone",
        "secondary phone",
        "phone 2",
        "phone 2 value",
        "home phone",
        "alternate phone",
        "alternative phone",
    ),
    "linkedin_url": (
        "linkedin url",
        "linkedin",
        "linkedin profile",
        "linkedin profile url",
        "linkedin contact profile url",
        "linkedin link",
        "default profile url",
        "profile url",
        "public profile url",
        "li url",
    ),
    "company_name": (
        "company name",
        "company",
        "organization",
        "organisation",
        "organization name",
        "organisation name",
        "company account",
        "account name",
        "account",
        "employer",
        "business name",
        "current company",
        "associated company",
        "company name for emails",
        "entreprise",
        "societe",
        "firma",
        "empresa",
    ),
    "company_domain": (
        "company domain",
        "domain",
        "website",
        "company website",
        "website url",
        "web site",
        "company website url",
        "site",
        "web",
        "homepage",
        "www",
        "site web",
        "webseite",
    ),
    "street": (
        "street",
        "street address",
        "address",
        "address line 1",
        "address line",
        "address 1",
        "street 1",
        "address street",
        "adresse",
        "strasse",
    ),
    "address_line2": (
        "address line 2",
        "address 2",
        "street 2",
        "street address 2",
        "address street 2",
        "suite",
    ),
    "city": (
        "city",
        "town",
        "locality",
        "address city",
        "ville",
        "stadt",
        "ciudad",
        "company city",
    ),
    "state": (
        "state",
        "state region",
        "state province",
        "state or province",
        "province",
        "region",
        "county",
        "address region",
        "company state",
    ),
    "postal_code": (
        "postal code",
        "zip",
        "zip code",
        "zipcode",
        "postcode",
        "post code",
        "zip postal code",
        "postal",
        "address postal code",
        "code postal",
        "plz",
    ),
    "country": (
        "country",
        "country region",
        "country name",
        "country code",
        "nation",
        "address country",
        "pays",
        "land",
        "company country",
    ),
    "industry": ("industry", "sector", "vertical", "industries", "secteur", "branche"),
    "tags": ("tags", "tag", "labels", "label", "lists", "segments", "segment", "categories"),
    "source": ("source", "lead source", "original source", "source name", "origin"),
    "notes": ("notes", "note", "description", "comments", "comment", "remarks", "memo"),
    "actor_id": ("apify actor", "actor"),
    "run_id": ("apify run",),
    "dataset_id": ("apify dataset",),
}
# Words that may stand before a field's name without changing it.
QUALIFIERS = frozenset(
    {
        "1",
        "business",
        "contact",
        "current",
        "customer",
        "default",
        "lead",
        "mailing",
        "main",
        "person",
        "personal",
        "primary",
        "prospect",
        "value",
        "work",
        "your",
    }
)
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
WORDS = re.compile(r"[a-z0-9]+")
REPEATED = re.compile(r"(.*) \((\d+)\)")
LIST_SPLIT = re.compile(r"[;,|\n]")
EXACT_FLOAT = 2**53

# The tiers of a guess, best first.
BY_FIELD_NAME, BY_SYNONYM, BY_QUALIFIED = 0, 1, 2
REPEAT_PENALTY = 10
UNMAPPED = "(raw_data)"
SAMPLES = 3
SAMPLE_WIDTH = 24


@dataclass
class Mapping:
    """Header -> lead field; None keeps the column in raw_data."""

    columns: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        """The shape ``load_mapping`` reads: {"Header": "field" | null}."""
        return dict(self.columns)


def words(text: str) -> list[str]:
    """A header's words: accents dropped, camelCase split, lower case."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    return WORDS.findall(CAMEL.sub(" ", text).lower())


def key(text: str) -> str:
    """Words run together: "E-mail", "e_mail" and "eMail" all read "email"."""
    return "".join(words(text))


def _synonym_keys() -> dict[str, tuple[str, int]]:
    keys: dict[str, tuple[str, int]] = {}
    for field, spellings in SYNONYMS.items():
        for rank, spelling in enumerate(spellings):
            keys.setdefault(key(spelling), (field, rank))
    return keys


FIELD_KEYS: dict[str, str] = {key(field): field for field in LEAD_FIELDS}
SYNONYM_KEYS = _synonym_keys()


def _candidate(header: str) -> tuple[str, tuple[int, int]] | None:
    """The best field for one header and how good the match is."""
    penalty = 0
    repeated = REPEATED.fullmatch(header)
    if repeated:
        header, penalty = repeated.group(1), REPEAT_PENALTY
    if header in LEAD_FIELDS:
        return header, (BY_FIELD_NAME + penalty, 0)
    header_words = words(header)
    joined = "".join(header_words)
    found = _lookup(joined)
    tier = BY_SYNONYM
    if found is None:
        bare = "".join(word for word in header_words if word not in QUALIFIERS)
        found = _lookup(bare) if bare != joined else None
        tier = BY_QUALIFIED
    if found is None:
        return None
    field, rank = found
    return field, (tier + penalty, rank)


def _lookup(joined: str) -> tuple[str, int] | None:
    """A synonym, ranked; or a field's name spelled another way ("Full
    Name"), ranked as if first. Synonyms go first so that their order holds:
    "Job Title" beats "Title" (Outlook's "Title" is Mr or Ms)."""
    if joined in SYNONYM_KEYS:
        return SYNONYM_KEYS[joined]
    field = FIELD_KEYS.get(joined)
    if field is not None and field not in STRICT_FIELDS:
        return field, 0
    return None


def _guess(headers: Sequence[str], taken: Iterable[str] = ()) -> dict[str, str | None]:
    candidates = []
    for position, header in enumerate(headers):
        found = _candidate(header)
        if found is not None:
            field, quality = found
            candidates.append((quality, position, header, field))
    chosen: dict[str, str | None] = dict.fromkeys(headers)
    used = set(taken)
    for _, _, header, field in sorted(candidates):
        if field not in used:
            chosen[header] = field
            used.add(field)
    return chosen


def guess_mapping(headers: Sequence[str]) -> Mapping:
    return Mapping(_guess(headers))


def load_mapping(path: Path, headers: Sequence[str]) -> Mapping:
    """A mapping file ({"Header": "field" | null}, JSON or TOML; in TOML an
    empty string stands for null) over the file's headers; the headers it
    leaves out are guessed, never onto a field it names."""
    given = _read_mapping_file(path)
    problems: list[str] = []
    explicit: dict[str, str | None] = {}
    for header, value in given.items():
        if header not in headers:
            problems.append(f"column {header!r} is not in the file{_did_you_mean(header, headers)}")
            continue
        before = len(problems)
        field = _field_of(header, value, problems)
        if len(problems) == before:
            explicit[header] = field
    fields = [f for f in explicit.values() if f is not None]
    for field in sorted({f for f in fields if fields.count(f) > 1 and f not in LIST_FIELDS}):
        named = ", ".join(repr(h) for h, f in explicit.items() if f == field)
        problems.append(f"{named} all map to {field!r}, which holds one value")
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    rest = [header for header in headers if header not in explicit]
    guessed = _guess(rest, taken=fields)
    return Mapping({h: explicit[h] if h in explicit else guessed[h] for h in headers})


def _read_mapping_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ValueError(f"cannot read the mapping file {path}: {error.strerror}") from None
    is_toml = path.suffix.lower() == ".toml"
    data: Any
    try:
        data = tomllib.loads(text) if is_toml else json.loads(text)
    except ValueError as error:  # TOMLDecodeError is a ValueError too
        kind = "TOML" if is_toml else "JSON"
        raise ValueError(f"{path.name} is not valid {kind}: {error}") from None
    if isinstance(data, dict) and set(data) == {"columns"} and isinstance(data["columns"], dict):
        data = data["columns"]
    if not isinstance(data, dict):
        raise ValueError(f'{path.name}: expected {{"Header": "field" or null, ...}}')
    return data


def _field_of(header: str, value: Any, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"column {header!r}: a field name or null, not {value!r}")
        return None
    if value not in LEAD_FIELDS:
        problems.append(f"{value!r} is not a lead field{_did_you_mean(value, LEAD_FIELDS)}")
        return None
    return value


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- rows -> leads ---------------------------------------------------------------


def apply_mapping(row: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
    """A row as lead fields. Empty values are dropped; unmapped non-empty
    values go to ``raw_data`` (merged with a column mapped to raw_data);
    list fields split text on ``; , |`` and newlines and gather every column
    mapped to them; numbers in text fields become text (123.0 -> "123");
    nested values in a text field stay in raw_data under their column."""
    lead: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    mapped_raw: dict[str, Any] = {}
    columns = mapping.columns
    for header, value in row.items():
        if value is None:
            continue
        field = columns.get(header)
        if type(value) is str:
            value = value.strip()
            if not value:
                continue
            if field in PLAIN_TEXT_FIELDS:  # most cells of most files: no more to do
                lead[field] = value
                continue
        if field is None:
            raw[header] = value
        elif field in TEXT_FIELDS:
            _put_text(lead, raw, header, field, value)
        elif field in LIST_FIELDS:
            _put_list(lead, field, value)
        elif field == "raw_data":
            parsed = _json_object(value)
            if parsed is None:
                raw[header] = value
            else:
                mapped_raw.update(parsed)
        elif field in JSON_FIELDS:
            parsed = _json_object(value)
            lead[field] = value if parsed is None else parsed
        else:
            lead[field] = value
    if raw or mapped_raw:
        lead["raw_data"] = {**mapped_raw, **raw}
    return lead


def _put_text(
    lead: dict[str, Any], raw: dict[str, Any], header: str, field: str, value: Any
) -> None:
    if isinstance(value, dict | list):
        raw[header] = value
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = number_text(value)
    if field in ENUM_FIELDS and isinstance(value, str):
        value = value.lower()
    lead[field] = value


def _put_list(lead: dict[str, Any], field: str, value: Any) -> None:
    parts = value if isinstance(value, list) else LIST_SPLIT.split(str(value))
    items: list[str] = lead.setdefault(field, [])
    for part in parts:
        if part is None or isinstance(part, dict | list):
            continue
        text = number_text(part) if isinstance(part, float) else str(part).strip()
        if text and text not in items:
            items.append(text)
    if not items:
        del lead[field]


def number_text(value: float) -> str:
    """A number as text: whole ones without ".0" (phones, postcodes)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < EXACT_FLOAT:
        return str(int(value))
    return str(value)


def _json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


# --- --show-mapping --------------------------------------------------------------


def describe(mapping: Mapping, sample_rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: each column, its field (or raw_data) and a few
    sample values from the rows; then how many columns are mapped."""
    rows = [row for row in sample_rows if "__error__" not in row]
    headers = list(mapping.columns)
    for row in rows:  # JSON keys first seen in the sample rows
        headers.extend(h for h in row if h not in mapping.columns and h not in headers)
    table = [("Column", "Field", "Samples")]
    for header in headers:
        field = mapping.columns.get(header) or UNMAPPED
        table.append((header, field, " | ".join(_samples(header, rows))))
    widths = [max(len(line[i]) for line in table) for i in range(2)]
    lines = [f"{c:<{widths[0]}}  {f:<{widths[1]}}  {s}".rstrip() for c, f, s in table]
    lines.insert(1, f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 7}")
    mapped = sum(1 for h in headers if mapping.columns.get(h))
    lines.append(f"{mapped} of {len(headers)} columns mapped; the others are kept in raw_data.")
    return "\n".join(lines)


def _samples(header: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for row in rows:
        value = row.get(header)
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        text = " ".join(text.split())
        if len(text) > SAMPLE_WIDTH:
            text = text[: SAMPLE_WIDTH - 1] + "…"
        found.append(text)
        if len(found) == SAMPLES:
            break
    return found
