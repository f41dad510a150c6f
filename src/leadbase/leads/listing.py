"""What a list of leads shows, in one place for GET /api/v1/leads, the
console's /leads (its pages, its total, "select all matching"), export and
the analytics figures.

The filters come as people type them; ``resolve`` turns each into the stored
spellings it means ("fr" finds "France", "apify" finds "Apify"), once, so the
pages, the total and an export of one list always agree. ``page`` then picks
the repository's keyset page for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, Select
from sqlalchemy.orm import Session

from leadbase.leads import facets, repository
from leadbase.leads.repository import Position, Sort, TagFilter
from leadbase.models import SalesLead


@dataclass(frozen=True)
class Listing:
    """A list's filters as the repository takes them: stored spellings."""

    filters: dict[str, Any]
    q: str | None = None
    tag: TagFilter = None
    include_deleted: bool = False

    @property
    def searched(self) -> bool:
        return bool(self.q or self.tag)


def resolve(
    session: Session,
    filters: Mapping[str, Any],
    *,
    q: str | None = None,
    tag: str | None = None,
    include_deleted: bool = False,
) -> Listing:
    return Listing(
        facets.resolve_filters(session, filters),
        q=q,
        tag=facets.resolve_tag(session, tag),
        include_deleted=include_deleted,
    )


def page(
    session: Session,
    listing: Listing,
    *,
    sort: Sort,
    after: Position | None,
    limit: int,
    columns: Sequence[str] | None = None,
) -> list[RowMapping]:
    """Up to ``limit`` leads of the list past ``after`` in ``sort`` order;
    every column of each, or (``columns``) only those, its id and the sort's
    key (an export reads no more than it writes)."""
    if listing.searched:
        return repository.searched_page(
            session,
            listing.filters,
            q=listing.q,
            tag=listing.tag,
            include_deleted=listing.include_deleted,
            sort=sort,
            after=after,
            limit=limit,
            columns=columns,
        )
    return repository.filtered_page(
        session,
        listing.filters,
        include_deleted=listing.include_deleted,
        sort=sort,
        after=after,
        limit=limit,
        columns=columns,
    )


def query(session: Session, listing: Listing) -> Select[tuple[SalesLead]]:
    """Every lead of the list, unordered: a query to count or aggregate
    over (the analytics figures), not to page through."""
    return repository.listed(
        session,
        listing.filters,
        q=listing.q,
        tag=listing.tag,
        include_deleted=listing.include_deleted,
    )
