"""imports.mapping: guesses on real export headers (HubSpot, Salesforce,
Apollo, LinkedIn Sales Navigator tools, Google and Outlook contacts, our own
export), mapping files and their errors, rows to leads, the preview table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from leadbase.imports.mapping import (
    SYNONYMS,
    Mapping,
    apply_mapping,
    describe,
    guess_mapping,
    load_mapping,
)
from leadbase.leads.schemas import LEAD_FIELDS, LeadInput


def mapped(headers: list[str]) -> dict[str, str]:
    return {h: f for h, f in guess_mapping(headers).columns.items() if f is not None}


# --- guesses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        # spellings of one field
        ("E-mail", "email"),
        ("email_address", "email"),
        ("emailAddress", "email"),
        ("EMAIL", "email"),
        ("Work Email", "email"),
        ("E-mail 1 - Value", "email"),  # Google contacts
        ("Courriel", "email"),
        ("Full Name", "full_name"),
        ("fullName", "full_name"),
        ("full_name", "full_name"),
        ("Name", "full_name"),
        ("Contact Name", "full_name"),
        ("Given Name", "first_name"),
        ("firstName", "first_name"),
        ("Prénom", "first_name"),
        ("Surname", "last_name"),
        ("Family Name", "last_name"),
        ("Job Title", "title"),
        ("Position", "title"),  # LinkedIn connections
        ("Organization 1 - Title", "title"),
        ("Mobile", "phone"),
        ("Phone Number", "phone"),
        ("Mobile Phone Number", "phone"),
        ("Work Direct Phone", "phone"),
        ("Business Phone", "phone"),  # Outlook
        ("Other Phone", "additional_phones"),
        ("E-mail 2 Address", "additional_emails"),  # Outlook
        ("Secondary Email", "additional_emails"),
        ("LinkedIn", "linkedin_url"),
        ("LinkedIn URL", "linkedin_url"),
        ("linkedInProfileUrl", "linkedin_url"),
        ("Person Linkedin Url", "linkedin_url"),  # Apollo
        ("LinkedIn Contact Profile URL", "linkedin_url"),  # ZoomInfo
        ("Company", "company_name"),
        ("Company / Account", "company_name"),  # Salesforce
        ("companyName", "company_name"),
        ("Organization 1 - Name", "company_name"),
        ("Account Name", "company_name"),
        ("Company Website", "company_domain"),
        ("Website URL", "company_domain"),  # HubSpot
        ("Website", "company_domain"),
        ("Domain", "company_domain"),
        ("Street Address", "street"),
        ("Address Line 1", "street"),
        ("Address Line 2", "address_line2"),
        ("Business City", "city"),
        ("Address 1 - City", "city"),
        ("State/Region", "state"),  # HubSpot
        ("State/Province", "state"),  # Salesforce
        ("Zip", "postal_code"),
        ("Zip/Postal Code", "postal_code"),
        ("Postcode", "postal_code"),
        ("ZIP code", "postal_code"),
        ("Country/Region", "country"),
        ("Business Country/Region", "country"),
        ("Industry", "industry"),
        ("Sector", "industry"),
        ("Tags", "tags"),
        ("Labels", "tags"),
        ("Lead Source", "source"),
        ("Description", "notes"),
        ("Notes", "notes"),
        # exact field names, even for fields guessed from nothing else
        ("lead_status", "lead_status"),
        ("lead_score", "lead_score"),
        ("email_verified", "email_verified"),
        ("raw_data", "raw_data"),
        ("External ID", "external_id"),
    ],
)
def test_one_header(header: str, field: str) -> None:
    assert guess_mapping([header]).columns == {header: field}


@pytest.mark.parametrize(
    "header",
    [
        "Lead Status",  # HubSpot's values ("OPEN") would reject every row
        "Status",
        "Lead Score",
        "Email Status",
        "Email Verified",
        "Company Linkedin Url",
        "Contact Owner",
        "Create Date",
        "Record ID",
        "# Employees",
        "Seniority",
        "companyUrl",  # Sales Navigator: the company's LinkedIn page, not its site
        "location",
        "Company ID",
        "",
    ],
)
def test_headers_left_unmapped(header: str) -> None:
    assert guess_mapping([header]).columns == {header: None}


def test_hubspot_export() -> None:
    headers = [
        "Record ID", "First Name", "Last Name", "Email", "Phone Number",
        "Mobile Phone Number", "Job Title", "Company Name", "Website URL", "City",
        "State/Region", "Country/Region", "Postal Code", "Street Address", "Industry",
        "Lead Status", "Lifecycle Stage", "Contact owner", "Create Date", "Original Source",
    ]  # fmt: skip
    assert mapped(headers) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",  # beats "Mobile Phone Number"
        "Job Title": "title",
        "Company Name": "company_name",
        "Website URL": "company_domain",
        "City": "city",
        "State/Region": "state",
        "Country/Region": "country",
        "Postal Code": "postal_code",
        "Street Address": "street",
        "Industry": "industry",
        "Original Source": "source",
    }


def test_salesforce_leads_report() -> None:
    headers = [
        "Lead ID", "Salutation", "First Name", "Last Name", "Title", "Company / Account",
        "Email", "Phone", "Mobile", "Fax", "Website", "Street", "City", "State/Province",
        "Zip/Postal Code", "Country", "Industry", "Lead Source", "Lead Status", "Rating",
        "Description", "Lead Owner",
    ]  # fmt: skip
    assert mapped(headers) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "title",
        "Company / Account": "company_name",
        "Email": "email",
        "Phone": "phone",  # "Mobile" loses and stays in raw_data
        "Website": "company_domain",
        "Street": "street",
        "City": "city",
        "State/Province": "state",
        "Zip/Postal Code": "postal_code",
        "Country": "country",
        "Industry": "industry",
        "Lead Source": "source",
        "Description": "notes",
    }


def test_apollo_export() -> None:
    headers = [
        "First Name", "Last Name", "Title", "Company", "Company Name for Emails", "Email",
        "Email Status", "Seniority", "Departments", "First Phone", "Work Direct Phone",
        "Home Phone", "Mobile Phone", "Corporate Phone", "Other Phone", "Stage", "Lists",
        "# Employees", "Industry", "Keywords", "Person Linkedin Url", "Website",
        "Company Linkedin Url", "City", "State", "Country", "Company Address", "Company City",
        "Company State", "Company Country", "Company Phone", "Apollo Contact Id",
    ]  # fmt: skip
    assert mapped(headers) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "title",
        "Company": "company_name",  # beats "Company Name for Emails"
        "Email": "email",
        "First Phone": "phone",  # Apollo's pick among its phones
        "Other Phone": "additional_phones",
        "Lists": "tags",
        "Industry": "industry",
        "Person Linkedin Url": "linkedin_url",
        "Website": "company_domain",
        "City": "city",  # the person's, not "Company City"
        "State": "state",
        "Country": "country",
    }


def test_sales_navigator_export() -> None:
    # PhantomBuster's Sales Navigator search export.
    headers = [
        "profileUrl", "fullName", "firstName", "lastName", "companyName", "title",
        "companyId", "companyUrl", "regularCompanyUrl", "summary", "titleDescription",
        "industry", "companyLocation", "location", "durationInRole", "linkedInProfileUrl",
        "defaultProfileUrl", "name", "vmid", "query", "timestamp",
    ]  # fmt: skip
    assert mapped(headers) == {
        "fullName": "full_name",
        "firstName": "first_name",
        "lastName": "last_name",
        "companyName": "company_name",
        "title": "title",
        "industry": "industry",
        "linkedInProfileUrl": "linkedin_url",  # beats profileUrl (a Sales Navigator link)
    }


def test_linkedin_connections_and_outlook() -> None:
    linkedin = ["First Name", "Last Name", "URL", "Email Address", "Company", "Position"]
    assert mapped(linkedin) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email Address": "email",
        "Company": "company_name",
        "Position": "title",
    }
    outlook = [
        "Title", "First Name", "Middle Name", "Last Name", "Company", "Job Title",
        "Business Street", "Business City", "Business Postal Code",
        "Business Country/Region", "Business Phone", "Mobile Phone", "E-mail Address",
        "E-mail 2 Address",
    ]  # fmt: skip
    assert mapped(outlook) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company": "company_name",
        "Job Title": "title",  # Outlook's "Title" is Mr/Ms: it loses
        "Business Street": "street",
        "Business City": "city",
        "Business Postal Code": "postal_code",
        "Business Country/Region": "country",
        "Mobile Phone": "phone",  # a named synonym beats a qualified one
        "E-mail Address": "email",
        "E-mail 2 Address": "additional_emails",
    }


def test_our_own_export_maps_back() -> None:
    headers = [
        "Lead ID", "Name", "First name", "Last name", "Email", "Other emails", "Phone",
        "Other phones", "Title", "Company", "Company domain", "LinkedIn", "Street",
        "Address line 2", "City", "State", "Postal code", "Country", "Industry", "Status",
        "Score", "Tags", "Notes", "Source", "External ID", "Created (UTC)",
    ]  # fmt: skip
    got = mapped(headers)
    assert set(got.values()) == {
        "full_name", "first_name", "last_name", "email", "additional_emails", "phone",
        "additional_phones", "title", "company_name", "company_domain", "linkedin_url",
        "street", "address_line2", "city", "state", "postal_code", "country", "industry",
        "tags", "notes", "source", "external_id",
    }  # fmt: skip
    assert "Status" not in got and "Lead ID" not in got


def test_the_better_header_wins_a_field() -> None:
    assert guess_mapping(["Email (2)", "Email", "Mobile", "Phone"]).columns == {
        "Email (2)": None,  # a repeat always loses to the first
        "Email": "email",
        "Mobile": None,
        "Phone": "phone",
    }
    # Same quality: the header further left.
    assert mapped(["Personal Email", "Work Email"]) == {"Personal Email": "email"}
    # The exact field name beats any synonym.
    assert mapped(["Name", "full_name"]) == {"full_name": "full_name"}
    # A repeated header still maps when nothing else claims its field.
    assert mapped(["Notes (2)"]) == {"Notes (2)": "notes"}


def test_synonyms_name_lead_fields_and_do_not_collide() -> None:
    assert set(SYNONYMS) <= set(LEAD_FIELDS)
    for field, spellings in SYNONYMS.items():
        for spelling in spellings:
            assert guess_mapping([spelling.title()]).columns == {spelling.title(): field}


# --- mapping files ------------------------------------------------------------------

HEADERS = ["Name", "E-mail", "Mobile", "Phone", "Segment", "Extra"]


def test_load_json_mapping_and_guess_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({"Mobile": "phone", "Phone": "additional_phones", "Name": None}))
    assert load_mapping(path, HEADERS).columns == {
        "Name": None,
        "E-mail": "email",  # guessed
        "Mobile": "phone",
        "Phone": "additional_phones",
        "Segment": "tags",  # guessed
        "Extra": None,
    }


def test_load_toml_mapping(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text('"E-mail" = "additional_emails"\nExtra = "notes"\nSegment = ""\n')
    assert load_mapping(path, HEADERS).columns == {
        "Name": "full_name",
        "E-mail": "additional_emails",
        "Mobile": None,  # "Phone" is still the better phone
        "Phone": "phone",
        "Segment": None,
        "Extra": "notes",
    }


def test_a_guess_never_takes_a_field_the_file_names(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({"Extra": "email"}))
    columns = load_mapping(path, HEADERS).columns
    assert columns["Extra"] == "email"
    assert columns["E-mail"] is None


def test_to_json_round_trips(tmp_path: Path) -> None:
    mapping = guess_mapping(HEADERS)
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(mapping.to_json()))
    assert load_mapping(path, HEADERS) == mapping
    path.write_text(json.dumps({"columns": mapping.to_json()}))
    assert load_mapping(path, HEADERS) == mapping
    # Two columns into one list field is fine.
    path.write_text(json.dumps({"Mobile": "additional_phones", "Phone": "additional_phones"}))
    assert load_mapping(path, HEADERS).columns["Phone"] == "additional_phones"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ({"Emial": "email"}, ".json", "column 'Emial' is not in the file (did you mean 'E-mail'?)"),
        (
            {"Name": "ful_name"},
            ".json",
            "'ful_name' is not a lead field (did you mean 'full_name'?)",
        ),
        ({"Name": "website"}, ".json", "'website' is not a lead field"),
        ({"Name": 3}, ".json", "column 'Name': a field name or null, not 3"),
        (
            {"Mobile": "phone", "Phone": "phone"},
            ".json",
            "'Mobile', 'Phone' all map to 'phone', which holds one value",
        ),
        (["Name"], ".json", "expected {"),
        ("{not json", ".json", "is not valid JSON"),
        ("Name = ", ".toml", "is not valid TOML"),
    ],
)
def test_mapping_file_errors(tmp_path: Path, content: Any, suffix: str, message: str) -> None:
    path = tmp_path / f"mapping{suffix}"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_mapping(path, HEADERS)


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({"Nope": "email", "Name": "nope"}))
    with pytest.raises(ValueError, match=r"^mapping\.json: column 'Nope' .*; 'nope' is not"):
        load_mapping(path, HEADERS)
    with pytest.raises(ValueError, match="cannot read the mapping file"):
        load_mapping(tmp_path / "missing.json", HEADERS)


# --- rows -> leads ------------------------------------------------------------------


def test_apply_mapping() -> None:
    mapping = Mapping(
        {
            "Name": "full_name",
            "E-mail": "email",
            "Tags": "tags",
            "Labels": "tags",
            "Zip": "postal_code",
            "Phone": "phone",
            "Status": "lead_status",
            "Verified": "email_verified",
            "Score": "lead_score",
            "Company": "company_name",
            "Blob": "raw_data",
            "Seniority": None,
        }
    )
    row = {
        "Name": "  Ann Lee ",
        "E-mail": "ann@x.io",
        "Tags": "vip; Paris, 2024",
        "Labels": ["vip", "fr", 7.0, None, ""],
        "Zip": 75001.0,
        "Phone": 33612345678,
        "Status": "Contacted",
        "Verified": "yes",
        "Score": "85",
        "Company": {"name": "Acme"},  # nested: kept, not forced into text
        "Blob": '{"origin": "fair", "Seniority": "old"}',
        "Seniority": "VP",
        "Department": "Sales",  # not in the mapping at all (a later JSON key)
        "Empty": "   ",
        "Missing": None,
    }
    lead = apply_mapping(row, mapping)
    assert lead == {
        "full_name": "Ann Lee",
        "email": "ann@x.io",
        "tags": ["vip", "Paris", "2024", "fr", "7"],
        "postal_code": "75001",
        "phone": "33612345678",
        "lead_status": "contacted",
        "email_verified": "yes",
        "lead_score": "85",
        "raw_data": {
            "origin": "fair",
            "Seniority": "VP",  # the column beats the mapped blob's key
            "Company": {"name": "Acme"},
            "Department": "Sales",
        },
    }
    # What the write path will accept.
    LeadInput.model_validate(lead)


def test_apply_mapping_edges() -> None:
    mapping = Mapping({"a": "raw_data", "b": "enrichment_data", "c": "tags", "d": "notes"})
    assert apply_mapping({"a": "not json", "b": '{"x": 1}', "c": " ; , "}, mapping) == {
        "enrichment_data": {"x": 1},
        "raw_data": {"a": "not json"},
    }
    assert apply_mapping({"a": {"k": 1}, "d": 2.5, "x": None}, mapping) == {
        "notes": "2.5",
        "raw_data": {"k": 1},
    }
    assert apply_mapping({}, mapping) == {}


# --- --show-mapping -----------------------------------------------------------------


def test_describe() -> None:
    mapping = guess_mapping(["E-mail", "Full Name", "Seniority", "Notes"])
    samples: list[dict[str, Any]] = [
        {"E-mail": "a@x.io", "Full Name": "Ann", "Seniority": None, "Notes": "x" * 40},
        {"__error__": "broken", "__raw__": "zzz"},
        {"E-mail": "b@x.io", "Full Name": "Bob", "Notes": "short", "Dept": {"id": 2}},
        {"E-mail": "c@x.io"},
        {"E-mail": "d@x.io"},
    ]
    text = describe(mapping, samples)
    lines = text.splitlines()
    assert lines[0].split() == ["Column", "Field", "Samples"]
    assert lines[2].split() == ["E-mail", "email", "a@x.io", "|", "b@x.io", "|", "c@x.io"]
    assert lines[3].split() == ["Full", "Name", "full_name", "Ann", "|", "Bob"]
    assert lines[4].split() == ["Seniority", "(raw_data)"]
    assert lines[5].split() == ["Notes", "notes", "x" * 23 + "…", "|", "short"]
    assert lines[6].split() == ["Dept", "(raw_data)", '{"id":', "2}"]
    assert lines[-1] == "3 of 5 columns mapped; the others are kept in raw_data."
    assert "zzz" not in text
