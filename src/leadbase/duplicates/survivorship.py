"""Survivorship: what one lead keeps when stored leads are merged into it.

``survive``: two or more stored leads merged into one (``duplicates.service``),
field by field, by these rules, in this order:

1. a per-field choice (field -> the id of the lead whose value wins) beats
   every rule below;
2. non-empty beats empty;
3. verified beats unverified: the email of a lead with ``email_verified``,
   the phone of one with ``phone_verified``;
4. person-entered beats enrichment: a value an enrichment provider set (its
   provenance in ``enrichment_data.fields`` still records that very value)
   loses to one a person typed or an import brought;
5. the lead's own ``verified`` flag, then the survivor, then the order the
   leads were given in, break the remaining ties.

Fields that only make sense together move together, from one lead: the
name (full, first, last), the address (street ... country), the company
(id, name, domain), the source (source ... dataset_id), the score and its
explanation, the enrichment state and its task. A choice of any field of
such a group picks the whole group.

Other fields have their own rule: the most advanced ``lead_status`` wins
(``STATUS_RANK``: new < contacted < qualified < lost < converted; "lost" is
a decision a person made about a worked lead, which a merge must not
silently reopen, and a conversion outranks it); tags are unioned; every
email and phone that is not the survivor's goes to ``additional_emails`` /
``additional_phones``; the verified, manual and contact-verified flags are
true when the value they vouch for is; notes are joined; ``raw_data`` and
``enrichment_data`` are merged key by key (the survivor's keys first; the
provenance of each field follows the lead its value came from).

Every value that did not make it onto the survivor is listed in ``kept``
(field -> [{"lead_id", "value"}]), which the merge record stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadbase.enrichment.schemas import source_of
from leadbase.errors import ValidationError
from leadbase.leads.schemas import LEAD_FIELDS

# --- survivorship: many stored leads into one -----------------------------------------

STATUS_RANK = {"new": 0, "contacted": 1, "qualified": 2, "lost": 3, "converted": 4}

GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("full_name", "first_name", "last_name"),
    "address": ("street", "address_line2", "city", "state", "postal_code", "country"),
    "company": ("company_id", "company_name", "company_domain"),
    "source": ("source", "provider_name", "external_id", "actor_id", "run_id", "dataset_id"),
    "score": ("lead_score", "score_explanation"),
    "email": ("email", "email_verified"),
    "phone": ("phone", "phone_verified"),
}
# The field a contact group is verified by, and the list its losers go to.
_CONTACT = {
    "email": ("email_verified", "additional_emails"),
    "phone": ("phone_verified", "additional_phones"),
}
_ENRICHMENT_STATE = ("enrichment_status", "enrichment_task_id")
# Made from every lead's values: there is no single lead to choose them from.
NOT_CHOOSABLE = frozenset({"additional_emails", "additional_phones"})
CHOOSABLE = tuple(f for f in LEAD_FIELDS if f not in NOT_CHOOSABLE)
NOTES_SEPARATOR = "\n\n---\n\n"


def _empty(value: Any) -> bool:
    """No value to keep; a false flag (phone_verified) says nothing either."""
    return value is None or value is False or value == "" or value == [] or value == {}


def _provenance(lead: Mapping[str, Any]) -> Mapping[str, Any]:
    data = lead.get("enrichment_data")
    fields = data.get("fields") if isinstance(data, Mapping) else None
    return fields if isinstance(fields, Mapping) else {}


def _from_enrichment(lead: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Whether an enrichment provider set one of these (non-empty) values."""
    provenance = _provenance(lead)
    return any(
        not _empty(lead.get(name)) and source_of(name, lead.get(name), provenance) is not None
        for name in names
    )


@dataclass
class Survivorship:
    """What the survivor holds after a merge, and what did not make it."""

    values: dict[str, Any]
    # field -> the lead whose value the survivor holds (for the fields one lead gives)
    winners: dict[str, str] = field(default_factory=dict)
    # field -> [{"lead_id", "value"}]: every value that is not the survivor's
    kept: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def check_choices(choices: Mapping[str, str], lead_ids: Sequence[str]) -> None:
    """A choice names a lead field and one of the merged leads."""
    for name, lead_id in choices.items():
        where = f"choices.{name}"
        if name in NOT_CHOOSABLE:
            raise ValidationError(where, "is made from every lead's values; choose email/phone")
        if name not in LEAD_FIELDS:
            raise ValidationError(where, "is not a lead field")
        if not isinstance(lead_id, str) or lead_id not in lead_ids:
            raise ValidationError(where, "must be the id of one of the merged leads")


def _best(
    leads: Sequence[Mapping[str, Any]], names: Sequence[str], verified_by: str | None = None
) -> Mapping[str, Any]:
    """The lead whose values of ``names`` win by the default rules."""

    def rank(item: tuple[int, Mapping[str, Any]]) -> tuple[bool, bool, bool, bool, int]:
        index, lead = item
        return (
            any(not _empty(lead.get(name)) for name in names),
            bool(verified_by and lead.get(verified_by)),
            not _from_enrichment(lead, names),
            bool(lead.get("verified")),
            -index,
        )

    return max(enumerate(leads), key=rank)[1]


def _chosen(
    leads: Sequence[Mapping[str, Any]], choices: Mapping[str, str], names: Sequence[str]
) -> Mapping[str, Any] | None:
    by_id = {lead["id"]: lead for lead in leads}
    for name in names:
        if name in choices:
            return by_id[choices[name]]
    return None


def survive(
    leads: Sequence[Mapping[str, Any]], choices: Mapping[str, str] | None = None
) -> Survivorship:
    """The survivor's values when ``leads`` (the survivor first, each with
    its ``id`` and every lead field) become one lead."""
    choices = dict(choices or {})
    check_choices(choices, [lead["id"] for lead in leads])
    result = Survivorship(values={})
    for group, names in GROUPS.items():
        verified_by = _CONTACT[group][0] if group in _CONTACT else None
        winner = _chosen(leads, choices, names) or _best(leads, names, verified_by)
        for name in names:
            result.values[name] = winner.get(name)
            result.winners[name] = winner["id"]
    for group, (verified_by, extra) in _CONTACT.items():
        _contact(leads, result, group, verified_by, extra)
    for name in ("title", "linkedin_url", "industry"):
        winner = _chosen(leads, choices, [name]) or _best(leads, [name])
        result.values[name] = winner.get(name)
        result.winners[name] = winner["id"]
    _handling(leads, choices, result)
    _combined(leads, choices, result)
    result.kept = _kept(leads, result.values)
    return result


def _contact(
    leads: Sequence[Mapping[str, Any]],
    result: Survivorship,
    group: str,
    verified_by: str,
    extra: str,
) -> None:
    """The winning email (phone) is verified when any lead verified that
    very value; every other one goes to the additional list."""
    value = result.values[group]
    result.values[verified_by] = bool(value) and any(
        lead.get(group) == value and lead.get(verified_by) for lead in leads
    )
    others: list[Any] = []
    for lead in leads:
        others.extend([lead.get(group), *(lead.get(extra) or [])])
    listed = [item for item in dict.fromkeys(others) if not _empty(item) and item != value]
    result.values[extra] = listed or None


def _pick(
    leads: Sequence[Mapping[str, Any]],
    choices: Mapping[str, str],
    result: Survivorship,
    names: Sequence[str],
    default: Callable[[], Mapping[str, Any]],
) -> None:
    winner = _chosen(leads, choices, names) or default()
    for name in names:
        result.values[name] = winner.get(name)
        result.winners[name] = winner["id"]


def _handling(
    leads: Sequence[Mapping[str, Any]], choices: Mapping[str, str], result: Survivorship
) -> None:
    """Status, enrichment state and flags: how we handle the lead."""
    _pick(
        leads,
        choices,
        result,
        ["lead_status"],
        lambda: max(leads, key=lambda lead: STATUS_RANK.get(lead.get("lead_status") or "", -1)),
    )

    def enrichment_state() -> Mapping[str, Any]:
        # The survivor's, unless it has none and another lead's enrichment finished.
        done = [lead for lead in leads if lead.get("enrichment_status") == "completed"]
        if leads[0].get("enrichment_status") == "pending" and done:
            return done[0]
        return leads[0]

    _pick(leads, choices, result, _ENRICHMENT_STATE, enrichment_state)
    for name in ("verified", "is_manual"):
        if name in choices:
            _pick(leads, choices, result, [name], lambda: leads[0])
        else:
            result.values[name] = any(bool(lead.get(name)) for lead in leads)


def _combined(
    leads: Sequence[Mapping[str, Any]], choices: Mapping[str, str], result: Survivorship
) -> None:
    """Tags, notes and the dict fields: made from every lead unless chosen."""
    for name in ("tags", "notes", "raw_data", "enrichment_data"):
        if name in choices:
            _pick(leads, choices, result, [name], lambda: leads[0])
    values = result.values
    if "tags" not in choices:
        tags: list[Any] = []
        for lead in leads:
            tags.extend(lead.get("tags") or [])
        values["tags"] = list(dict.fromkeys(tags)) or None
    if "notes" not in choices:
        notes = [lead["notes"] for lead in leads if not _empty(lead.get("notes"))]
        values["notes"] = NOTES_SEPARATOR.join(dict.fromkeys(notes)) or None
    if "raw_data" not in choices:
        values["raw_data"] = _merged_dicts(lead.get("raw_data") for lead in leads)
    if "enrichment_data" not in choices:
        values["enrichment_data"] = _enrichment_data(leads, result)


def _merged_dicts(dicts: Any) -> dict[str, Any] | None:
    merged: dict[str, Any] = {}
    for value in dicts:
        for key, item in (value or {}).items():
            merged.setdefault(key, item)
    return merged or None


def _enrichment_data(leads: Sequence[Mapping[str, Any]], result: Survivorship) -> Any:
    """Every lead's enrichment data, the survivor's keys first; the provenance
    of a field comes from the lead whose value the survivor took, so a value
    a provider found stays known as such."""
    merged = _merged_dicts(lead.get("enrichment_data") for lead in leads)
    if merged is None:
        return None
    by_id = {lead["id"]: lead for lead in leads}
    provenance: dict[str, Any] = {}
    for name, lead_id in result.winners.items():
        record = _provenance(by_id[lead_id]).get(name)
        if record is not None and source_of(name, result.values[name], {name: record}):
            provenance[name] = record
    if provenance or "fields" in merged:
        merged["fields"] = provenance
    return merged


def _covered(value: Any, kept_value: Any) -> bool:
    """Whether the survivor's ``value`` already holds ``kept_value``."""
    if kept_value == value:
        return True
    if isinstance(value, list) and isinstance(kept_value, list):
        return all(item in value for item in kept_value)
    if isinstance(value, str) and isinstance(kept_value, str):
        return kept_value in value.split(NOTES_SEPARATOR)
    return False


def _kept(
    leads: Sequence[Mapping[str, Any]], values: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    kept: dict[str, list[dict[str, Any]]] = {}
    for name in LEAD_FIELDS:
        for lead in leads:
            value = lead.get(name)
            if _empty(value) or isinstance(value, bool) or _covered(values.get(name), value):
                continue
            kept.setdefault(name, []).append({"lead_id": lead["id"], "value": value})
    return kept
