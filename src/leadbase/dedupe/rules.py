"""Duplicate rules: how much each field counts and the two thresholds.

A pair of leads gets a score from 0 to 1 (``dedupe.score.compare``): at or
above ``high`` it is merged automatically, between ``low`` and ``high`` it
goes to the review queue, below ``low`` it is no match.

The defaults below are built in; ``LEADBASE_DEDUPE_RULES`` may name a TOML
or JSON file that overrides any of them, e.g.::

    high = 0.85
    low = 0.7
    [weights]
    name = 3.0
    phone = 1.0

and ``LEADBASE_DEDUPE_HIGH`` / ``LEADBASE_DEDUPE_LOW`` override the two
thresholds. A file that cannot be read or says something unknown stops the
program with a message naming the file and the problem.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from leadbase.config import get_settings
from leadbase.errors import LeadbaseError

# How much each field's similarity counts in a pair's score (see score.py).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "name": 3.0,
    "company": 2.0,
    "domain": 2.0,
    "street": 2.0,
    "address_line2": 0.5,
    "city": 1.0,
    "postal_code": 1.5,
    "state": 0.5,
    "country": 0.5,
    "phone": 2.0,
}


# Keys that say "the same lead" on their own (score 1, merged): the same
# canonical email, LinkedIn URL, provider record, or phone. A shared phone
# counts only when the two leads' emails and LinkedIn URLs do not differ and
# their names share an initial (one lead may have none): an office
# switchboard is shared by people who are not one another.
EXACT_KEYS = ("email", "linkedin_url", "provider_record", "phone")


class RulesError(LeadbaseError):
    """The configured rules cannot be used: a deployment error, not the caller's."""

    status_code = 500
    code = "dedupe_rules_invalid"


@dataclass(frozen=True)
class Rules:
    # At or above: merge automatically.
    high: float = 0.7
    # Between low and high: review queue; below: no match.
    low: float = 0.55
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    # The exact rules in force: any of EXACT_KEYS.
    exact: tuple[str, ...] = EXACT_KEYS
    # The weight of evidence a full score needs: a pair that agrees on less
    # (a name alone weighs 3) scores at most its weight over this, so a
    # shared name with nothing else to go by is never a match.
    min_weight: float = 6.0
    # Blocks (leads sharing one key) larger than this are compared by a
    # sorted-neighbourhood window of ``window`` leads instead of all pairs.
    max_block: int = 50
    window: int = 10

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise RulesError("; ".join(problems))


def _problems(rules: Rules) -> list[str]:
    problems = []
    if not 0 < rules.low <= rules.high <= 1:
        problems.append(f"need 0 < low <= high <= 1 (low {rules.low}, high {rules.high})")
    unknown = sorted(set(rules.weights) - set(DEFAULT_WEIGHTS))
    if unknown:
        problems.append(
            f"unknown weights {', '.join(unknown)} (known: {', '.join(DEFAULT_WEIGHTS)})"
        )
    if any(not isinstance(w, int | float) or w < 0 for w in rules.weights.values()):
        problems.append("weights must be numbers >= 0")
    unknown_exact = sorted(set(rules.exact) - set(EXACT_KEYS))
    if unknown_exact:
        problems.append(
            f"unknown exact keys {', '.join(unknown_exact)} (known: {', '.join(EXACT_KEYS)})"
        )
    if rules.min_weight <= 0:
        problems.append("min_weight must be > 0")
    if rules.max_block < 2 or rules.window < 1:
        problems.append("max_block must be >= 2 and window >= 1")
    return problems


_SCALARS = {f.name: f.type for f in fields(Rules) if f.name not in ("weights", "exact")}


def rules_from_mapping(data: Mapping[str, Any]) -> Rules:
    """Rules from a parsed file: the defaults, with what it sets replaced."""
    unknown = sorted(set(data) - set(_SCALARS) - {"weights", "exact"})
    if unknown:
        raise RulesError(f"unknown settings {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for name in _SCALARS:
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RulesError(f"{name} must be a number, not {value!r}")
            changes[name] = int(value) if name in ("max_block", "window") else float(value)
    weights = data.get("weights", {})
    if not isinstance(weights, Mapping):
        raise RulesError("weights must be a table of field = number")
    changes["weights"] = {**DEFAULT_WEIGHTS, **weights}
    if "exact" in data:
        exact = data["exact"]
        if not isinstance(exact, list) or not all(isinstance(key, str) for key in exact):
            raise RulesError(f"exact must be a list of key names, not {exact!r}")
        changes["exact"] = tuple(exact)
    return replace(Rules(), **changes)


def read_rules_file(path: Path) -> Rules:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:  # JSON and TOML decode errors are ValueErrors
        raise RulesError(f"duplicate rules file {path}: {exc}") from None
    if not isinstance(data, Mapping):
        raise RulesError(f"duplicate rules file {path}: expected a table of settings")
    try:
        return rules_from_mapping(data)
    except RulesError as exc:
        raise RulesError(f"duplicate rules file {path}: {exc.message}") from None


@lru_cache(maxsize=8)
def _load(path: str | None, mtime: float | None, high: float | None, low: float | None) -> Rules:
    rules = read_rules_file(Path(path)) if path else Rules()
    if high is not None:
        rules = replace(rules, high=high)
    if low is not None:
        rules = replace(rules, low=low)
    return rules


def load_rules() -> Rules:
    """The rules in force: the settings' file (re-read when it changes), else the defaults."""
    settings = get_settings()
    path = settings.dedupe_rules
    mtime = None
    if path is not None:
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise RulesError(f"duplicate rules file {path}: {exc.strerror}") from None
    return _load(str(path) if path else None, mtime, settings.dedupe_high, settings.dedupe_low)
