"""The duplicate lookup of one write: which stored (or just written) leads
look like a row, best first.

The write path makes one ``Matcher`` per batch: ``prefetch`` reads, with one
indexed query per key column for the whole batch, the active leads that
share a key with any row; ``best`` then compares a row with the leads that
share one of its keys, in memory. Rows the batch accepts are ``add``-ed, so
a later row of the same batch finds them too.

Only the selective keys are looked up here (exact identities, the two name
keys, the address key, the phone): a company's key or domain is shared by
all its people, too many to compare on every write; the scan covers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, select, tuple_
from sqlalchemy.orm import Session

from leadbase.db import chunked
from leadbase.dedupe.repository import dismissed_pairs, pair
from leadbase.dedupe.rules import Rules, load_rules
from leadbase.dedupe.score import COMPARED_FIELDS, Features, Verdict, compare_features, features
from leadbase.models import SalesLead
from leadbase.models.lead import MATCH_KEY_COLUMNS

# The columns a candidate is found by, one indexed lookup each.
LOOKUP_COLUMNS = ("key_email", "linkedin_url", "phone", "key_name", "key_name_alt", "key_address")
PROVIDER_RECORD = "provider_name+external_id"
SELECTED = ("id", *COMPARED_FIELDS, *MATCH_KEY_COLUMNS)


@dataclass(frozen=True)
class Candidate:
    lead_id: str
    verdict: Verdict


def _lookup_keys(row: Mapping[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = [(c, row[c]) for c in LOOKUP_COLUMNS if row.get(c)]
    if row.get("provider_name") and row.get("external_id"):
        found.append((PROVIDER_RECORD, (row["provider_name"], row["external_id"])))
    return found


def _active() -> Any:
    return and_(SalesLead.is_deleted.is_(False), SalesLead.merged_into_id.is_(None))


def candidate_rows(session: Session, column: str, values: Iterable[Any]) -> list[Row[Any]]:
    """The active leads whose ``column`` (or provider record) is one of
    ``values``, with the fields compare() reads and their keys."""
    selected = [getattr(SalesLead, name) for name in SELECTED]
    rows: list[Row[Any]] = []
    for chunk in chunked(sorted(set(values))):
        if column == PROVIDER_RECORD:
            where = tuple_(SalesLead.provider_name, SalesLead.external_id).in_(chunk)
        else:
            where = getattr(SalesLead, column).in_(chunk)
        rows.extend(session.execute(select(*selected).where(where, _active())))
    return rows


class Matcher:
    def __init__(self, session: Session, rules: Rules | None = None) -> None:
        self.session = session
        self.rules = rules or load_rules()
        self._features: dict[str, Features] = {}
        self._by_key: dict[tuple[str, Any], list[str]] = {}
        self._dismissed: dict[str, set[tuple[str, str]]] = {}

    def _index(self, lead_id: str, row: Mapping[str, Any]) -> None:
        self._features[lead_id] = features(row)
        for key in _lookup_keys(row):
            ids = self._by_key.setdefault(key, [])
            if lead_id not in ids:
                ids.append(lead_id)

    def prefetch(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Load the stored candidates of every row (rows carry their key_* values)."""
        wanted: dict[str, set[Any]] = {}
        for row in rows:
            for column, value in _lookup_keys(row):
                if (column, value) not in self._by_key:
                    wanted.setdefault(column, set()).add(value)
        for column, values in wanted.items():
            for value in values:
                self._by_key.setdefault((column, value), [])
            for found in candidate_rows(self.session, column, values):
                self._index(found.id, dict(found._mapping))

    def add(self, lead_id: str, row: Mapping[str, Any]) -> None:
        """A row this batch just accepted: a candidate for the rows after it."""
        self._index(lead_id, row)

    def _skipped(self, exclude_id: str | None) -> set[tuple[str, str]]:
        if exclude_id is None:
            return set()
        if exclude_id not in self._dismissed:
            self._dismissed[exclude_id] = dismissed_pairs(self.session, [exclude_id])
        return self._dismissed[exclude_id]

    def all(self, row: Mapping[str, Any], *, exclude_id: str | None = None) -> list[Candidate]:
        """Every candidate at or above ``rules.low``, best first (ties: oldest id order)."""
        ids: dict[str, None] = {}
        for key in _lookup_keys(row):
            ids.update(dict.fromkeys(self._by_key.get(key, ())))
        ids.pop(exclude_id, None)  # type: ignore[arg-type]
        if not ids:
            return []
        dismissed = self._skipped(exclude_id)
        mine = features(row)
        found = []
        for lead_id in ids:
            if exclude_id is not None and pair(exclude_id, lead_id) in dismissed:
                continue
            verdict = compare_features(mine, self._features[lead_id], self.rules)
            if verdict is not None:
                found.append(Candidate(lead_id, verdict))
        found.sort(key=lambda c: (-c.verdict.score, c.verdict.action != "merge"))
        return found

    def best(self, row: Mapping[str, Any], *, exclude_id: str | None = None) -> Candidate | None:
        found = self.all(row, exclude_id=exclude_id)
        return found[0] if found else None
