"""idempotency_keys: the first response to each ``Idempotency-Key`` POST.

A replay of the same key by the same principal gets the stored response back
and creates nothing. The unique (principal, key) pair is what makes two
concurrent requests with one key safe: only one insert can win.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadbase.models.base import Base, JSONType, UTCDateTime, new_id, utcnow


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # "user:<id>": who sent the key (keys are per user, whatever the credential)
    principal: Mapped[str] = mapped_column(String(100), nullable=False)
    # SHA-256 (hex) of the client's key: exact, whatever the database's collation
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    # SHA-256 of the request body: the same key with another body is refused
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # None while the first request is still being answered
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, nullable=False, index=True
    )
