"""The in-memory scan's features and verdicts, worked out a column at a time.

``score.features_of`` and ``score.compare_features`` handle one lead and
one pair: Python's cost per call (a tuple, a dozen branches, a rapidfuzz
call per field) is most of a small scan's time. Here the same work is done
for every lead (``FeatureColumns``) and every pair (``BatchScorer``) at
once: a few passes of C per field (``str`` methods on the values joined
into one string, values compared as integer codes, ``rapidfuzz.process.cpdist``
over the pairs whose values differ, numpy arithmetic), with Python per
value only where a value needs it (non-ASCII text, a name to split, a pair
to write reasons for). The results are those of ``score``, to the last bit:
the same float operations in the same order, element by element; tests
hold the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import compress, repeat
from string import ascii_lowercase
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from leadbase.dedupe import keys
from leadbase.dedupe import normalise as norm
from leadbase.dedupe.rules import Rules
from leadbase.dedupe.score import (
    _DIGITS,
    _STREET_WORDS,
    _WORDS,
    EXACT_REASONS,
    FEATURE_FIELDS,
    Features,
    Verdict,
    _exact,
    _first_names_differ,
    _fold,
    _identities_differ,
    _other_people,
    _postcode,
    _postcode_sim,
    _reason,
)

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
Ints = NDArray[np.int64]
_F = {name: at for at, name in enumerate(Features._fields)}

# --- features, a column at a time -------------------------------------------------

# ASCII text in bulk: the values joined by a newline (a value holding one
# goes the slow way), so one call of C folds them all.
_SEP = "\n"
# What is not a letter (_WORDS' complement) in lower-case ASCII, line breaks aside.
_NOT_LETTERS = [chr(c) for c in range(128) if not ("a" <= chr(c) <= "z" or chr(c) == _SEP)]
_NOT_LETTERS_GONE = str.maketrans(dict.fromkeys(_NOT_LETTERS))
# Split into words, a line's end a word of its own ("|", not a letter, so
# from nothing else: every "|" written is a space).
_END = "|"
_NOT_LETTERS_TO_SPACE = str.maketrans({**dict.fromkeys(_NOT_LETTERS, " "), _SEP: _END})
_END_WORD = f" {_END} "  # one character for one in translate: its fast path
_HOUSE_LINES = re.compile(r"^[^0-9\n]*([0-9]+[a-z]?)?", re.MULTILINE)  # _DIGITS, per line


def _bulk_map(
    values: Sequence[str | None],
    bulk: Callable[[str], list[Any]],
    one: Callable[[str], Any],
) -> list[Any]:
    """``one(v)`` of each value (None for none): the plain ASCII values
    without a newline all at once, ``bulk`` of them joined by newlines and
    lower-cased (it gives one result a line), the others one by one."""
    count = len(values)
    at = _present(values)
    texts: list[str] = [values[i] for i in at]  # type: ignore[misc]
    joined = _SEP.join(texts)
    if joined.isascii() and joined.count(_SEP) == len(texts) - 1:
        return _spread(count, at, bulk(joined.lower()))
    plain = [i for i, text in zip(at, texts, strict=True) if text.isascii() and _SEP not in text]
    result = [None] * count
    if plain:
        lines = bulk(_SEP.join([values[i] for i in plain]).lower())  # type: ignore[misc]
        result = _spread(count, plain, lines)
    for i in set(at).difference(plain):
        result[i] = one(values[i])  # type: ignore[arg-type]
    return result


def _present(column: Sequence[Any]) -> list[int]:
    return list(compress(range(len(column)), column))


def _spread(count: int, at: list[int], found: Sequence[Any]) -> list[Any]:
    """A column of ``count`` Nones with ``found`` placed at positions ``at``."""
    if len(found) != len(at):  # pragma: no cover - a guard: one result a line
        raise ValueError("one result a value expected")
    if len(at) == count:  # every position, in order
        return list(found)
    result: list[Any] = [None] * count
    for position, value in zip(at, found, strict=True):
        result[position] = value
    return result


def _spaced(joined: str) -> list[str]:
    """The words of lower-case ASCII lines (letters only), each line's end
    a "|" of its own: ``str.split`` in C, not a regular expression."""
    return joined.translate(_NOT_LETTERS_TO_SPACE).replace(_END, _END_WORD).split()


def _lines(words: Iterable[str]) -> list[str | None]:
    """Each line's words (see _spaced) joined by one space, None for none."""
    return [line or None for line in map(str.strip, " ".join(words).split(_END))]


def _words(joined: str) -> list[str | None]:
    """Each line's letters-only words joined by one space (None for none):
    ``" ".join(_WORDS.findall(line)) or None`` for lower-case ASCII lines."""
    return _lines(_spaced(joined))


def _scan_letters(word: str) -> str | None:
    """``keys.letters`` of a word, without its memo and, for plain ASCII,
    without Unicode folding (it comes down to lower case there)."""
    if word.isascii():
        return "".join(_WORDS.findall(word.lower()[: norm.SORT_KEY_MAX])) or None
    return keys.letters(word)


def _letters_bulk(joined: str) -> list[str | None]:
    return [x or None for x in joined.translate(_NOT_LETTERS_GONE).split(_SEP)]


def _name_letters(words: set[str]) -> dict[str, str | None]:
    """Each name word's ``keys.letters``, all at once."""
    plain = [w for w in words if w]
    short = [w if len(w) <= norm.SORT_KEY_MAX else None for w in plain]
    found = _bulk_map(short, _letters_bulk, _scan_letters)
    table = dict(zip(plain, found, strict=True))
    for word in plain:
        if len(word) > norm.SORT_KEY_MAX:
            table[word] = _scan_letters(word)
    return table


def _folded(values: Sequence[str | None]) -> list[str | None]:
    """``score._fold`` of each value (None stays None)."""
    return _bulk_map(values, _words, _fold)


def _few_folded(values: Sequence[str | None]) -> list[str | None]:
    """``score._fold`` of each value, once per distinct value (cities, states)."""
    distinct = [v for v in set(values) if v]
    table: dict[str | None, str | None] = dict(zip(distinct, _folded(distinct), strict=True))
    return list(map(table.get, values))


def _streets(values: Sequence[str | None]) -> tuple[list[str | None], list[str | None]]:
    """``score._street`` of each value: (words spelled out, house number)."""
    found = _bulk_map(values, _streets_bulk, _one_street)
    return [f[0] if f else None for f in found], [f[1] if f else None for f in found]


def _streets_bulk(joined: str) -> list[tuple[str | None, str | None]]:
    houses = [h or None for h in _HOUSE_LINES.findall(joined)]
    words = _spaced(joined)
    spelled = _lines(map(_STREET_WORDS.get, words, words))  # "st" -> "street"
    return list(zip(spelled, houses, strict=True))


def _one_street(street: str) -> tuple[str | None, str | None]:
    """``score._street`` of a street, without its memo."""
    folded = street.lower() if street.isascii() else (norm.sort_key(street) or "")
    number = _DIGITS.search(folded)
    words = _WORDS.findall(folded)
    return " ".join(map(_STREET_WORDS.get, words, words)) or None, (
        number.group(0) if number else None
    )


class FeatureColumns:
    """``score.Features`` of every lead, field by field: ``columns[f][i]`` is
    field f of lead i (``Features._fields`` order)."""

    def __init__(self, columns: Sequence[list[Any]], count: int) -> None:
        self.columns, self.count = tuple(columns), count
        self.first, self.last = self.columns[_F["first"]], self.columns[_F["last"]]
        self._some: dict[str, bool] = {}
        # Codes of the values (see _coded), shared by all columns.
        self._table: dict[Any, int] = {None: -1, "": -1}
        self._codes: dict[str, Ints] = {}
        self._nicks: dict[str, Ints] = {}
        self._initials: dict[str, tuple[Bools, Ints]] = {}

    @classmethod
    def of_features(cls, features: Sequence[Features]) -> FeatureColumns:
        if not features:
            return cls([[] for _ in Features._fields], 0)
        return cls([list(c) for c in zip(*features, strict=True)], len(features))

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]], layout: Mapping[str, int]) -> FeatureColumns:
        """The features of rows whose FEATURE_FIELDS are where ``layout`` says:
        ``score.features_of`` of each row's values."""
        return cls.of_table(list(zip(*rows, strict=True)), layout, len(rows))

    @classmethod
    def of_table(
        cls, table: Sequence[Sequence[Any]], layout: Mapping[str, int], count: int
    ) -> FeatureColumns:
        """``of_rows`` of rows given column by column (``table[c][i]``)."""
        nothing: list[Any] = [None] * count
        (
            first_name,
            last_name,
            full_name,
            email,
            linkedin_url,
            provider_name,
            external_id,
            phone,
            company_name,
            company_domain,
            street,
            address_line2,
            city,
            state,
            postal_code,
            country,
            key_email,
            key_domain,
        ) = (table[layout[name]] if count else nothing for name in FEATURE_FIELDS)
        firsts, lasts = list(first_name), list(last_name)
        for at in compress(range(count), full_name):
            if not firsts[at] and not lasts[at]:
                firsts[at], lasts[at] = norm.split_name(full_name[at])
        letters = _name_letters({*firsts, *lasts} - {None})
        streets, houses = _streets(street)
        some = any
        columns = (
            list(map(_email, key_email, email)) if some(key_email) or some(email) else nothing,
            list(linkedin_url),
            [(p, e) if p and e else None for p, e in zip(provider_name, external_id, strict=True)]
            if some(provider_name)
            else nothing,
            list(map(letters.get, firsts)),
            list(map(letters.get, lasts)),
            list(phone),
            [norm.company_name_key(c) if c else None for c in company_name]
            if some(company_name)
            else nothing,
            [
                d or (keys.company_domain_key(c, e) if c or e else None)
                for d, c, e in zip(key_domain, company_domain, email, strict=True)
            ]
            if some(key_domain) or some(company_domain) or some(email)
            else nothing,
            streets,
            houses,
            _folded(address_line2),
            _few_folded(city),
            _postcodes_of(postal_code),
            _few_folded(state),
            _few_folded(country),
        )
        return cls(columns, count)

    def features(self, at: int) -> Features:
        return Features(*(column[at] for column in self.columns))

    def some(self, field: str) -> bool:
        """Whether any lead has this field."""
        found = self._some.get(field)
        if found is None:
            found = self._some[field] = any(self.columns[_F[field]])
        return found

    def _coded(self, values: Sequence[Any]) -> Ints:
        """Each value's code, -1 for none: equal values, equal codes, in
        every column (a street is compared with a second line)."""
        table = self._table
        new = set(values).difference(table)
        table.update(zip(new, range(len(table), len(table) + len(new)), strict=True))
        return np.fromiter(map(table.__getitem__, values), dtype=np.int64, count=len(values))

    def codes(self, field: str) -> Ints:
        found = self._codes.get(field)
        if found is None:
            found = self._codes[field] = self._coded(self.columns[_F[field]])
        return found

    def nick_codes(self, field: str) -> Ints:
        """Codes of a name column's values as first names are compared
        (a nickname read as the full name)."""
        found = self._nicks.get(field)
        if found is None:
            nick = keys.NICKNAMES.get
            names = self.columns[_F[field]]
            found = self._nicks[field] = self._coded(list(map(nick, names, names)))
        return found

    def initial_codes(self, field: str) -> tuple[Bools, Ints]:
        """(is one letter, its first letter's code point or -1) of each
        value of a name column."""
        found = self._initials.get(field)
        if found is None:
            names = [n or "" for n in self.columns[_F[field]]]
            lengths = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
            firsts = self._coded([n[:1] for n in names])
            found = self._initials[field] = (lengths == 1, firsts)
        return found

    def initials(self) -> list[tuple[str, str]]:
        """``score.initials_of`` of each lead."""
        return [
            (f[0] if f else "", n[0] if n else "")
            for f, n in zip(self.first, self.last, strict=True)
        ]


def _email(key_email: str | None, email: str | None) -> str | None:
    return key_email or (keys.canonical_email(email) if email else None)


def _postcodes_of(values: Sequence[str | None]) -> list[str | None]:
    """``score._postcode`` of each value, once per distinct value."""
    table: dict[str | None, str | None] = {v: _postcode(v) for v in set(values) if v}
    return list(map(table.get, values))


# --- the scan's name neighbourhood: names and places, a column at a time ----------

_HOUSE_DIGITS = re.compile(r"^[^0-9\n]*([0-9]+)?", re.MULTILINE)  # the first number, per line
_FIRST_NUMBER = re.compile(r"\d+")


def fold_names(values: Sequence[str | None]) -> list[str]:
    """``scan._fold_name`` of each value ("" for none): lower case for plain
    ASCII, ``normalise.sort_key`` for the rest; once per distinct value."""
    table = {v: (v.lower() if v.isascii() else (norm.sort_key(v) or "")) for v in set(values) if v}
    return list(map(table.get, values, repeat("")))  # type: ignore[arg-type]


def _house_bulk(joined: str) -> list[str | None]:
    return [h or None for h in _HOUSE_DIGITS.findall(joined)]


def _house_one(street: str) -> str | None:
    found = _FIRST_NUMBER.search(street)
    return found.group(0) if found else None


def houses(values: Sequence[str | None]) -> list[str | None]:
    """The house number (a street's first number) of each value, or None."""
    return _bulk_map(values, _house_bulk, _house_one)


def place_houses(streets: Sequence[str | None], numbered: Sequence[str | None]) -> list[str | None]:
    """``houses(streets)``, taken from the features' house numbers
    (``numbered``: the first number and the letter after it) when every
    street is plain ASCII (then the number is the same digits)."""
    if not "".join(filter(None, streets)).isascii():
        return houses(streets)
    table: dict[str | None, str | None] = {h: h.rstrip(ascii_lowercase) for h in set(numbered) if h}
    return list(map(table.get, numbered))


def place_codes(values: Sequence[Any]) -> Ints:
    """Codes of a place column: equal values, equal codes (0 up); a value
    missing (None, "") is a code of its own (below 0), equal to no other."""
    count = len(values)
    if not any(values):  # no lead has this place (a company, a domain)
        return -1 - np.arange(count, dtype=np.int64)
    table = {v: at for at, v in enumerate(set(values)) if v}
    codes = np.fromiter(map(table.get, values, repeat(-1)), dtype=np.int64, count=count)
    return np.where(codes < 0, -1 - np.arange(count, dtype=np.int64), codes)


# --- verdicts, a field at a time ---------------------------------------------------


class _Side:
    """One side of every pair: each field's codes (see FeatureColumns.codes)
    of the pairs' leads on that side, gathered when first asked."""

    def __init__(self, columns: FeatureColumns, at: Ints) -> None:
        self.columns, self.at = columns, at
        self.gathered: dict[str, Ints] = {}

    def __call__(self, field: str) -> Ints:
        found = self.gathered.get(field)
        if found is None:
            found = self.gathered[field] = self.columns.codes(field)[self.at]
        return found

    def values(self, field: str, which: Ints) -> list[Any]:
        """The field's values of the pairs ``which`` (positions in the pairs)."""
        column = self.columns.columns[_F[field]]
        return list(map(column.__getitem__, self.at[which].tolist()))


def _cpdist(a: list[Any], b: list[Any], scorer: Callable[..., float]) -> Floats:
    return np.asarray(cpdist(a, b, scorer=scorer, dtype=np.float64, workers=1), dtype=np.float64)


class BatchScorer:
    """``score.compare_features`` with these rules over many pairs at once."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        weights = rules.weights
        self.w = {field: float(weights.get(field, 0.0)) for field in _WEIGHED}
        self.exact_verdicts = {
            reason: Verdict(1.0, (reason,), "merge") for reason in EXACT_REASONS.values()
        }
        self.reasons: dict[str, dict[float, str | None]] = {}
        self.verdicts: dict[tuple[float, tuple[str, ...], str], Verdict] = {}

    def __call__(
        self, columns: FeatureColumns, left: Sequence[int] | Ints, right: Sequence[int] | Ints
    ) -> list[Verdict | None]:
        """The verdict on each pair (left[k], right[k]) of leads' positions."""
        count = len(left)
        if not count:
            return []
        a = _Side(columns, np.asarray(left, dtype=np.int64))
        b = _Side(columns, np.asarray(right, dtype=np.int64))
        run = _Run(self, columns, a, b, count)
        return run.verdicts()

    def _text(
        self, a: _Side, b: _Side, fa: str, fb: str, only: Bools | None = None
    ) -> tuple[Bools, Floats]:
        """(both there, score._text_sim) of field fa on one side, fb on the other."""
        return self._similar(a, b, fa, fb, _text_ratio, only)

    def _similar(
        self,
        a: _Side,
        b: _Side,
        fa: str,
        fb: str,
        similar: Callable[[list[Any], list[Any]], Floats],
        only: Bools | None = None,
    ) -> tuple[Bools, Floats]:
        """(both there, 1 where equal, else ``similar`` of the two values) of
        field fa on one side and fb on the other; only for the pairs ``only``
        (when given) are values that differ compared (0 for the others)."""
        ca, cb = a(fa), b(fb)
        both = (ca >= 0) & (cb >= 0)
        sims = np.where(ca == cb, 1.0, 0.0)
        differ = both & (ca != cb)
        if only is not None:
            differ &= only
        at = np.flatnonzero(differ)
        if at.size:
            sims[at] = similar(a.values(fa, at), b.values(fb, at))
        return both, sims


def _text_ratio(a: list[Any], b: list[Any]) -> Floats:
    return _cpdist(a, b, fuzz.token_sort_ratio) / 100


def _jw_squared(a: list[Any], b: list[Any]) -> Floats:
    jw = _cpdist(a, b, JaroWinkler.similarity)
    return jw * jw


def _postcodes(a: list[Any], b: list[Any]) -> Floats:
    return np.fromiter(map(_postcode_sim, a, b), dtype=np.float64, count=len(a))


_WEIGHED = (
    *("name", "company", "domain", "street", "address_line2"),
    *("city", "postal_code", "state", "country", "phone"),
)


class _Run:
    """One batch's similarities, totals and weights, field by field."""

    def __init__(
        self, scorer: BatchScorer, columns: FeatureColumns, a: _Side, b: _Side, count: int
    ) -> None:
        self.scorer, self.columns, self.a, self.b, self.count = scorer, columns, a, b, count
        self.total, self.weighed = np.zeros(count), np.zeros(count)
        # Each field's (name, whether it counts, similarity), in compare_features' order.
        self.counted: list[tuple[str, Bools, Floats]] = []
        self.employer = np.zeros(count, dtype=bool)
        self.employer_w, self.employer_s = np.zeros(count), np.zeros(count)

    def add(self, field: str, has: Bools, sims: Floats, weight: Any = None) -> None:
        weight = self.scorer.w[field] if weight is None else weight
        self.counted.append((field, has, sims))
        self.total = np.where(has, self.total + weight * sims, self.total)
        self.weighed = np.where(has, self.weighed + weight, self.weighed)

    def some(self, field: str) -> bool:
        return self.columns.some(field)

    def verdicts(self) -> list[Verdict | None]:
        scorer, w, a, b = self.scorer, self.scorer.w, self.a, self.b
        exact = self.exact()
        if w["name"] and (self.some("first") or self.some("last")):
            self.add("name", *self.names())
        if w["company"] and self.some("company"):
            has, sims = scorer._text(a, b, "company", "company")
            self.add("company", has, sims)
            self.employer, self.employer_w = has, np.where(has, w["company"], 0.0)
            self.employer_s = np.where(has, sims, 0.0)
        if w["domain"] and self.some("domain"):
            self.domain()
        self.address()
        for field, feature, similar in (
            ("city", "city", _jw_squared),
            ("postal_code", "postcode", _postcodes),
            ("state", "state", None),
            ("country", "country", None),
            ("phone", "phone", None),
        ):
            if w[field] and self.some(feature):
                if similar is None:
                    ca, cb = a(feature), b(feature)
                    has, sims = (ca >= 0) & (cb >= 0), np.where(ca == cb, 1.0, 0.0)
                else:
                    has, sims = scorer._similar(a, b, feature, feature, similar)
                self.add(field, has, sims)
        rules = scorer.rules
        weighed = self.weighed
        ratio = self.total / np.where(weighed > rules.min_weight, weighed, rules.min_weight)
        return _Verdicts(self, exact, ratio).found

    def exact(self) -> dict[int, Verdict]:
        """The pairs an exact rule settles: their verdict by position."""
        found: dict[int, Verdict] = {}
        scorer, a, b = self.scorer, self.a, self.b
        for field, rule in (
            ("email", "email"),
            ("linkedin", "linkedin_url"),
            ("provider_record", "provider_record"),
            ("phone", "phone"),
        ):
            if rule not in scorer.rules.exact or not self.some(field):
                continue
            ca, cb = a(field), b(field)
            for k in np.flatnonzero((ca >= 0) & (ca == cb)).tolist():
                if k in found:
                    continue
                if rule == "phone":
                    reason = _exact(*self.features(k), ("phone",))
                    if reason:
                        found[k] = scorer.exact_verdicts[reason]
                else:
                    found[k] = scorer.exact_verdicts[EXACT_REASONS[rule]]
        return found

    def features(self, k: int) -> tuple[Features, Features]:
        columns = self.columns
        return columns.features(int(self.a.at[k])), columns.features(int(self.b.at[k]))

    def names(self) -> tuple[Bools, Floats]:
        """(both have a name, score.name_similarity) of each pair."""
        a, b = self.a, self.b
        af, al, bf, bl = a("first") >= 0, a("last") >= 0, b("first") >= 0, b("last") >= 0
        has = (af | al) & (bf | bl)
        # _name_pair(a_first, a_last, b_first, b_last), then with b's two swapped
        straight = _name_pairs(al & bl, af & bf, self.last_sims("last"), self.first_sims("first"))
        swapped = _name_pairs(al & bf, af & bl, self.last_sims("first"), self.first_sims("last"))
        return has, np.where(straight < 0.9, np.maximum(straight, swapped), straight)

    def last_sims(self, b_field: str) -> Floats:
        """score._jw of a's last name and b's ``b_field`` ("first" or "last")."""
        return self.scorer._similar(self.a, self.b, "last", b_field, _jw_squared)[1]

    def first_sims(self, b_field: str) -> Floats:
        """score._first_sim of a's first name and b's ``b_field``."""
        a, b, columns = self.a, self.b, self.columns
        both = (a("first") >= 0) & (b(b_field) >= 0)
        same = columns.nick_codes("first")[a.at] == columns.nick_codes(b_field)[b.at]
        one_a, initial_a = columns.initial_codes("first")
        one_b, initial_b = columns.initial_codes(b_field)
        short = one_a[a.at] | one_b[b.at]
        initials = np.where(initial_a[a.at] == initial_b[b.at], 0.8, 0.0)
        sims = np.where(same, 1.0, np.where(short, initials, 0.0))
        far = np.flatnonzero(both & ~same & ~short)
        if far.size:
            jw = _cpdist(a.values("first", far), b.values(b_field, far), JaroWinkler.similarity)
            sims[far] = np.maximum(0.0, (jw - 0.7) / 0.3)
        return sims

    def domain(self) -> None:
        a, b, w = self.a, self.b, self.scorer.w
        ca, cb = a("domain"), b("domain")
        has, sims = (ca >= 0) & (cb >= 0), np.where(ca == cb, 1.0, 0.0)
        self.counted.append(("domain", has, sims))
        again = has & self.employer
        ew, es = self.employer_w, self.employer_s
        self.total = np.where(again, self.total - ew * es, self.total)
        self.weighed = np.where(again, self.weighed - ew, self.weighed)
        # max(employer, (weight, similarity), key=similarity): the first on a tie
        keep = again & (es >= sims)
        weight = np.where(keep, ew, w["domain"])
        held = np.where(keep, es, sims)
        self.employer_w, self.employer_s = np.where(has, weight, ew), np.where(has, held, es)
        self.employer = self.employer | has
        self.total = np.where(has, self.total + weight * held, self.total)
        self.weighed = np.where(has, self.weighed + weight, self.weighed)

    def address(self) -> None:
        """Street and second line, each the better of itself and the two
        written the other way round (score._swapped_lines)."""
        scorer, w, a, b, count = self.scorer, self.scorer.w, self.a, self.b, self.count
        has_street = has_line2 = np.zeros(count, dtype=bool)
        street = line2 = np.zeros(count)
        if w["street"] and (self.some("street") or self.some("house")):
            streets, words = scorer._text(a, b, "street", "street")
            ha, hb = a("house"), b("house")
            houses = (ha >= 0) & (hb >= 0)
            house = np.where(ha == hb, 1.0, 0.0)
            street = np.where(
                houses,
                np.where(streets, 0.4 * house + 0.6 * words, house),
                np.where(streets, words, 0.0),
            )
            has_street = streets | houses
        if w["address_line2"] and self.some("line2"):
            has_line2, line2 = scorer._text(a, b, "line2", "line2")
        if self.some("line2"):
            either = (a("line2") >= 0) | (b("line2") >= 0)
            short = either & ((has_street & (street < 1.0)) | (has_line2 & (line2 < 1.0)))
            if short.any():
                one = np.where(*scorer._text(a, b, "street", "line2", short), 0.0)
                other_has, other = scorer._text(a, b, "line2", "street", short)
                swapped = np.maximum(one, np.where(other_has, other, -1.0))
                street = np.where(short & has_street & (swapped > street), swapped, street)
                line2 = np.where(short & has_line2 & (swapped > line2), swapped, line2)
        if has_street.any():
            self.add("street", has_street, street)
        if has_line2.any():
            self.add("address_line2", has_line2, line2)


class _Verdicts:
    """The verdicts of a run's pairs from their scores: the reasons, the
    differing-identities rules and the action of the pairs at or above
    ``rules.low``. Reasons are written once per (field, similarity) and
    verdicts made once per (score, reasons, action): most repeat."""

    def __init__(self, run: _Run, exact: dict[int, Verdict], ratio: Floats) -> None:
        self.run, self.scorer = run, run.scorer
        rules = self.scorer.rules
        self.found: list[Verdict | None] = [None] * run.count
        for k, verdict in exact.items():
            self.found[k] = verdict
        # round(x, 4) < low for every x this far below: only the rest are rounded.
        near = np.flatnonzero(ratio >= rules.low - 0.001)
        scores = list(map(round, ratio[near].tolist(), repeat(4, near.size)))
        kept = [
            (k, score)
            for k, score in zip(near.tolist(), scores, strict=True)
            if score >= rules.low and k not in exact
        ]
        if not kept:
            return
        at = np.array([k for k, _ in kept], dtype=np.int64)
        # Each counted field's reason of each kept pair (None: not counted).
        written = [self.reasons(field, has[at], sims[at]) for field, has, sims in run.counted]
        whys: Iterator[tuple[str, ...]] = (
            map(tuple, map(partial(filter, None), zip(*written, strict=True)))
            if written
            else repeat(())
        )
        if run.some("email") or run.some("linkedin") or run.employer.any():
            self.one_by_one(kept, at, whys)
            return
        high, verdicts, found = rules.high, self.scorer.verdicts, self.found
        for (k, score), why in zip(kept, whys, strict=False):
            action = "merge" if score >= high else "review"
            key = (score, why, action)
            known = verdicts.get(key)
            if known is None:
                known = verdicts[key] = Verdict(score, why, action)  # type: ignore[arg-type]
            found[k] = known

    def reasons(self, field: str, has: Bools, sims: Floats) -> list[str | None]:
        """score._reason of each similarity counted, None where not counted."""
        table = self.scorer.reasons.setdefault(field, {-1.0: None})
        values = np.where(has, sims, -1.0).tolist()
        for value in set(values).difference(table):
            table[value] = _reason(field, value)
        return list(map(table.__getitem__, values))

    def one_by_one(
        self, kept: list[tuple[int, float]], at: Ints, whys: Iterator[tuple[str, ...]]
    ) -> None:
        """Pairs that may differ in identity (emails, LinkedIn URLs) or have
        an employer: compare_features' last steps, pair by pair."""
        run, rules, verdicts = self.run, self.scorer.rules, self.scorer.verdicts
        fields = [field for field, _, _ in run.counted]
        values = [np.where(has[at], sims[at], -1.0).tolist() for _, has, sims in run.counted]
        employers = np.where(run.employer[at], run.employer_s[at], -1.0).tolist()
        rows = zip(*values, strict=True) if values else repeat(())
        for (k, score), sims, held, why in zip(kept, rows, employers, whys, strict=False):
            pair = run.features(k)
            differ = _identities_differ(*pair)
            if differ:
                here = [(f, s) for f, s in zip(fields, sims, strict=True) if s != -1.0]
                if _other_people(here, None if held == -1.0 else (0.0, held)):
                    continue
            if (
                differ is None
                and score >= rules.high
                and held != -1.0
                and _first_names_differ(*pair)
            ):
                differ = "different first names"
            reasons = (*why, differ) if differ else why
            action = "merge" if score >= rules.high and not differ else "review"
            key = (score, reasons, action)
            verdict = verdicts.get(key)
            if verdict is None:
                verdict = verdicts[key] = Verdict(score, reasons, action)  # type: ignore[arg-type]
            self.found[k] = verdict


def _name_pairs(lasts: Bools, firsts: Bools, last: Floats, first: Floats) -> Floats:
    """score._name_pair of each pair, from its parts."""
    return np.where(
        lasts,
        np.where(firsts, (first + last) / 2, 0.9 * last),
        np.where(firsts, 0.8 * first, 0.0),
    )
