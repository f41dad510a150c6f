"""The Airtable emulator against the real pyairtable client (issue 14, point 7).

What the sync code will meet: pages and offsets, formulas, batches of 10,
PATCH vs PUT, upsert, the schema, the rate limit, and every injectable fault.
Clocks are injected where a test would otherwise wait for the rate window.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pyairtable import Api, Table
from pyairtable import formulas as F

from leadbase.config import get_settings
from tests.emulators.airtable import DEFAULT_FIELDS, AirtableEmulator, iso


class FakeClock:
    """The emulator's monotonic clock, moved by the test (the rate limit's window)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emu() -> Iterator[AirtableEmulator]:
    with AirtableEmulator.running(rate_limit=None) as emulator:
        yield emulator


def table_of(emu: AirtableEmulator, **api_options: Any) -> Table:
    api = Api(emu.token, endpoint_url=emu.url, retry_strategy=None, **api_options)
    return api.table(emu.base_id, emu.table_name)


def error_of(exc: pytest.ExceptionInfo[requests.HTTPError] | requests.HTTPError) -> tuple[int, Any]:
    """(status, the body's "error") of a failed pyairtable call."""
    error = exc if isinstance(exc, requests.HTTPError) else exc.value
    response = error.response
    assert response is not None
    return response.status_code, response.json()["error"]


def upsert(i: int, **extra: Any) -> dict[str, Any]:
    return {"fields": lead(i, **extra)}


def lead(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "Full Name": f"Person {i}",
        "Email": f"p{i}@example.com",
        "Leadbase ID": f"L{i}",
        **extra,
    }


# --- lists -----------------------------------------------------------------------------


def test_paging_250_records_in_pages_of_100_with_opaque_offsets(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    created = table.batch_create([lead(i) for i in range(250)])
    assert emu.count("POST") == 25  # pyairtable sends 10 a request
    assert all(r["id"].startswith("rec") and len(r["id"]) == 17 for r in created)

    pages = list(table.iterate())
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [r["id"] for p in pages for r in p] == [r["id"] for r in created]  # creation order
    offsets = [r.query.get("offset") for r in emu.requests if r.method == "GET"]
    assert offsets[0] is None
    assert all(o and o.startswith("itr") and "/rec" in o for o in offsets[1:])

    assert [len(p) for p in table.iterate(page_size=30, max_records=70)] == [30, 30, 10]
    first = table.first(formula="{Leadbase ID}='L7'")
    assert first is not None and first["fields"]["Full Name"] == "Person 7"


def test_unknown_or_expired_offset_is_a_422(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    table.batch_create([lead(i) for i in range(3)])
    with pytest.raises(requests.HTTPError) as exc:
        table.all(offset="itrNotAnOffset0/recNotARecord00")
    assert error_of(exc) == (
        422,
        {
            "type": "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
            "message": "The list records iterator is not available (expired or unknown offset)",
        },
    )
    pages = table.iterate(page_size=2)
    next(pages)
    emu.expire_offsets()
    with pytest.raises(requests.HTTPError) as exc:
        next(pages)
    assert error_of(exc)[1]["type"] == "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"


def test_fields_sort_field_ids_and_too_large_pages(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    table.batch_create([lead(1, Score=5), lead(2, Score=9), lead(3), lead(4, Score=1)])
    rows = table.all(fields=["Full Name", "Score"], sort=["-Score"])
    assert [r["fields"] for r in rows] == [
        {"Full Name": "Person 2", "Score": 9},
        {"Full Name": "Person 1", "Score": 5},
        {"Full Name": "Person 4", "Score": 1},
        {"Full Name": "Person 3"},
    ]
    by_id = table.all(use_field_ids=True, max_records=1)[0]["fields"]
    schema = table.schema()
    assert by_id == {schema.field(name).id: v for name, v in lead(1, Score=5).items()}
    with pytest.raises(requests.HTTPError) as exc:
        table.all(page_size=101)
    assert error_of(exc)[0] == 422
    with pytest.raises(requests.HTTPError) as exc:
        table.all(fields=["Nope"])
    assert error_of(exc)[1]["type"] == "UNKNOWN_FIELD_NAME"


def test_a_long_formula_goes_through_post_list_records(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    ids = [r["id"] for r in table.batch_create([lead(i) for i in range(120)])]
    wanted = ids[::2]  # 60 ids
    # Padded with ids of no record, past the 16,000 characters of pyairtable's GET limit.
    padding = [f"recMissing{i:07d}" for i in range(700)]
    formula = F.OR(*(F.EQ(F.RECORD_ID(), i) for i in [*wanted, *padding]))
    rows = table.all(formula=formula, page_size=25, fields=["Email"])
    assert [r["id"] for r in rows] == wanted
    assert all(set(r["fields"]) == {"Email"} for r in rows)
    posts = [r for r in emu.requests if r.path.endswith("/listRecords")]
    assert len(posts) == 3 and all(r.method == "POST" for r in posts)
    assert "offset" not in posts[0].body and posts[1].body["offset"].startswith("itr")


# --- formulas and modified times -------------------------------------------------------


def test_changes_since_a_cursor_with_last_modified_time(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    records = table.batch_create([lead(i) for i in range(5)])
    times = [emu.modified_at(r["id"]) for r in records]
    assert times == sorted(set(times))  # one millisecond each: no two writes share a time
    cursor = max(times)
    since = f"IS_AFTER(LAST_MODIFIED_TIME(), '{iso(cursor)}')"
    assert table.all(formula=since) == []

    emu.user_update(records[3]["id"], {"Title": "CEO"})
    table.update(records[1]["id"], {"Title": "CTO"})
    changed = table.all(formula=since)
    assert [r["id"] for r in changed] == [records[1]["id"], records[3]["id"]]
    # pyairtable.formulas spells the cursor DATETIME_PARSE('...'): the same answer.
    built = F.IS_AFTER(F.LAST_MODIFIED_TIME(), cursor)
    assert [r["id"] for r in table.all(formula=built)] == [records[1]["id"], records[3]["id"]]

    # A write that changes nothing leaves the modified time (and the cursor) alone.
    before = emu.modified_at(records[1]["id"])
    table.update(records[1]["id"], {"Title": "CTO"})
    assert emu.modified_at(records[1]["id"]) == before
    assert table.all(formula=F.IS_AFTER(F.LAST_MODIFIED_TIME(), before)) == []


def test_formula_forms_the_sync_uses_and_a_422_for_the_rest(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    a, b, c = table.batch_create([lead(1), lead(2, Title="O'Brien & co"), lead(3)])

    def ids(formula: str) -> list[str]:
        return [r["id"] for r in table.all(formula=formula)]

    assert ids("{Email}='p2@example.com'") == [b["id"]]
    assert ids(F.to_formula_str(F.match({"Title": "O'Brien & co"}))) == [b["id"]]
    assert ids(f"RECORD_ID()='{c['id']}'") == [c["id"]]
    assert ids("AND({Leadbase ID}='L1', {Email}='p1@example.com')") == [a["id"]]
    assert ids("OR({Leadbase ID}='L1', {Leadbase ID}=\"L3\")") == [a["id"], c["id"]]
    assert ids("NOT({Title}='')") == [b["id"]]
    assert ids("LOWER({Email})='P1@EXAMPLE.COM'") == []
    assert ids("IS_BEFORE(CREATED_TIME(), '2000-01-01')") == []

    for bad in (
        "SEARCH('x', {Email})",
        "{Email}=",
        "{Nope}='x'",
        "IS_AFTER(LAST_MODIFIED_TIME(), 'soon')",
    ):
        with pytest.raises(requests.HTTPError) as exc:
            table.all(formula=bad)
        assert error_of(exc)[0] == 422
        assert error_of(exc)[1]["type"] == "INVALID_FILTER_BY_FORMULA", bad


# --- writes ----------------------------------------------------------------------------


def test_batches_of_ten_at_most(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    url = table.urls.records
    with pytest.raises(requests.HTTPError) as exc:
        table.api.post(url, json={"records": [{"fields": lead(i)} for i in range(11)]})
    assert error_of(exc)[0] == 422 and error_of(exc)[1]["type"] == "INVALID_RECORDS"
    assert emu.records() == {}

    ids = [r["id"] for r in table.batch_create([lead(i) for i in range(23)])]
    assert emu.count("POST", 200) == 3
    with pytest.raises(requests.HTTPError) as exc:
        table.api.patch(url, json={"records": [{"id": i, "fields": {}} for i in ids[:11]]})
    assert error_of(exc)[1]["type"] == "INVALID_RECORDS"
    with pytest.raises(requests.HTTPError) as exc:
        table.api.delete(url, params={"records[]": ids[:11]})
    assert error_of(exc)[1]["type"] == "INVALID_RECORDS"

    updated = table.batch_update([{"id": i, "fields": {"Title": "VP"}} for i in ids[:12]])
    assert len(updated) == 12 and updated[0]["fields"]["Title"] == "VP"
    deleted = table.batch_delete(ids[:12])
    assert deleted == [{"id": i, "deleted": True} for i in ids[:12]]
    assert list(emu.records()) == ids[12:]
    assert emu.count("DELETE", 200) == 2


def test_patch_merges_and_put_replaces(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    rec = table.create(lead(1, Title="CEO", Score=3))
    patched = table.update(rec["id"], {"Title": "CTO", "Score": None, "Phone": ""})
    assert patched["fields"] == {**lead(1), "Title": "CTO"}  # None and "" clear a field
    replaced = table.update(rec["id"], {"Full Name": "Only Name"}, replace=True)
    assert replaced["fields"] == {"Full Name": "Only Name"}
    [a, b] = table.batch_create([lead(2), lead(3)])
    table.batch_update([{"id": a["id"], "fields": {"City": "Oslo"}}])
    table.batch_update([{"id": b["id"], "fields": {"City": "Rome"}}], replace=True)
    assert emu.records()[a["id"]]["fields"] == {**lead(2), "City": "Oslo"}
    assert emu.records()[b["id"]]["fields"] == {"City": "Rome"}
    assert [r.method for r in emu.requests[-2:]] == ["PATCH", "PUT"]


def test_upsert_creates_updates_and_refuses_two_matches(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    first = table.batch_upsert([upsert(i) for i in range(12)], key_fields=["Leadbase ID"])
    assert len(first["createdRecords"]) == 12 and first["updatedRecords"] == []
    again = table.batch_upsert(
        [upsert(3, Title="CFO"), upsert(99)], key_fields=["Leadbase ID"], typecast=True
    )
    l3 = next(r["id"] for r in first["records"] if r["fields"]["Leadbase ID"] == "L3")
    assert again["updatedRecords"] == [l3] and len(again["createdRecords"]) == 1
    assert emu.records()[l3]["fields"]["Title"] == "CFO"
    assert len(emu.records()) == 13

    emu.user_create({"Leadbase ID": "L5", "Full Name": "A copy made by hand"})
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_upsert([upsert(5, Title="x"), upsert(100)], key_fields=["Leadbase ID"])
    assert error_of(exc)[0] == 422 and error_of(exc)[1]["type"] == "INVALID_RECORDS"
    assert len(emu.records()) == 14  # the batch failed whole: L100 was not created


def test_unknown_fields_records_tables_and_bases(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    with pytest.raises(requests.HTTPError) as exc:
        table.create({"Full Name": "X", "Shoe Size": 44})
    assert error_of(exc) == (
        422,
        {"type": "UNKNOWN_FIELD_NAME", "message": 'Unknown field name: "Shoe Size"'},
    )
    rec = table.create({"Full Name": "X"})
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_update(
            [{"id": rec["id"], "fields": {}}, {"id": "recNoSuchRecord01", "fields": {}}]
        )
    assert error_of(exc)[0] == 422 and error_of(exc)[1]["type"] == "ROW_DOES_NOT_EXIST"
    for call in (lambda: table.get("recNoSuchRecord01"), lambda: table.delete("recNoSuchRecord01")):
        with pytest.raises(requests.HTTPError) as exc:
            call()
        assert error_of(exc)[0] == 404 and error_of(exc)[1]["type"] == "MODEL_ID_NOT_FOUND"
    for base, name in ((emu.base_id, "Contacts"), ("appNoSuchBase0001", emu.table_name)):
        with pytest.raises(requests.HTTPError) as exc:
            table.api.table(base, name).all()
        assert error_of(exc)[0] == 403
        assert error_of(exc)[1]["type"] == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
    assert table.api.table(emu.base_id, emu.table_id).get(rec["id"])["id"] == rec["id"]


def test_values_are_checked_by_field_type(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    with pytest.raises(requests.HTTPError) as exc:
        table.create({"Score": "high"})
    assert error_of(exc)[1]["type"] == "INVALID_VALUE_FOR_COLUMN"
    # As the service: a select option that does not exist yet needs typecast.
    with pytest.raises(requests.HTTPError) as exc:
        table.create({"Tags": ["vip"]})
    assert error_of(exc)[1]["type"] == "INVALID_MULTIPLE_CHOICE_OPTIONS"
    rec = table.create({"Tags": ["vip"], "Status": "new", "Score": "7"}, typecast=True)
    assert rec["fields"] == {"Tags": ["vip"], "Status": "new", "Score": 7}
    assert table.create({"Tags": ["vip"]})["fields"] == {"Tags": ["vip"]}


# --- rate limit ------------------------------------------------------------------------


def test_rate_limit_five_a_rolling_second_per_base() -> None:
    clock = FakeClock()
    with AirtableEmulator.running(rate_limit=5, clock=clock) as emu:
        emu.add_table("Other", base_id="appOtherBase00001")
        table = table_of(emu)
        statuses = []
        for _ in range(6):
            try:
                table.all()
                statuses.append(200)
            except requests.HTTPError as exc:
                statuses.append(error_of(exc)[0])
                assert error_of(exc)[1]["type"] == "RATE_LIMIT_REACHED"
        assert statuses == [200, 200, 200, 200, 200, 429]
        assert emu.rate_limited == 1
        assert table.api.table("appOtherBase00001", "Other").all() == []  # another base
        clock.now += 0.999
        with pytest.raises(requests.HTTPError):
            table.all()  # the first five are still inside the window
        clock.now += 0.002
        assert [table.all() for _ in range(5)] == [[]] * 5
        assert emu.rate_limited == 2
        assert emu.count(status=429) == 2


def test_rate_limit_penalty_answers_429_until_it_ends() -> None:
    clock = FakeClock()
    with AirtableEmulator.running(rate_limit=2, penalty_seconds=30, clock=clock) as emu:
        table = table_of(emu)
        table.all()
        table.all()
        for _ in range(3):  # the one past the limit, then two in the penalty
            with pytest.raises(requests.HTTPError):
                table.all()
        clock.now += 29.9
        with pytest.raises(requests.HTTPError):
            table.all()
        clock.now += 0.2
        assert table.all() == []
        assert emu.rate_limited == 4


def test_rate_limit_on_the_real_clock() -> None:
    with AirtableEmulator.running(rate_limit=3, rate_window=0.2) as emu:
        table = table_of(emu)
        results = []
        for _ in range(4):
            try:
                table.all()
                results.append("ok")
            except requests.HTTPError:
                results.append("429")
        assert results == ["ok", "ok", "ok", "429"]
        threading.Event().wait(0.25)
        table.all()
        assert emu.rate_limited == 1


# --- faults ----------------------------------------------------------------------------


def test_injected_429_with_retry_after_and_503(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    emu.fail(429, times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(requests.HTTPError) as exc:
            table.all()
        assert exc.value.response is not None
        assert exc.value.response.headers["Retry-After"] == "7"
        assert error_of(exc)[0] == 429 and error_of(exc)[1]["type"] == "RATE_LIMIT_REACHED"
    assert table.all() == []
    assert emu.rate_limited == 0  # injected, not the rate limit's

    emu.fail(503, method="POST", path="/Leads")
    assert table.all() == []  # a GET: not matched
    with pytest.raises(requests.HTTPError) as exc:
        table.create(lead(1))
    assert error_of(exc) == (503, {"type": "RETRIABLE_ERROR", "message": "Emulated 503"})
    assert emu.records() == {}  # the failed request wrote nothing
    assert table.create(lead(1))["fields"] == lead(1)
    assert [r.fault for r in emu.requests] == ["fail", "fail", None, None, "fail", None]


def test_dropped_connections_with_and_without_the_write(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    emu.drop()  # the write happens; the answer is lost before its status line
    with pytest.raises(requests.ConnectionError):
        table.create(lead(1))
    assert [r["fields"]["Leadbase ID"] for r in emu.records().values()] == ["L1"]

    emu.drop(after_body=True)  # cut halfway through the body
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        table.create(lead(2))
    assert len(emu.records()) == 2

    emu.drop(applied=False)  # lost on the way in: nothing written
    with pytest.raises(requests.ConnectionError):
        table.create(lead(3))
    assert len(emu.records()) == 2
    assert emu.requests[-1].status == 0 and emu.requests[-1].fault == "drop"
    assert table.create(lead(3))["fields"] == lead(3)


def test_slow_answer_meets_the_client_timeout(emu: AirtableEmulator) -> None:
    table = table_of(emu, timeout=(1, 0.1))
    emu.slow(0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        table.all()
    assert table.all() == []


def test_a_rejected_record_fails_its_whole_batch(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    fault = emu.reject_record({"Leadbase ID": "L2"})
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_create([lead(1), lead(2), lead(3)])
    assert error_of(exc) == (
        422,
        {
            "type": "INVALID_VALUE_FOR_COLUMN",
            "message": 'Field "Leadbase ID" cannot accept the provided value',
        },
    )
    assert emu.records() == {}
    # One by one, the other two go through and L2 keeps failing (times=None: always).
    for i in (1, 2, 3):
        try:
            table.batch_upsert([upsert(i)], key_fields=["Leadbase ID"])
        except requests.HTTPError as exc_:
            assert exc_.response is not None and exc_.response.status_code == 422
    assert sorted(r["fields"]["Leadbase ID"] for r in emu.records().values()) == ["L1", "L3"]
    assert fault.hits == 2 and emu.requests[-2].fault == "reject"
    # A patch without the field still matches: the record as it would be written.
    l1 = next(i for i, r in emu.records().items() if r["fields"]["Leadbase ID"] == "L1")
    emu.reject_record({"id": l1}, times=1)
    with pytest.raises(requests.HTTPError):
        table.update(l1, {"Title": "x"})
    table.update(l1, {"Title": "x"})


# --- schema, auth, user edits, the fixture ---------------------------------------------


def test_schema_lists_the_fields_and_follows_changes(emu: AirtableEmulator) -> None:
    table = table_of(emu)
    schema = table.schema()
    assert schema.name == "Leads" and schema.id == emu.table_id
    assert {f.name: f.type for f in schema.fields} == DEFAULT_FIELDS
    assert schema.primary_field_id == schema.fields[0].id
    emu.add_field("Twitter", "url")
    emu.remove_field("Notes")
    names = [f.name for f in table.schema(force=True).fields]
    assert "Twitter" in names and "Notes" not in names
    assert emu.fields()["Twitter"] == "url"


def test_a_bad_token_is_a_401(emu: AirtableEmulator) -> None:
    api = Api("patWrong.token", endpoint_url=emu.url, retry_strategy=None)
    with pytest.raises(requests.HTTPError) as exc:
        api.table(emu.base_id, emu.table_name).all()
    assert error_of(exc) == (
        401,
        {"type": "AUTHENTICATION_REQUIRED", "message": "Invalid authentication token"},
    )


def test_user_edits_change_the_data_without_http(emu: AirtableEmulator) -> None:
    rec = emu.user_create({"Full Name": "Hand Made", "Tags": ["new-tag"], "Title": ""})
    assert emu.records()[rec]["fields"] == {"Full Name": "Hand Made", "Tags": ["new-tag"]}
    created = emu.modified_at(rec)
    emu.user_update(rec, {"Tags": None, "City": "Lyon"})
    assert emu.records()[rec]["fields"] == {"Full Name": "Hand Made", "City": "Lyon"}
    assert emu.modified_at(rec) > created
    later = datetime.now(UTC) + timedelta(hours=1)
    emu.user_update(rec, {"City": "Nice"}, at=later)
    assert emu.modified_at(rec) == later
    with pytest.raises(KeyError):
        emu.user_update("recNoSuchRecord01", {"City": "x"})
    emu.user_delete(rec)
    assert emu.records() == {} and emu.requests == []


def test_concurrent_writers_lose_nothing(emu: AirtableEmulator) -> None:
    def write(n: int) -> None:
        table_of(emu).batch_create([lead(n * 100 + i) for i in range(30)])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = emu.records()
    assert len(records) == 120
    assert len({r["fields"]["Leadbase ID"] for r in records.values()}) == 120
    assert emu.count("POST", 200) == 12


def test_the_fixture_points_the_settings_at_the_emulator(
    airtable_emulator: AirtableEmulator,
) -> None:
    import os

    assert os.environ["LEADBASE_AIRTABLE_API_URL"] == airtable_emulator.url
    assert os.environ["LEADBASE_AIRTABLE_TABLE"] == "Leads"
    get_settings()  # the settings still load with the Airtable variables set
    table = Api(
        os.environ["LEADBASE_AIRTABLE_TOKEN"],
        endpoint_url=os.environ["LEADBASE_AIRTABLE_API_URL"],
        retry_strategy=None,
    ).table(os.environ["LEADBASE_AIRTABLE_BASE_ID"], os.environ["LEADBASE_AIRTABLE_TABLE"])
    assert [table.all() for _ in range(8)] == [[]] * 8  # no rate limit
