"""Field-level diffs shared by the lead and company services."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import DeclarativeBase

Changes = dict[str, list[Any]]


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> Changes:
    """``{field: [old, new]}`` for every field of ``new`` whose value differs."""
    return {
        field: [old.get(field), value] for field, value in new.items() if old.get(field) != value
    }


def created(values: Mapping[str, Any], skip: Iterable[str] = ()) -> Changes:
    """A create's changes: every field that holds something, from nothing."""
    skipped = set(skip)
    return {
        field: [None, value]
        for field, value in values.items()
        if value is not None and field not in skipped
    }


def row_values(row: DeclarativeBase, fields: Iterable[str]) -> dict[str, Any]:
    return {field: getattr(row, field) for field in fields}
