"""Named queries over saved_views and list_columns. Only views.service writes."""

from __future__ import annotations

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from leadbase.models import ListColumns, SavedView
from leadbase.views.schemas import ViewLink

MAX_NAV_VIEWS = 50


def columns_of(session: Session, user_id: str, list_key: str) -> list[str] | None:
    """The user's chosen columns of the list, or None: never chosen."""
    row = session.get(ListColumns, (user_id, list_key))
    return list(row.columns) if row is not None else None


def get(session: Session, view_id: str) -> SavedView | None:
    return session.get(SavedView, view_id)


def visible_to(session: Session, user_id: str, list_key: str) -> list[ViewLink]:
    """The user's own views and the shared ones, by name: two index ranges
    (owner, list, name) and (shared, list, name), at most MAX_NAV_VIEWS each."""
    columns = (SavedView.id, SavedView.name, SavedView.shared, SavedView.owner_id)
    own = (
        select(*columns)
        .where(SavedView.owner_id == user_id, SavedView.list_key == list_key)
        .order_by(SavedView.name)
        .limit(MAX_NAV_VIEWS)
    )
    shared = (
        select(*columns)
        # = true, not IS true: an equality the (shared, list_key, name) index serves.
        .where(SavedView.shared == true(), SavedView.list_key == list_key)
        .order_by(SavedView.name)
        .limit(MAX_NAV_VIEWS)
    )
    found: dict[str, ViewLink] = {}
    for query in (own, shared):
        for view_id, name, is_shared, owner_id in session.execute(query):
            found.setdefault(view_id, ViewLink(view_id, name, bool(is_shared), owner_id))
    return sorted(found.values(), key=lambda view: (view.name.casefold(), view.id))


def is_visible(view: SavedView, user_id: str) -> bool:
    return view.shared or view.owner_id == user_id


def named(session: Session, owner_id: str, list_key: str, name: str) -> SavedView | None:
    """The owner's view of that name (names are unique per owner and list)."""
    return session.scalars(
        select(SavedView).where(
            SavedView.owner_id == owner_id,
            SavedView.list_key == list_key,
            SavedView.name == name,
        )
    ).first()
