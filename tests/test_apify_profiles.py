"""Apify items to leads: each profile on items shaped like the actors' output."""

from __future__ import annotations

from typing import Any

import pytest

from leadbase.imports.apify.profiles import PROFILES, detect_profile, map_item
from leadbase.leads.schemas import LEAD_FIELDS, LeadInput

GOOGLE_MAPS: dict[str, Any] = {
    "title": "Joe's Bakery",
    "subTitle": None,
    "price": "$$",
    "categoryName": "Bakery",
    "address": "123 Main St, Springfield, IL 62701, United States",
    "neighborhood": None,
    "street": "123 Main St",
    "city": "Springfield",
    "postalCode": "62701",
    "state": "Illinois",
    "countryCode": "US",
    "website": "https://www.joesbakery.com/",
    "phone": "(217) 555-0134",
    "phoneUnformatted": "+12175550134",
    "claimThisBusiness": False,
    "location": {"lat": 39.7817, "lng": -89.6501},
    "totalScore": 4.6,
    "permanentlyClosed": False,
    "placeId": "ChIJd8BlQ2BZwokRAFUEcm_qrcA",
    "categories": ["Bakery", "Cafe"],
    "fid": "0x880b3a1f:0x5f1b6e8a2c0d1e2f",
    "cid": "6853318523218869807",
    "reviewsCount": 212,
    "scrapedAt": "2026-11-30T10:00:00.000Z",
    "url": "https://www.google.com/maps/search/?api=1&query=Joe%27s%20Bakery&query_place_id=ChIJd8BlQ2BZwokRAFUEcm_qrcA",
    "searchString": "bakery springfield",
    "rank": 1,
    "emails": ["hello@joesbakery.com", "orders@joesbakery.com", "HELLO@joesbakery.com"],
    "phones": ["+12175550134", "+12175550199"],
    "linkedIns": [],
    "facebooks": ["https://facebook.com/joesbakery"],
    "openingHours": [{"day": "Monday", "hours": "7 AM to 5 PM"}],
    "#debug": {"requestId": "abc"},
}

LEADS_FINDER: dict[str, Any] = {
    "first_name": "María",
    "last_name": "García",
    "full_name": "María García",
    "email": "maria.garcia@acme.io",
    "personal_email": None,
    "mobile_number": "+34 612 345 678",
    "linkedin": "https://www.linkedin.com/in/mariagarcia",
    "job_title": "Head of Growth",
    "headline": "Head of Growth at Acme | B2B SaaS",
    "seniority_level": "head",
    "city": "Madrid",
    "state": "Community of Madrid",
    "country": "Spain",
    "company_name": "Acme",
    "company_domain": "acme.io",
    "company_website": "https://acme.io",
    "company_linkedin": "https://www.linkedin.com/company/acme",
    "industry": "Computer Software",
    "company_size": "51-200",
    "company_description": "Acme makes growth tools.",
    "company_founded_year": 2015,
}

LINKEDIN_PROFILE: dict[str, Any] = {
    "linkedinUrl": "https://www.linkedin.com/in/jdoe",
    "firstName": "John",
    "lastName": "Doe",
    "fullName": "John Doe",
    "headline": "VP Sales at Globex | Hiring",
    "connections": 500,
    "followers": 1200,
    "email": "john.doe@globex.com",
    "mobileNumber": "+1 415 555 0100",
    "jobTitle": "VP Sales",
    "companyName": "Globex",
    "companyIndustry": "Software Development",
    "companyWebsite": "globex.com",
    "companyLinkedin": "https://www.linkedin.com/company/globex",
    "addressCountryOnly": "United States",
    "addressWithCountry": "San Francisco, California, United States",
    "publicIdentifier": "jdoe",
    "about": "Sales leader.",
    "experiences": [{"title": "VP Sales", "subtitle": "Globex · Full-time"}],
    "skills": [{"title": "Negotiation"}],
}


def _valid(lead: dict[str, Any]) -> None:
    """Lead fields only, of the types the write path takes."""
    assert set(lead) <= set(LEAD_FIELDS)
    LeadInput(**lead)


def test_google_maps_place() -> None:
    mapped = map_item("google_maps", GOOGLE_MAPS)
    lead = mapped.lead
    _valid(lead)
    assert {k: v for k, v in lead.items() if k != "raw_data"} == {
        "company_name": "Joe's Bakery",
        "phone": "+12175550134",
        "additional_phones": ["+12175550199"],
        "email": "hello@joesbakery.com",
        "additional_emails": ["orders@joesbakery.com"],
        "company_domain": "https://www.joesbakery.com/",
        "street": "123 Main St",
        "city": "Springfield",
        "state": "Illinois",
        "postal_code": "62701",
        "country": "US",
        "industry": "Bakery",
    }
    assert mapped.external_id == "ChIJd8BlQ2BZwokRAFUEcm_qrcA"
    assert mapped.external_url == GOOGLE_MAPS["url"]
    raw = lead["raw_data"]
    assert raw["location"] == {"lat": 39.7817, "lng": -89.6501}
    assert raw["totalScore"] == 4.6 and raw["reviewsCount"] == 212
    assert raw["categories"] == ["Bakery", "Cafe"] and raw["cid"] == GOOGLE_MAPS["cid"]
    assert raw["address"] == GOOGLE_MAPS["address"] and raw["claimThisBusiness"] is False
    for gone in ("title", "phone", "phoneUnformatted", "emails", "website", "placeId", "url"):
        assert gone not in raw  # mapped
    for empty in ("subTitle", "neighborhood", "linkedIns", "#debug"):
        assert empty not in raw  # nothing, or hidden


def test_google_maps_social_page_is_not_a_company_domain() -> None:
    for website in ("https://www.facebook.com/joesbakery", "https://sites.google.com/view/joe"):
        item = {**GOOGLE_MAPS, "website": website, "emails": [], "phones": []}
        lead = map_item("google_maps", item).lead
        assert "company_domain" not in lead and lead["raw_data"]["website"] == website
        assert lead["phone"] == "+12175550134" and "email" not in lead
    bare = {"title": "Shop", "phone": "020 7946 0000", "website": "not a url at all"}
    lead = map_item("google_maps", bare).lead
    assert lead == {
        "company_name": "Shop",
        "phone": "020 7946 0000",
        "raw_data": {"website": "not a url at all"},
    }
    assert map_item("google_maps", bare).external_id is None


def test_leads_finder_person() -> None:
    mapped = map_item("leads_finder", LEADS_FINDER)
    lead = mapped.lead
    _valid(lead)
    assert {k: v for k, v in lead.items() if k != "raw_data"} == {
        "full_name": "María García",
        "first_name": "María",
        "last_name": "García",
        "title": "Head of Growth",
        "email": "maria.garcia@acme.io",
        "phone": "+34 612 345 678",
        "linkedin_url": "https://www.linkedin.com/in/mariagarcia",
        "company_name": "Acme",
        "company_domain": "acme.io",
        "city": "Madrid",
        "state": "Community of Madrid",
        "country": "Spain",
        "industry": "Computer Software",
    }
    assert lead["raw_data"] == {
        "headline": "Head of Growth at Acme | B2B SaaS",
        "seniority_level": "head",
        "company_website": "https://acme.io",
        "company_linkedin": "https://www.linkedin.com/company/acme",
        "company_size": "51-200",
        "company_description": "Acme makes growth tools.",
        "company_founded_year": 2015,
    }
    assert mapped.external_id == mapped.external_url == LEADS_FINDER["linkedin"]
    no_linkedin = {k: v for k, v in LEADS_FINDER.items() if k not in ("linkedin", "company_domain")}
    again = map_item("leads_finder", no_linkedin)
    assert again.external_id == "maria.garcia@acme.io" and again.external_url is None
    assert again.lead["company_domain"] == "https://acme.io"


def test_linkedin_profile() -> None:
    mapped = map_item("linkedin_profile", LINKEDIN_PROFILE)
    lead = mapped.lead
    _valid(lead)
    assert {k: v for k, v in lead.items() if k != "raw_data"} == {
        "full_name": "John Doe",
        "first_name": "John",
        "last_name": "Doe",
        "title": "VP Sales",
        "email": "john.doe@globex.com",
        "phone": "+1 415 555 0100",
        "linkedin_url": "https://www.linkedin.com/in/jdoe",
        "company_name": "Globex",
        "company_domain": "globex.com",
        "industry": "Software Development",
        "country": "United States",
        "city": "San Francisco",
        "state": "California",
    }
    assert mapped.external_id == "jdoe" and mapped.external_url == LINKEDIN_PROFILE["linkedinUrl"]
    raw = lead["raw_data"]
    assert raw["headline"] == LINKEDIN_PROFILE["headline"] and raw["experiences"]
    assert raw["addressWithCountry"] == LINKEDIN_PROFILE["addressWithCountry"]


def test_linkedin_profile_with_the_contract_fields_only() -> None:
    item = {
        "fullName": "Eva Schmidt",
        "headline": "Founder at Kiez Labs",
        "linkedinUrl": "https://www.linkedin.com/in/eva-schmidt-1a2b3c",
        "companyName": "Kiez Labs",
        "email": None,
        "location": "Berlin, Germany",
        "mobileNumber": "",
    }
    mapped = map_item("linkedin_profile", item)
    _valid(mapped.lead)
    assert mapped.lead == {
        "full_name": "Eva Schmidt",
        "title": "Founder at Kiez Labs",
        "linkedin_url": item["linkedinUrl"],
        "company_name": "Kiez Labs",
        "city": "Berlin",
        "country": "Germany",
        "raw_data": {"headline": "Founder at Kiez Labs", "location": "Berlin, Germany"},
    }
    assert mapped.external_id == item["linkedinUrl"]
    one_part = map_item("linkedin_profile", {**item, "location": "Greater London"}).lead
    assert "city" not in one_part and one_part["raw_data"]["location"] == "Greater London"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {
                "Name": "Ann Lee",
                "E-mail": "ann@lee.dev",
                "Phone Number": "555-0100",
                "Company": "Lee Dev",
                "Website": "lee.dev",
                "Zip": 94107,
                "Tags": "vip; beta, west",
                "score": 7,
            },
            {
                "full_name": "Ann Lee",
                "email": "ann@lee.dev",
                "phone": "555-0100",
                "company_name": "Lee Dev",
                "company_domain": "lee.dev",
                "postal_code": "94107",
                "tags": ["vip", "beta", "west"],
                "raw_data": {"score": 7},
            },
        ),
        (
            {
                "firstName": "Bo",
                "lastName": "Chen",
                "emailAddress": "bo@chen.cn",
                "jobTitle": "CTO",
                "organization": "Chen Co",
                "companyWebsite": "https://www.instagram.com/chenco",
                "linkedInProfile": "https://linkedin.com/in/bochen",
                "mobile": 8613800138000.0,
                "telephone": "+86 10 1234 5678",
                "id": "row-17",
                "url": "https://example.org/people/17",
            },
            {
                "first_name": "Bo",
                "last_name": "Chen",
                "email": "bo@chen.cn",
                "title": "CTO",
                "company_name": "Chen Co",
                "linkedin_url": "https://linkedin.com/in/bochen",
                "phone": "8613800138000",
                "additional_phones": ["+86 10 1234 5678"],
                "raw_data": {"companyWebsite": "https://www.instagram.com/chenco"},
            },
        ),
        (
            {"name": "Team inbox", "emails": ["a@x.com", "b@x.com"], "nested": {"k": [1]}},
            {
                "full_name": "Team inbox",
                "email": "a@x.com",
                "additional_emails": ["b@x.com"],
                "raw_data": {"nested": {"k": [1]}},
            },
        ),
    ],
)
def test_generic_synonyms(item: dict[str, Any], expected: dict[str, Any]) -> None:
    mapped = map_item("generic", item)
    _valid(mapped.lead)
    assert mapped.lead == expected


def test_generic_external_id_and_url() -> None:
    mapped = map_item("generic", {"email": "x@y.com", "id": 17, "url": "https://y.com/x"})
    assert (mapped.external_id, mapped.external_url) == ("17", "https://y.com/x")
    assert map_item("generic", {}).lead == {}


@pytest.mark.parametrize(
    ("actor", "sample", "profile"),
    [
        ("compass/crawler-google-places", {}, "google_maps"),
        ("compass~crawler-google-places", {}, "google_maps"),
        ("lukaskrivka/google-maps-with-contact-details", {}, "google_maps"),
        ("code_crafter/leads-finder", {}, "leads_finder"),
        ("dev_fusion/Linkedin-Profile-Scraper", {}, "linkedin_profile"),
        ("nwua9Gu5YrADL7ZDj", GOOGLE_MAPS, "google_maps"),
        (None, LEADS_FINDER, "leads_finder"),
        (None, LINKEDIN_PROFILE, "linkedin_profile"),
        (None, {"fullName": "A", "headline": "B"}, "linkedin_profile"),
        ("someone/web-scraper", {"Name": "Ann", "E-mail": "ann@x.com"}, "generic"),
        (None, {}, "generic"),
    ],
)
def test_detect_profile(actor: str | None, sample: dict[str, Any], profile: str) -> None:
    assert detect_profile(actor, sample) == profile
    assert profile in PROFILES


def test_unknown_profile() -> None:
    with pytest.raises(ValueError, match="unknown Apify profile 'tiktok'"):
        map_item("tiktok", {})
