"""Writes of saved views and list columns. Services flush; the caller's unit
of work commits (as for leads)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadbase.auth.errors import PermissionDeniedError
from leadbase.auth.service import Principal
from leadbase.db import UnitOfWork
from leadbase.errors import NotFoundError
from leadbase.models import ListColumns, SavedView, utcnow
from leadbase.views import repository
from leadbase.views.schemas import ColumnsIn, SavedViewIn


def save_columns(uow: UnitOfWork, user: Principal, list_key: str, given: ColumnsIn) -> list[str]:
    """The user's columns of the list, replacing any earlier choice."""
    session = uow.session
    row = session.get(ListColumns, (user.user_id, list_key))
    if row is None:
        session.add(ListColumns(user_id=user.user_id, list_key=list_key, columns=given.columns))
    else:
        row.columns = given.columns
        row.updated_at = utcnow()
    session.flush()
    return given.columns


def save_view(uow: UnitOfWork, user: Principal, list_key: str, given: SavedViewIn) -> SavedView:
    """A new view, or the user's view of the same name replaced: saving again
    under a name updates it rather than listing it twice."""
    session = uow.session
    view = repository.named(session, user.user_id, list_key, given.name)
    if view is None:
        view = SavedView(owner_id=user.user_id, list_key=list_key, name=given.name)
        session.add(view)
    view.shared = given.shared
    view.query = given.query
    view.columns = given.columns or None
    view.updated_at = utcnow()
    session.flush()
    return view


def visible_view(session: Session, user: Principal, view_id: str) -> SavedView:
    view = repository.get(session, view_id)
    if view is None or not repository.is_visible(view, user.user_id):
        raise NotFoundError("no such saved view (it was deleted, or is another user's)")
    return view


def update_view_columns(uow: UnitOfWork, user: Principal, view_id: str, columns: ColumnsIn) -> None:
    view = _editable(uow.session, user, view_id)
    view.columns = columns.columns
    view.updated_at = utcnow()
    uow.session.flush()


def delete_view(uow: UnitOfWork, user: Principal, view_id: str) -> None:
    """Only the owner, or an admin, deletes a view."""
    uow.session.delete(_editable(uow.session, user, view_id))
    uow.session.flush()


def can_edit(view: SavedView, user: Principal) -> bool:
    return view.owner_id == user.user_id or user.role == "admin"


def _editable(session: Session, user: Principal, view_id: str) -> SavedView:
    view = visible_view(session, user, view_id)
    if not can_edit(view, user):
        raise PermissionDeniedError("only the view's owner or an admin can change or delete it")
    return view
