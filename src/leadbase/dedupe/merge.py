"""How an incoming duplicate is folded into the lead that already holds it.

Nothing already stored is lost: empty fields are filled, lists are unioned,
a second email or phone is kept as an additional one, and flags only go up.
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
    for field, value in incoming.items():
        if value is None or field in _KEEP_EXISTING:
            continue
        current = result.get(field)
        if field in _FLAGS:
            result[field] = bool(current) or bool(value)
        elif field in _LISTS:
            result[field] = _union(current, value)
        elif field in _DICTS:
            result[field] = {**value, **(current or {})}
        elif current in (None, ""):
            result[field] = value
        elif field in _SECONDARY and current != value:
            extra = _SECONDARY[field]
            result[extra] = _union(result.get(extra), [value])
    return {field: value for field, value in result.items() if existing.get(field) != value}
