# The compiled in-memory scan (_native.pyx): what scan calls of it.
from collections.abc import Callable, Sequence
from typing import Any

FIELDS: tuple[str, ...]

def similarity(a: str, b: str) -> tuple[float, float]: ...
def features(rows: list[Sequence[Any]], at: tuple[int, ...]) -> list[list[Any]]: ...
def scan_links(
    rows: list[Sequence[Any]],
    layout: Any,
    rules: Any,
    dismissed: set[tuple[str, str]],
    feature_at: tuple[int, ...],
    passes: tuple[tuple[str, ...], ...],
    name_keys: frozenset[str],
    orders: tuple[tuple[str, ...], ...],
    window: int,
    alike: float,
    link: Callable[..., Any],
) -> tuple[list[Any], int]: ...
def order(major: list[str | None], minor: list[str | None]) -> list[int]: ...
def build_clusters(
    links: list[Any], dismissed: set[tuple[str, str]], cluster: Callable[..., Any]
) -> list[Any]: ...
def sqlite_rows(connection: Any, sql: str) -> list[Sequence[Any]] | None: ...
