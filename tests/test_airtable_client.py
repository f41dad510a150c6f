"""The Airtable client's pacing and backoff (on a fake clock), and the field mapping."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from leadbase.errors import ValidationError
from leadbase.sync.airtable import client as client_module
from leadbase.sync.airtable.client import (
    AirtableClient,
    AirtableError,
    Pacer,
    RetryPolicy,
    pacer_for,
)
from leadbase.sync.airtable.mapping import (
    DEFAULT_MAPPING,
    ID_FIELD,
    MappingError,
    default_mapping,
    load_mapping,
)
from tests.emulators.airtable import AirtableEmulator


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def _client(emu: AirtableEmulator, fake: FakeTime, attempts: int = 3) -> AirtableClient:
    return AirtableClient(
        token=emu.token,
        base_id=emu.base_id,
        table=emu.table_name,
        api_url=emu.url,
        policy=RetryPolicy(max_attempts=attempts, sleep=fake.sleep),
        timeout=5,
        pacer=Pacer(1000, clock=fake.clock, sleep=fake.sleep),
    )


# --- Pacer -----------------------------------------------------------------------------------


def test_the_pacer_lets_rate_requests_through_a_rolling_second(fake: FakeTime) -> None:
    pacer = Pacer(5, clock=fake.clock, sleep=fake.sleep)
    assert [pacer.wait() for _ in range(5)] == [0.0] * 5
    # The sixth waits for the first to leave the window (1 s and a margin).
    assert pacer.wait() == pytest.approx(1.05)
    assert fake.now == pytest.approx(101.05)
    # Spread out, nobody waits.
    fake.now += 10
    for _ in range(20):
        assert pacer.wait() == 0.0
        fake.now += 0.25


def test_the_pacer_never_lets_more_than_rate_into_any_second(fake: FakeTime) -> None:
    pacer = Pacer(5, clock=fake.clock, sleep=fake.sleep)
    sent = []
    for _ in range(53):
        pacer.wait()
        sent.append(fake.now)
        fake.now += 0.013  # the request itself
    for i, at in enumerate(sent):
        assert sum(1 for other in sent[i:] if other < at + 1.0) <= 5
    # ... and still sends close to the rate: 53 in a little over 10 windows.
    assert sent[-1] - sent[0] < 10 * 1.05 + 0.1


def test_a_hold_stops_every_sender_for_its_length(fake: FakeTime) -> None:
    pacer = Pacer(5, clock=fake.clock, sleep=fake.sleep)
    pacer.wait()
    pacer.hold(30)
    assert pacer.wait() == pytest.approx(30)
    assert [pacer.wait() for _ in range(4)] == [0.0] * 4  # the window is open again


def test_a_slow_rate_and_the_shared_pacer(fake: FakeTime) -> None:
    pacer = Pacer(0.5, clock=fake.clock, sleep=fake.sleep)
    assert (pacer.count, pacer.window) == (1, pytest.approx(2.05))
    pacer.wait()
    assert pacer.wait() == pytest.approx(2.05)
    one = pacer_for("http://a", "appX", 5)
    assert pacer_for("http://a", "appX", 5) is one
    assert pacer_for("http://a", "appY", 5) is not one


# --- RetryPolicy -------------------------------------------------------------------------------


def test_backoff_is_exponential_jittered_and_capped() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 30.0)):
        pauses = {policy.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= p <= ceiling for p in pauses)
        assert len(pauses) > 1  # jittered: clients that failed together spread out


def test_a_429_waits_retry_after_else_30_s(
    airtable_emulator: AirtableEmulator, fake: FakeTime
) -> None:
    client = _client(airtable_emulator, fake)
    airtable_emulator.fail(429, retry_after=2)
    airtable_emulator.fail(429)
    assert client.get("recNope") is None  # a missing record, after two 429s
    assert fake.slept[:2] == [2.0, 30.0]
    assert client.stats.as_counts() == {"requests": 3, "rate_limited": 2, "retries": 2}


def test_5xx_then_success_and_5xx_to_the_end(
    airtable_emulator: AirtableEmulator, fake: FakeTime
) -> None:
    client = _client(airtable_emulator, fake)
    airtable_emulator.fail(503, times=2)
    assert client.field_types()["Email"] == "email"
    assert len(fake.slept) == 2 and 0.25 <= fake.slept[0] <= 0.5 and 0.5 <= fake.slept[1] <= 1
    airtable_emulator.fail(502, times=3)
    with pytest.raises(AirtableError) as raised:
        client.field_types()
    assert (raised.value.status, raised.value.kind) == (502, "BAD_GATEWAY")
    assert client.stats.retries == 4  # two, then two more before the third 502 stands


def test_a_dropped_connection_is_retried_then_given_up(
    airtable_emulator: AirtableEmulator, fake: FakeTime
) -> None:
    client = _client(airtable_emulator, fake, attempts=2)
    airtable_emulator.drop(times=1)
    assert client.get("recNope") is None
    airtable_emulator.drop(times=2)
    with pytest.raises(AirtableError, match="could not be reached after 2 tries") as raised:
        client.get("recNope")
    assert raised.value.status is None


def test_errors_keep_airtables_type_and_message(
    airtable_emulator: AirtableEmulator, fake: FakeTime
) -> None:
    client = _client(airtable_emulator, fake)
    with pytest.raises(AirtableError) as raised:
        client.update([{"id": "recMissing000000", "fields": {"City": "X"}}])
    assert (raised.value.status, raised.value.kind) == (422, "ROW_DOES_NOT_EXIST")
    assert str(raised.value).startswith("Airtable answered 422 ROW_DOES_NOT_EXIST: Record ID")
    airtable_emulator.fail(404, error_type=None)
    with pytest.raises(AirtableError) as raised:
        client.delete(["recMissing000000"])
    assert raised.value.status == 404


def test_error_bodies_of_every_shape() -> None:
    def raised(status: int, body: Any) -> AirtableError:
        def json_body() -> Any:
            if body is None:
                raise ValueError("not JSON")
            return body

        response = SimpleNamespace(status_code=status, json=json_body)
        exc = client_module.requests.HTTPError("boom", response=response)  # type: ignore[arg-type]
        return client_module._raised(exc)

    bare = raised(404, {"error": "NOT_FOUND"})
    assert (bare.status, bare.kind, str(bare)) == (
        404,
        "NOT_FOUND",
        "Airtable answered 404 NOT_FOUND",
    )
    plain = raised(500, None)
    assert (plain.status, plain.kind, str(plain)) == (500, None, "boom")
    typed = raised(422, {"error": {"type": "UNKNOWN_FIELD_NAME", "message": 'Unknown field "X"'}})
    assert str(typed) == 'Airtable answered 422 UNKNOWN_FIELD_NAME: Unknown field "X"'


def test_pages_upsert_update_delete(airtable_emulator: AirtableEmulator, fake: FakeTime) -> None:
    client = _client(airtable_emulator, fake)
    made = client.upsert(
        [{"fields": {ID_FIELD: f"lead{i}", "City": "Lyon"}} for i in range(3)], key_field=ID_FIELD
    )
    assert len(made["createdRecords"]) == 3
    for i in range(150):
        airtable_emulator.user_create({"Full Name": f"P{i}", "City": "Oslo"})
    pages = list(client.pages(formula="{City}='Oslo'", fields=["Full Name"]))
    assert [len(page) for page in pages] == [100, 50]
    assert pages[0][0]["fields"] == {"Full Name": "P0"}
    first = made["records"][0]["id"]
    fields = client.update([{"id": first, "fields": {"City": None}}])[0]["fields"]
    assert fields.keys() == {ID_FIELD, "Last Modified"}  # City cleared
    assert client.delete([first]) == [{"id": first, "deleted": True}]
    assert client.get(made["records"][1]["id"])["fields"]["City"] == "Lyon"  # type: ignore[index]


# --- mapping -----------------------------------------------------------------------------------


def test_to_fields_leaves_empties_out_and_keeps_types() -> None:
    mapping = default_mapping()
    lead = {
        "id": "L1",
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "title": "",
        "tags": ["vip", 7],
        "lead_score": 42,
        "lead_status": "qualified",
        "notes": None,
        "city": [],
    }
    assert mapping.to_fields(lead) == {
        "Full Name": "Ada Lovelace",
        "Email": "ada@example.com",
        "Tags": ["vip", "7"],
        "Score": 42,
        "Status": "qualified",
        ID_FIELD: "L1",
    }
    assert mapping.to_fields(SimpleNamespace(full_name="X"), lead_id="L2") == {
        "Full Name": "X",
        ID_FIELD: "L2",
    }


def test_from_fields_reads_airtables_values_back() -> None:
    mapping = default_mapping()
    values = mapping.from_fields(
        {"Full Name": " Ada ", "Tags": "a, b,,", "Score": "41.6", "Status": "", "Notes": "n"}
    )
    assert values["full_name"] == "Ada"
    assert values["tags"] == ["a", "b"]
    assert values["lead_score"] == 42
    assert values["lead_status"] == "new"  # a lead always has one
    assert values["email"] is None and values["notes"] == "n"
    assert mapping.from_fields({"Tags": [" x ", ""]})["tags"] == ["x"]
    assert mapping.from_fields({"Tags": []})["tags"] is None
    with pytest.raises(ValidationError):
        mapping.from_fields({"Score": "lots"})
    assert mapping.remote_name("email") == "Email" and mapping.remote_name("nope") is None


def test_load_mapping_from_json_and_toml(tmp_path: Path) -> None:
    assert load_mapping(None) == default_mapping()
    as_json = tmp_path / "m.json"
    as_json.write_text(json.dumps({"fields": {"company_name": "Organisation", "notes": None}}))
    mapping = load_mapping(as_json)
    assert mapping.remote_name("company_name") == "Organisation"
    assert mapping.remote_name("notes") is None
    assert len(mapping.fields) == len(DEFAULT_MAPPING) - 1
    as_toml = tmp_path / "m.toml"
    as_toml.write_text('title = "Job Title"\n')
    assert load_mapping(as_toml).remote_name("title") == "Job Title"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"shoe_size": "Shoes"}', "not lead fields: shoe_size"),
        ('{"title": "Email"}', "each lead field needs its own Airtable field"),
        ('{"title": "Leadbase ID"}', "holds the lead id"),
        ('{"title": 3}', "field names must be text: title"),
        ("[1, 2]", "expected an object"),
        ("{not json", "can't read the Airtable mapping"),
    ],
)
def test_load_mapping_refuses_what_cannot_work(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(MappingError, match=error):
        load_mapping(path)
    with pytest.raises(MappingError, match="can't read"):
        load_mapping(tmp_path / "missing.json")
