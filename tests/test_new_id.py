"""new_id: UUIDv7 text, strictly increasing, random bits never shared."""

from __future__ import annotations

import os
import uuid

import pytest

from leadbase.models import base
from leadbase.models.base import new_id


def test_ids_within_one_millisecond_count_up_and_borrow_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = 1_764_700_000_000_123_456  # ns: every id below in one millisecond
    monkeypatch.setattr(base.time, "time_ns", lambda: frozen)
    ids = [new_id() for _ in range(5000)]  # more than the 12-bit counter holds
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(p.version == 7 and p.variant == uuid.RFC_4122 for p in parsed)
    assert all(str(p) == i for p, i in zip(parsed, ids, strict=True))
    stamps = {p.int >> 80 for p in parsed}
    assert min(stamps) >= frozen // 1_000_000 and len(stamps) >= 2  # the counter overflowed


# Python 3.12 warns of any fork in a threaded process (xdist's workers have
# threads); the child here only draws an id and exits.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_draws_other_random_bits() -> None:
    new_id()  # the parent holds a page of random bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    parent = new_id()
    assert uuid.UUID(child).int & ((1 << 62) - 1) != uuid.UUID(parent).int & ((1 << 62) - 1)
