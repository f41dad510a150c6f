"""Field normalisers: canonical forms make duplicates comparable."""

from __future__ import annotations

from pathlib import Path

import idna
import pytest
import tldextract
from hypothesis import given
from hypothesis import strategies as st

from leadbase.dedupe import normalise as norm
from leadbase.dedupe.merge import merged_values
from leadbase.errors import ValidationError


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Example.COM", "example.com"),
        ("https://www.example.com/path?q=1", "example.com"),
        ("sub.example.co.uk.", "sub.example.co.uk"),
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_domains(raw: str, canonical: str) -> None:
    assert norm.normalise_domain(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    ["localhost", "exa mple.com", "-bad.com", "example.123", "", "a" * 300 + ".com", "w)[x.com"],
)
def test_bad_domains(raw: str) -> None:
    with pytest.raises(ValidationError):
        norm.normalise_domain(raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("https://www.linkedin.com/in/jane-doe/", "https://www.linkedin.com/in/jane-doe"),
        ("linkedin.com/in/Jane-Doe?utm=1", "https://www.linkedin.com/in/jane-doe"),
        ("http://de.linkedin.com/company/ACME", "https://www.linkedin.com/company/acme"),
    ],
)
def test_linkedin(raw: str, canonical: str) -> None:
    assert norm.normalise_linkedin_url(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "https://linkedin.evil.com/in/x",
        "https://www.linkedin.com/feed/",
        "https://[linkedin.com/in/x",
    ],
)
def test_bad_linkedin(raw: str) -> None:
    with pytest.raises(ValidationError):
        norm.normalise_linkedin_url(raw)


def test_phone_regions() -> None:
    assert norm.normalise_phone("(650) 253-0000") == "+16502530000"
    assert norm.normalise_phone("030 901820", "DE") == "+4930901820"
    with pytest.raises(ValidationError):
        norm.normalise_phone("+1 000")


@given(st.emails())
def test_valid_emails_normalise_idempotently(email: str) -> None:
    try:
        once = norm.normalise_email(email)
    except ValidationError:
        return  # hypothesis' grammar is wider than deliverable-looking addresses
    assert norm.normalise_email(once) == once
    assert once == once.lower()


@given(st.text(max_size=40))
def test_clean_text_is_idempotent(text: str) -> None:
    once = norm.clean_text(text)
    assert norm.clean_text(once) == once


def test_merge_never_loses_stored_values() -> None:
    existing = {"email": "a@x.com", "title": "CTO", "tags": ["a"], "verified": True, "city": None}
    incoming = {
        "email": "b@x.com",
        "title": "CEO",
        "tags": ["b"],
        "verified": False,
        "city": "Rome",
    }
    merged = {**existing, **merged_values(existing, incoming)}
    assert merged["email"] == "a@x.com" and merged["title"] == "CTO"
    assert merged["additional_emails"] == ["b@x.com"]
    assert merged["tags"] == ["a", "b"] and merged["verified"] is True and merged["city"] == "Rome"


_WORD = st.from_regex(r"[A-Z][a-z]{1,9}", fullmatch=True)


@given(_WORD, _WORD)
def test_fast_name_split_agrees_with_nameparser(first: str, last: str) -> None:
    """The shortcut for plain "First Last" names gives what nameparser gives."""
    from nameparser import HumanName

    full = f"{first} {last}"
    parsed = HumanName(full)
    expected = (norm.clean_text(parsed.first) or None, norm.clean_text(parsed.last) or None)
    assert norm.split_name.__wrapped__(full) == expected


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [("Dr. Jane van der Berg Jr.", "Jane", "van der Berg"), ("Ada Lovelace", "Ada", "Lovelace")],
)
def test_split_name(full: str, first: str, last: str) -> None:
    assert norm.split_name(full) == (first, last)


_LOCAL = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\"-]{1,70}", fullmatch=True)
_DOMAIN = st.sampled_from(
    ["example.com", "EXAMPLE.co.uk", "bücher.de", "localhost", "x", "a..b.com", "[127.0.0.1]"]
)


@given(st.one_of(st.emails(), st.builds(lambda local, d: f"{local}@{d}", _LOCAL, _DOMAIN)))
def test_email_shortcut_agrees_with_email_validator(address: str) -> None:
    """The memoised shortcut for plain addresses accepts and rewrites exactly
    as email-validator does (a guard for upgrades of that package)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        expected: str | None = validate_email(
            address.strip(), check_deliverability=False
        ).normalized.lower()
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = norm.normalise_email(address)
    except ValidationError:
        got = None
    assert got == expected


def _suffix_list_hosts() -> list[str]:
    """Hosts under every public suffix of the snapshot, and odd ones."""
    text = (Path(tldextract.__file__).parent / ".tld_set_snapshot").read_text(encoding="utf-8")
    public = text.partition("// ===BEGIN PRIVATE DOMAINS===")[0]
    hosts = ["", ".", "com", "localhost", "a.b.c.d.e", "xn--", "xn--zz.com", "[::1]", "[::1"]
    hosts += ["1.2.3.4", "01.2.3.4", "256.1.1.1", "1.2.3.4.5", "x.1.2.3", "[2001:db8::1]:80"]
    hosts += ["https://user:pw@Shop.Acme.CO.UK:8080/path?q#f", "//acme.com", "ftp:/acme.com"]
    hosts += ["acme.com.", "acme\u3002co\uff0euk", "ACME.COM", "münchen.de", "xn--mnchen-3ya.de"]
    for line in public.splitlines():
        suffix = line.strip()
        if not suffix or suffix.startswith("//"):
            continue
        bare = suffix.lstrip("!").replace("*.", "")
        hosts += [bare, f"acme.{bare}", f"shop.acme.{bare}", f"x.acme.{bare}".upper()]
        if bare.isascii():
            continue
        puny = ".".join(idna.encode(label).decode() for label in bare.split(".") if label)
        hosts += [f"acme.{puny}"]
    return hosts


def test_domain_split_is_tldextracts() -> None:
    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    for host in _suffix_list_hosts():
        expected = extract(host)
        assert norm._split_domain(host) == (expected.domain, expected.suffix), host


_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@given(
    st.lists(
        st.sampled_from(["com", "uk", "co", "ck", "www", "jp", "kawasaki", "city", "xn--p1ai"])
        | st.text("abcé1.:/@[]\u3002", max_size=6),
        max_size=5,
    )
)
def test_any_host_splits_as_tldextract_does(labels: list[str]) -> None:
    host = ".".join(labels)
    expected = _EXTRACT(host)
    assert norm._split_domain(host) == (expected.domain, expected.suffix)


@given(st.text(alphabet=st.characters(max_codepoint=127)), st.text())
def test_ascii_sort_keys_skip_the_memo_and_agree_with_it(ascii_text: str, text: str) -> None:
    """An ASCII name folds to its lower case without the memo; any name
    folds as it did through the memo alone."""
    for value in (ascii_text, text, ascii_text + text):
        expected = norm._folded(value)[: norm.SORT_KEY_MAX] if value else None
        assert norm.sort_key(value) == expected
