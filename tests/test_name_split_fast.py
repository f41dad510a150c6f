"""split_name's shortcut (two plain words, any script, hyphens) gives what nameparser gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nameparser import HumanName

from leadbase.dedupe import normalise as norm

_LETTERS = "abcdeéèëfghiíïjklłmnñoóöøpqrsßtuúüvwxyzçåæœ"
_PART = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([c.upper() for c in _LETTERS if c.upper() != c] + ["Ł", "Ø", "Ö"]),
    st.text(alphabet=_LETTERS + "ABCDLMNR", min_size=1, max_size=12),
)
_WORD = st.one_of(_PART, st.builds(lambda a, b: f"{a}-{b}", _PART, _PART))
# Words nameparser reads as more than a name, written as names are.
_SPECIAL = st.sampled_from(["Van", "De", "Dr", "Mr", "Jr", "Sr", "Iv", "Li", "Md", "Von", "Bin"])


def nameparser_split(full: str) -> tuple[str | None, str | None]:
    parsed = HumanName(full)
    return norm.clean_text(parsed.first) or None, norm.clean_text(parsed.last) or None


@settings(max_examples=400)
@given(st.one_of(_WORD, _SPECIAL), st.one_of(_WORD, _SPECIAL))
def test_shortcut_agrees_with_nameparser(first: str, last: str) -> None:
    full = f"{first} {last}"
    assert norm.split_name.__wrapped__(full) == nameparser_split(full)


@pytest.mark.parametrize(
    "full",
    [
        "Zoë MacDonald",
        "Tim Berners-Lee",
        "Mary-Jane Watson-Parker",
        "Jürgen Müller",
        "Łukasz Żak",
        "Ολυμπία Παπαδοπούλου",
        "Иван Петров",
        "John Li",
        "Jean-de Berg",
        "Dr-Ing Weber",
        "Anna van-Dyke",
        "Al Gore-",
    ],
)
def test_names_people_have_split_as_nameparser_splits_them(full: str) -> None:
    assert norm.split_name.__wrapped__(full) == nameparser_split(full)
