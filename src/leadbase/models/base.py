"""Declarative base, naming convention and column types shared by all tables."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, MetaData, String
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class _IdState:
    """The last id's millisecond and counter, and a page of random bytes
    read from os.urandom 4 KiB at a time (a read per id cost more than the
    rest of it); a forked child reads its own page, never its parent's."""

    lock = threading.Lock()
    ms = 0
    seq = 0
    page = b""
    at = 4096


_ID_FORMAT = "%08x-%04x-%04x-%04x-%012x"
_RANDOM_PAGE = 4096


def _forget_random() -> None:
    _IdState.page, _IdState.at = b"", _RANDOM_PAGE


os.register_at_fork(after_in_child=_forget_random)


def new_id() -> str:
    """A UUIDv7 string: random like uuid4, but ordered by creation time.

    Time order keeps B-tree inserts at the right edge and gives keyset
    pagination a "creation order". Within one millisecond the 12-bit rand_a
    field counts up (RFC 9562, method 1), so ids from this process are
    strictly increasing; a counter overflow borrows the next millisecond.
    """
    state = _IdState
    with state.lock:
        at = state.at
        if at + 10 > _RANDOM_PAGE:
            state.page, at = os.urandom(_RANDOM_PAGE), 0
        state.at = at + 10
        page = state.page
        ms = time.time_ns() // 1_000_000
        if ms > state.ms:
            state.ms = ms
            seq = state.seq = int.from_bytes(page[at : at + 2]) & 0x7FF
        else:
            seq = state.seq = state.seq + 1
            if seq > 0xFFF:
                seq = state.seq = 0
                state.ms += 1
            ms = state.ms
    rand_b = int.from_bytes(page[at + 2 : at + 10]) & ((1 << 62) - 1)
    # 48 bits of time; version 7 and the counter (rand_a); variant 0b10 and
    # rand_b. Formatted by hand, in one go: uuid.UUID() costs ~10 µs an id.
    return _ID_FORMAT % (
        (ms >> 16) & 0xFFFFFFFF,
        ms & 0xFFFF,
        0x7000 | seq,
        0x8000 | rand_b >> 48,
        rand_b & 0xFFFFFFFFFFFF,
    )


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC with microseconds, read back as aware UTC.

    One representation on every database keeps audit hashes reproducible:
    MariaDB's DATETIME drops microseconds unless asked for fsp=6.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON stored as JSONB on PostgreSQL (indexable), JSON elsewhere; Python None
# is SQL NULL (not JSON null), so "IS NULL" filters find unset fields.
JSONType = JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class AuditColumns:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    created_by: Mapped[str | None] = mapped_column(String(255))
    updated_by: Mapped[str | None] = mapped_column(String(255))


class SoftDeleteColumns:
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(255))
