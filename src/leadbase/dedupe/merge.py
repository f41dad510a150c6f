"""How an incoming duplicate is folded into the lead that already holds it.

``merged_values``: a write with ``on_duplicate=merge`` folded into the
stored lead it duplicates. Nothing already stored is lost: empty fields are
filled, lists are unioned, a second email or phone is kept as an additional
one, and flags only go up. (Merging stored leads into one is
``duplicates.survivorship``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Fields whose stored value wins even when the incoming row sets them: they
# describe our handling of the lead, not facts about the person.
_KEEP_EXISTING = {"lead_status", "enrichment_status", "enrichment_task_id", "is_manual"}
_FLAGS = {"verified", "email_verified", "phone_verified"}
_LISTS = {"tags", "additional_emails", "additional_phones"}
_DICTS = {"raw_data", "enrichment_data", "score_explanation"}
_SECONDARY = {"email": "additional_emails", "phone": "additional_phones"}


def _union(first: list[Any] | None, second: list[Any] | None) -> list[Any] | None:
    merged = list(first or [])
    merged.extend(item for item in (second or []) if item not in merged)
    return merged or None


def merged_values(existing: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """The new values ``existing`` should take; fields left out stay as they are."""
    result = dict(existing)
    for field_name, value in incoming.items():
        if value is None or field_name in _KEEP_EXISTING:
            continue
        current = result.get(field_name)
        if field_name in _FLAGS:
            result[field_name] = bool(current) or bool(value)
        elif field_name in _LISTS:
            result[field_name] = _union(current, value)
        elif field_name in _DICTS:
            result[field_name] = {**value, **(current or {})}
        elif current in (None, ""):
            result[field_name] = value
        elif field_name in _SECONDARY and current != value:
            extra = _SECONDARY[field_name]
            result[extra] = _union(result.get(extra), [value])
    return {
        field_name: value
        for field_name, value in result.items()
        if existing.get(field_name) != value
    }
