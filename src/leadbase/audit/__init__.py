"""Hash-chained audit log: append inside the writer's transaction, verify."""

from leadbase.audit.batch import append_creates, append_rows
from leadbase.audit.chain import (
    VerifyResult,
    append,
    append_many,
    canonical_json,
    entry_hash,
    queued,
    unqueue,
    verify,
)

__all__ = [
    "VerifyResult",
    "append",
    "append_creates",
    "append_many",
    "append_rows",
    "canonical_json",
    "entry_hash",
    "queued",
    "unqueue",
    "verify",
]
