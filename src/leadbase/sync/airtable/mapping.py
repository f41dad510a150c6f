"""Which lead field goes to which Airtable field, and how values cross.

The default names are the readable ones a person would give the columns
("Full Name", "Email", "Company"); a JSON or TOML file
(``LEADBASE_AIRTABLE_MAPPING``) renames them or leaves a field out
(``"notes": null``). Values cross as Airtable returns them: empty values
are left out of ``fields`` (Airtable omits "", [] and false), tags are a
list (a multiple select), the score a number.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from leadbase.errors import LeadbaseError, ValidationError
from leadbase.leads.schemas import LEAD_FIELDS

# The field holding the lead's id: pushes upsert on it, so a push cut off
# between Airtable's answer and our commit finds its record again.
ID_FIELD = "Leadbase ID"
# A field of type lastModifiedTime: records carry no modification time
# without one, and the pull needs it for its cursor and last-modified-wins.
MODIFIED_FIELD = "Last Modified"
# The tag a pull gives a lead whose record was deleted in Airtable (setting
# on_remote_delete=flag); such a lead is not pushed (its record made again)
# until a person takes the tag off.
FLAG_TAG = "airtable-deleted"

DEFAULT_MAPPING: dict[str, str] = {
    "full_name": "Full Name",
    "first_name": "First Name",
    "last_name": "Last Name",
    "email": "Email",
    "phone": "Phone",
    "title": "Title",
    "company_name": "Company",
    "company_domain": "Company Domain",
    "linkedin_url": "LinkedIn",
    "street": "Street",
    "city": "City",
    "state": "State",
    "postal_code": "Postal Code",
    "country": "Country",
    "industry": "Industry",
    "tags": "Tags",
    "lead_status": "Status",
    "lead_score": "Score",
    "notes": "Notes",
}

# Airtable field types each lead field can be written to.
_TEXT = {"singleLineText", "multilineText", "richText", "email", "url", "phoneNumber"}
ACCEPTED_TYPES: dict[str, set[str]] = {
    "tags": {"multipleSelects"} | _TEXT,
    "lead_status": {"singleSelect"} | _TEXT,
    "lead_score": {"number", "percent", "rating"} | _TEXT,
}
LIST_FIELDS = frozenset({"tags"})
NUMBER_FIELDS = frozenset({"lead_score"})
# Airtable can't clear a select to nothing by our rules: a lead always has one.
REQUIRED_LOCAL = {"lead_status": "new"}


class MappingError(LeadbaseError):
    status_code = 422
    code = "airtable_mapping"


@dataclass(frozen=True)
class FieldMapping:
    """lead field -> Airtable field name, in a fixed order."""

    fields: tuple[tuple[str, str], ...]

    @property
    def remote_names(self) -> tuple[str, ...]:
        return tuple(remote for _, remote in self.fields)

    def remote_name(self, lead_field: str) -> str | None:
        return dict(self.fields).get(lead_field)

    def to_fields(self, lead: Any, lead_id: str | None = None) -> dict[str, Any]:
        """The record's fields for a lead (a model or a dict), empties left out."""

        def read(name: str) -> Any:
            return lead.get(name) if isinstance(lead, Mapping) else getattr(lead, name, None)

        out: dict[str, Any] = {}
        for local, remote in self.fields:
            value = _to_remote(local, read(local))
            if value is not None:
                out[remote] = value
        ident = lead_id if lead_id is not None else read("id")
        if ident:
            out[ID_FIELD] = str(ident)
        return out

    def from_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Lead field values for a record's fields: every mapped field, None where empty."""
        return {local: _to_local(local, fields.get(remote)) for local, remote in self.fields}

    def check(self, table_fields: Mapping[str, str]) -> list[str]:
        """Problems, in plain words, with writing this mapping to a table whose
        fields are ``{name: type}``. An empty list: all is well."""
        problems = []
        known = ", ".join(sorted(table_fields)) or "none"
        for local, remote in (*self.fields, ("id", ID_FIELD)):
            if remote not in table_fields:
                problems.append(
                    f'the table has no field "{remote}" (for the lead\'s {local}); '
                    f"its fields are: {known}"
                )
                continue
            kind = table_fields[remote]
            accepted = ACCEPTED_TYPES.get(local, _TEXT)
            if kind not in accepted:
                problems.append(
                    f'"{remote}" is a {kind} field; the lead\'s {local} needs one of: '
                    + ", ".join(sorted(accepted))
                )
        if table_fields.get(MODIFIED_FIELD) != "lastModifiedTime":
            problems.append(
                f'the table needs a "{MODIFIED_FIELD}" field of type lastModifiedTime '
                "(the pull reads it to know what changed and which side changed last)"
            )
        return problems


def _to_remote(local: str, value: Any) -> Any:
    if value is None or value == "" or value == []:
        return None
    if local in LIST_FIELDS:
        return [str(item) for item in value]
    if local in NUMBER_FIELDS:
        return value
    return str(value)


def _to_local(local: str, value: Any) -> Any:
    if value is None or value == "" or value == []:
        return REQUIRED_LOCAL.get(local)
    if local in LIST_FIELDS:
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(item).strip() for item in items if str(item).strip()] or None
    if local in NUMBER_FIELDS:
        try:
            return round(float(value))
        except (TypeError, ValueError):
            raise ValidationError(local, f"not a number: {value!r}") from None
    return str(value).strip() or REQUIRED_LOCAL.get(local)


def default_mapping() -> FieldMapping:
    return FieldMapping(tuple(DEFAULT_MAPPING.items()))


def load_mapping(path: Path | None) -> FieldMapping:
    """The mapping in ``path`` (JSON or TOML: ``{lead_field: "Airtable name" | null}``,
    optionally under a ``fields`` key), over the defaults; the defaults without one."""
    if path is None:
        return default_mapping()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise MappingError(f"can't read the Airtable mapping {path}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        data = data["fields"]
    if not isinstance(data, dict):
        raise MappingError(f"{path}: expected an object of lead field -> Airtable field name")
    return _merged(data, path)


def _merged(data: Mapping[str, Any], path: Path) -> FieldMapping:
    unknown = sorted(set(data) - set(LEAD_FIELDS))
    if unknown:
        raise MappingError(f"{path}: not lead fields: {', '.join(unknown)}")
    merged: dict[str, str | None] = {**DEFAULT_MAPPING, **data}
    names = [name for name in merged.values() if name]
    if ID_FIELD in names or len(names) != len(set(names)):
        raise MappingError(
            f"{path}: each lead field needs its own Airtable field, and "
            f'"{ID_FIELD}" holds the lead id'
        )
    bad = [local for local, name in merged.items() if name and not isinstance(name, str)]
    if bad:
        raise MappingError(f"{path}: field names must be text: {', '.join(bad)}")
    return FieldMapping(tuple((local, str(name)) for local, name in merged.items() if name))


def modified_at(record: Mapping[str, Any]) -> datetime | None:
    """The record's modification time (its "Last Modified" field), or None
    when the table has no such field."""
    value = record.get("fields", {}).get(MODIFIED_FIELD)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
