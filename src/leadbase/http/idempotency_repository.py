"""Named queries over idempotency_keys. Only leadbase.http.idempotency writes here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from leadbase.models import IdempotencyKey


def insert_claim(
    session: Session, *, principal: str, key: str, method: str, path: str, request_hash: str
) -> IdempotencyKey:
    """An in-flight row (no status yet). IntegrityError when the key is taken."""
    row = IdempotencyKey(
        principal=principal, key=key, method=method, path=path, request_hash=request_hash
    )
    session.add(row)
    session.flush()
    return row


def find(session: Session, principal: str, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.principal == principal, IdempotencyKey.key == key
        )
    ).first()


def store_response(
    session: Session, record_id: str, status_code: int, body: str, headers: dict[str, str]
) -> bool:
    """Fill in the response of a claimed key. False when the claim is gone."""
    result = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == record_id)
        .values(status_code=status_code, response_body=body, response_headers=headers)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def remove(session: Session, record_id: str) -> None:
    """Drop one claim by id: a newer claim of the same key has another id and stays."""
    session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id == record_id)
        .execution_options(synchronize_session=False)
    )


def purge_created_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
