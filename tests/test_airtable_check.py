"""`leadbase airtable check`: the mapping against the table's fields, in plain words."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadbase.cli import app
from leadbase.config import get_settings
from leadbase.sync.airtable import cli as airtable_cli
from tests.emulators.airtable import AirtableEmulator

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(airtable_cli.out, "width", 400)
    monkeypatch.setattr(airtable_cli.err, "width", 400)


def check(code: int) -> str:
    result = runner.invoke(app, ["airtable", "check"])
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def test_a_table_that_fits(airtable_emulator: AirtableEmulator) -> None:
    assert check(0).strip() == "ok: 20 fields mapped"


def test_a_table_missing_a_field_and_one_of_the_wrong_type(
    airtable_emulator: AirtableEmulator,
) -> None:
    airtable_emulator.remove_field("Company")
    airtable_emulator.remove_field("Score")
    airtable_emulator.add_field("Score", "checkbox")
    output = check(1)
    assert 'the table has no field "Company" (for the lead\'s company_name)' in output
    assert "its fields are: City, Company Domain, Country, Email" in output
    assert '"Score" is a checkbox field; the lead\'s lead_score needs one of: ' in output
    assert "needs one of: email, multilineText, number, percent," in output
    assert "2 problem(s) with the Airtable mapping" in output


def test_a_renamed_field_in_the_mapping_file(
    airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('company_name = "Organisation"\ntitle = 3\n')
    monkeypatch.setenv("LEADBASE_AIRTABLE_MAPPING", str(mapping))
    get_settings.cache_clear()
    output = check(2)
    assert output.startswith("error: ") and "field names must be text: title" in output

    mapping.write_text('[fields]\ncompany_name = "Organisation"\nnotes = false\n')
    output = check(1)
    assert 'the table has no field "Organisation" (for the lead\'s company_name)' in output
    airtable_emulator.add_field("Organisation")
    assert check(0).strip() == "ok: 19 fields mapped"  # notes left out


def test_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    output = check(2)
    assert output.strip() == (
        "error: Airtable sync is not configured: set LEADBASE_AIRTABLE_TOKEN, "
        "LEADBASE_AIRTABLE_BASE_ID, LEADBASE_AIRTABLE_TABLE"
    )
    push = runner.invoke(app, ["airtable", "push"])
    assert push.exit_code == 2
    assert push.output.startswith("error: Airtable sync is not configured")


def test_airtable_out_of_reach(
    airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LEADBASE_AIRTABLE_API_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    output = check(2)
    assert output.startswith("error: can't read the table 'Leads' of base appLeadbaseTest01:")
    assert "could not be reached after 2 tries" in output
    assert len(output.strip().splitlines()) == 1


def test_a_bad_token_or_table(
    airtable_emulator: AirtableEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBASE_AIRTABLE_TOKEN", "patWrong")
    get_settings.cache_clear()
    assert "401 AUTHENTICATION_REQUIRED" in check(2)

    monkeypatch.setenv("LEADBASE_AIRTABLE_TOKEN", airtable_emulator.token)
    monkeypatch.setenv("LEADBASE_AIRTABLE_TABLE", "Contacts")
    get_settings.cache_clear()
    output = check(2)
    assert "the base has no table 'Contacts'" in output
