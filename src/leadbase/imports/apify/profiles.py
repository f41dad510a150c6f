"""Apify dataset items to lead dicts, one profile per popular lead actor.

Field lists from /work/shared/reference/airtable-apify-contracts.md (Apify
part): the Google Maps scraper (a business: name, phone, website, address),
the leads finder (a person at a company, snake_case), LinkedIn profile
scrapers (a person, camelCase), and a generic fallback that reads common
header synonyms. What a profile does not map goes to ``lead["raw_data"]``
as it came (nested values kept), so nothing scraped is lost.

The lead dict holds lead fields only (``leads.schemas.LEAD_FIELDS``); the
provenance (provider, actor, run, dataset) is the import's to add. Values
are passed on as scraped, trimmed: the write path normalises and validates
them, and rejects the item it cannot take. Self-contained on purpose: the
file import's ``imports/mapping.py`` is written apart from this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leadbase.dedupe.normalise import normalise_domain
from leadbase.errors import ValidationError

PROFILES = ("google_maps", "leads_finder", "linkedin_profile", "generic")

# Words in an actor's name ("compass/crawler-google-places") that give its profile away.
_ACTOR_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("google_maps", ("google-places", "google-maps", "googlemaps", "gmaps", "maps-scraper")),
    ("leads_finder", ("leads-finder", "leadsfinder", "lead-finder")),
    ("linkedin_profile", ("linkedin-profile", "linkedin_profile", "linkedinprofile")),
)

# A "website" on one of these is a page about the business, not its domain:
# company_domain would tie every such lead to one company called facebook.com.
_NOT_A_COMPANY_DOMAIN = frozenset({
    "facebook.com", "fb.com", "instagram.com", "linkedin.com", "twitter.com", "x.com",
    "youtube.com", "tiktok.com", "linktr.ee", "wa.me", "whatsapp.com", "google.com", "goo.gl",
    "business.site", "yelp.com", "tripadvisor.com", "pinterest.com", "t.me",
})  # fmt: skip


@dataclass(frozen=True)
class MappedItem:
    lead: dict[str, Any]
    external_id: str | None  # stable across runs: the dedupe key with the provider
    external_url: str | None


def detect_profile(actor_name_or_id: str | None, sample: Mapping[str, Any]) -> str:
    """The profile for an actor's items: from its name when it is a known one,
    else from the shape of a sample item."""
    name = (actor_name_or_id or "").lower().replace("~", "/")
    for profile, hints in _ACTOR_HINTS:
        if any(hint in name for hint in hints):
            return profile
    keys = set(sample)
    if "placeId" in keys or {"title", "categoryName"} <= keys or "totalScore" in keys:
        return "google_maps"
    if "linkedinUrl" in keys or "publicIdentifier" in keys or {"fullName", "headline"} <= keys:
        return "linkedin_profile"
    snake = {"first_name", "last_name", "full_name", "job_title", "company_domain"}
    if len(keys & snake) >= 2:
        return "leads_finder"
    return "generic"


def map_item(profile: str, item: Mapping[str, Any]) -> MappedItem:
    try:
        mapper = _MAPPERS[profile]
    except KeyError:
        raise ValueError(
            f"unknown Apify profile {profile!r}; one of {', '.join(PROFILES)}"
        ) from None
    return mapper(_Item(item))


# --- reading an item ------------------------------------------------------------------


class _Item:
    """An item being mapped: what was read is marked used; the rest is raw_data."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.item = {k: v for k, v in item.items() if not str(k).startswith("#")}
        self.used: set[str] = set()
        self.lead: dict[str, Any] = {}

    def text(self, *keys: str) -> str | None:
        """The first of ``keys`` with a non-empty scalar value, as trimmed text."""
        for key in keys:
            value = _text(self.item.get(key))
            if value is not None:
                self.used.add(key)
                return value
        return None

    def texts(self, key: str) -> list[str]:
        """A list of strings (or one string) under ``key``, trimmed, empties dropped."""
        value = self.item.get(key)
        values = value if isinstance(value, list) else [value]
        found = [t for t in (_text(v) for v in values) if t is not None]
        if found:
            self.used.add(key)
        return found

    def set(self, field: str, value: Any) -> None:
        if value not in (None, "", []) and field not in self.lead:
            self.lead[field] = value

    def take(self, field: str, *keys: str) -> str | None:
        value = self.text(*keys)
        self.set(field, value)
        return value

    def emails(self, primary: str | None, more: Iterable[str]) -> None:
        self._first_and_more("email", "additional_emails", primary, more)

    def phones(self, primary: str | None, more: Iterable[str]) -> None:
        self._first_and_more("phone", "additional_phones", primary, more)

    def _first_and_more(
        self, field: str, extra: str, primary: str | None, more: Iterable[str]
    ) -> None:
        values = _unique([v for v in [primary, *more] if v])
        if values:
            self.set(field, values[0])
            self.set(extra, values[1:])

    def website(self, *keys: str) -> None:
        """company_domain from a website, when it names the company's own domain."""
        if "company_domain" in self.lead:
            return  # the website stays in raw_data
        for key in keys:
            url = _text(self.item.get(key))
            if url is None:
                continue
            try:
                domain = normalise_domain(url)
            except ValidationError:
                return  # left in raw_data as it came
            if domain in _NOT_A_COMPANY_DOMAIN or _parent(domain) in _NOT_A_COMPANY_DOMAIN:
                return
            self.used.add(key)
            self.set("company_domain", url)
            return

    def done(self, external_id: str | None, external_url: str | None) -> MappedItem:
        raw = {k: v for k, v in self.item.items() if k not in self.used and not _empty(v)}
        if raw:
            self.lead["raw_data"] = raw
        return MappedItem(lead=self.lead, external_id=external_id, external_url=external_url)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone or postcode read as a number
    text = str(value).strip()
    return text or None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _unique(values: list[str]) -> list[str]:
    """Without repeats (compared case-insensitively), first seen first."""
    first: dict[str, str] = {}
    for value in values:
        first.setdefault(value.lower(), value)
    return list(first.values())


def _parent(domain: str) -> str:
    return domain.split(".", 1)[1] if domain.count(".") > 1 else domain


# --- profiles -------------------------------------------------------------------------


def _google_maps(it: _Item) -> MappedItem:
    """compass/crawler-google-places: a business, reached by phone, email, website."""
    it.take("company_name", "title")
    primary = it.text("phoneUnformatted", "phone")
    it.text("phone")  # the formatted twin of phoneUnformatted: not raw_data
    it.phones(primary, it.texts("phones"))
    it.emails(None, it.texts("emails"))
    it.website("website")
    it.take("street", "street")
    it.take("city", "city")
    it.take("state", "state")
    it.take("postal_code", "postalCode")
    it.take("country", "countryCode", "country")
    it.take("industry", "categoryName")
    external_id = it.text("placeId", "cid", "fid")
    return it.done(external_id, it.text("url"))


def _leads_finder(it: _Item) -> MappedItem:
    """code_crafter/leads-finder: a person at a company, in snake_case."""
    it.take("full_name", "full_name")
    it.take("first_name", "first_name")
    it.take("last_name", "last_name")
    it.take("title", "job_title")
    it.emails(it.text("email"), it.texts("personal_email"))
    it.phones(it.text("mobile_number", "phone", "phone_number"), [])
    linkedin = it.take("linkedin_url", "linkedin", "linkedin_url")
    it.take("company_name", "company_name")
    it.take("company_domain", "company_domain")
    it.website("company_website")
    it.take("city", "city")
    it.take("state", "state")
    it.take("country", "country")
    it.take("industry", "industry")
    external_id = it.text("id", "person_id") or linkedin or it.lead.get("email")
    return it.done(external_id, linkedin)


def _linkedin_profile(it: _Item) -> MappedItem:
    """LinkedIn profile scrapers: a person, in camelCase; "location" is one string."""
    it.take("full_name", "fullName", "name")
    it.take("first_name", "firstName")
    it.take("last_name", "lastName")
    if it.take("title", "jobTitle", "occupation") is None:
        it.set("title", _text(it.item.get("headline")))  # headline also stays in raw_data
    it.emails(it.text("email"), it.texts("emails"))
    it.phones(it.text("mobileNumber", "phone", "phoneNumber"), [])
    linkedin = it.take("linkedin_url", "linkedinUrl", "profileUrl", "url")
    it.take("company_name", "companyName")
    it.website("companyWebsite")
    it.take("industry", "companyIndustry")
    it.take("country", "addressCountryOnly")
    _location(it, _text(it.item.get("location")) or _text(it.item.get("addressWithCountry")))
    external_id = it.text("publicIdentifier", "id", "urn", "profileId") or linkedin
    return it.done(external_id, linkedin)


def _location(it: _Item, location: str | None) -> None:
    """ "City, Region, Country" into its parts; the whole string stays in raw_data."""
    if not location:
        return
    parts = [p.strip() for p in location.split(",") if p.strip()]
    if len(parts) >= 3:
        it.set("city", parts[0])
        it.set("state", parts[1])
        it.set("country", parts[-1])
    elif len(parts) == 2:
        it.set("city", parts[0])
        it.set("country", parts[1])


# Generic: header synonyms, compared lower-case with everything but letters and
# digits dropped ("E-mail", "email_address", "emailAddress" all read "emailaddress").
# Within a field, the first synonym found wins.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "workemail", "businessemail", "mail", "contactemail"),
    "full_name": ("fullname", "name", "contactname", "personname", "displayname"),
    "first_name": ("firstname", "givenname", "fname", "forename"),
    "last_name": ("lastname", "surname", "familyname", "lname"),
    "title": ("jobtitle", "title", "position", "role", "occupation", "designation"),
    "phone": ("phone", "phonenumber", "mobile", "mobilenumber", "mobilephone", "telephone",
              "tel", "cell", "cellphone", "phoneunformatted", "contactphone"),
    "linkedin_url": ("linkedinurl", "linkedin", "linkedinprofile", "linkedinprofileurl"),
    "company_name": ("companyname", "company", "organization", "organisation", "employer",
                     "businessname", "accountname"),
    "company_domain": ("companydomain", "domain", "website", "companywebsite", "websiteurl",
                       "homepage"),
    "street": ("street", "streetaddress", "address", "address1", "addressline1"),
    "address_line2": ("address2", "addressline2"),
    "city": ("city", "town", "locality"),
    "state": ("state", "region", "province", "stateprovince"),
    "postal_code": ("postalcode", "postcode", "zip", "zipcode"),
    "country": ("country", "countrycode", "countryname"),
    "industry": ("industry", "sector", "categoryname", "category"),
    "tags": ("tags", "labels"),
    "notes": ("notes", "note", "comments"),
}  # fmt: skip
_EXTERNAL_IDS = ("id", "externalid", "placeid", "publicidentifier", "profileid", "uuid", "uid")
_EXTERNAL_URLS = ("url", "profileurl", "sourceurl", "link")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _generic(it: _Item) -> MappedItem:
    by_key: dict[str, str] = {}
    for original in it.item:
        by_key.setdefault(_key(str(original)), original)

    def find(synonyms: Iterable[str]) -> list[str]:
        return [by_key[s] for s in synonyms if s in by_key]

    for field, synonyms in _SYNONYMS.items():
        keys = find(synonyms)
        if not keys:
            continue
        if field == "company_domain":
            it.website(*keys)
        elif field == "tags":
            it.set("tags", _tags(it, keys[0]))
        elif field in ("email", "phone"):
            _list_or_text(it, field, keys)
        else:
            it.take(field, *keys)
    if "emails" in by_key and "email" not in it.lead:
        it.emails(None, it.texts(by_key["emails"]))
    external_id = it.text(*find(_EXTERNAL_IDS))
    return it.done(external_id, it.text(*find(_EXTERNAL_URLS)))


def _list_or_text(it: _Item, field: str, keys: list[str]) -> None:
    """An email or phone column may hold a list: the first is the field, the rest extra."""
    values = [v for key in keys for v in it.texts(key)]
    if field == "email":
        it.emails(None, values)
    else:
        it.phones(None, values)


def _tags(it: _Item, key: str) -> list[str]:
    value = it.item.get(key)
    if isinstance(value, str):
        parts = [p.strip() for p in re.split(r"[;,]", value)]
        found = [p for p in parts if p]
        if found:
            it.used.add(key)
        return found
    return it.texts(key)


_MAPPERS: dict[str, Callable[[_Item], MappedItem]] = {
    "google_maps": _google_maps,
    "leads_finder": _leads_finder,
    "linkedin_profile": _linkedin_profile,
    "generic": _generic,
}
