"""saved_views and list_columns: how each user likes a console list shown.

A saved view names a list's filters and sort (its URL query) and the columns
it shows; shared views are offered to every user. ``list_columns`` keeps
each user's own column choice per list. Neither is lead data: they change no
lead, so they have no audit entries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, JSONType, UTCDateTime, new_id, utcnow


class SavedView(Base):
    __tablename__ = "saved_views"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    list_key: Mapped[str] = mapped_column(String(30), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    owner_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    shared: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The list's URL query (filters and sort), as the list page reads it.
    query: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    columns: Mapped[list[str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    __table_args__ = (
        # The nav on every page: a user's own views, then the shared ones, by name.
        Index("idx_saved_views_owner", "owner_id", "list_key", "name"),
        Index("idx_saved_views_shared", "shared", "list_key", "name"),
    )


class ListColumns(Base):
    """One user's columns of one list, in order."""

    __tablename__ = "list_columns"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    list_key: Mapped[str] = mapped_column(String(30), primary_key=True)
    columns: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
