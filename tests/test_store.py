"""The lead store on SQLite, PostgreSQL and MariaDB: the same tests on each."""

from __future__ import annotations

import threading

import pytest

from leadbase import audit
from leadbase.client import LeadDatabase
from leadbase.errors import ConflictError, DuplicateLeadError, NotFoundError, ValidationError
from tests import dbs
from tests.helpers import audit_entries, counts, events

ADA = {
    "full_name": "  Ada   Lovelace ",
    "email": "Ada.Lovelace@Example.COM",
    "phone": "+44 20 7946 0958",
    "linkedin_url": "http://uk.linkedin.com/in/Ada-Lovelace/?trk=x",
    "company_domain": "https://www.Analytical-Engines.co.uk/about",
    "tags": ["math", " math ", "vip"],
}


def test_create_normalises_and_records_everything(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    lead = leads.get_lead(lead_id)
    assert lead is not None
    assert lead["full_name"] == "Ada Lovelace"
    assert (lead["first_name"], lead["last_name"]) == ("Ada", "Lovelace")
    assert lead["email"] == "ada.lovelace@example.com"
    assert lead["phone"] == "+442079460958"
    assert lead["linkedin_url"] == "https://www.linkedin.com/in/ada-lovelace"
    assert lead["company_domain"] == "analytical-engines.co.uk"
    assert lead["tags"] == ["math", "vip"]
    assert lead["version"] == 1
    assert lead["created_by"] == "test:alice"
    assert events(leads, lead_id) == ["created"]
    [entry] = audit_entries(leads, lead_id)
    assert entry["action"] == "create"
    assert entry["actor"] == "test:alice"
    assert entry["changes"]["email"] == [None, "ada.lovelace@example.com"]
    assert [p["id"] for p in leads.get_sync_pending_leads()] == [lead_id]


@pytest.mark.parametrize(
    ("field", "variant"),
    [
        ("email", {"email": "ADA.LOVELACE@example.com"}),
        ("linkedin_url", {"linkedin_url": "linkedin.com/in/ada-lovelace"}),
        ("phone", {"phone": "+44 (0)20 7946 0958"}),
    ],
)
def test_duplicate_policies(leads: LeadDatabase, field: str, variant: dict[str, str]) -> None:
    first = leads.add_lead(ADA)
    before = counts(leads)
    with pytest.raises(DuplicateLeadError) as caught:
        leads.add_lead({**variant, "title": "Countess"}, on_duplicate="reject")
    assert caught.value.existing_id == first
    assert caught.value.matched_on == field
    assert counts(leads) == before

    merged = leads.add_lead({**variant, "title": "Countess"}, on_duplicate="merge")
    assert merged == first
    lead = leads.get_lead(first)
    assert lead is not None
    assert lead["title"] == "Countess" and lead["version"] == 2
    assert events(leads, first) == ["created", "updated"]

    other = leads.add_lead({**variant, "title": "Clone"}, on_duplicate="allow")
    assert other != first
    assert leads.count_leads() == 2


def test_provider_external_id_is_a_duplicate_key(leads: LeadDatabase) -> None:
    row = {"full_name": "Bob", "provider_name": "apify", "external_id": "place-1"}
    first = leads.add_lead(row)
    assert leads.add_lead({**row, "city": "Lyon"}) == first
    assert leads.add_lead({**row, "provider_name": "other"}) != first


def test_merge_keeps_existing_values_and_collects_second_email(leads: LeadDatabase) -> None:
    first = leads.add_lead({**ADA, "title": "Analyst", "tags": ["a"]})
    leads.add_lead(
        {
            "linkedin_url": ADA["linkedin_url"],
            "email": "ada@other.org",
            "title": "CEO",
            "tags": ["b"],
        }
    )
    lead = leads.get_lead(first)
    assert lead is not None
    assert lead["title"] == "Analyst"  # stored value is not overwritten
    assert lead["email"] == "ada.lovelace@example.com"
    assert lead["additional_emails"] == ["ada@other.org"]
    assert lead["tags"] == ["a", "b"]


def test_bulk_create_dedupes_within_batch_and_against_store(leads: LeadDatabase) -> None:
    existing = leads.add_lead({"email": "old@example.com", "full_name": "Old"})
    ids = leads.add_leads(
        [
            {"email": "new@example.com", "full_name": "New One"},
            {"email": "OLD@example.com", "title": "Boss"},
            {"email": "new@example.com", "city": "Paris"},
            {"full_name": "Solo"},
        ]
    )
    assert ids[1] == existing
    assert ids[0] == ids[2] and ids[0] != existing
    assert len(set(ids)) == 3
    new = leads.get_lead(ids[0])
    assert new is not None and new["city"] == "Paris" and new["full_name"] == "New One"
    old = leads.get_lead(existing)
    assert old is not None and old["title"] == "Boss"
    assert audit.verify  # the chain is checked in test_audit; here: one entry per write
    actions = [e["action"] for e in audit_entries(leads)]
    assert actions == ["create", "create", "create", "update"]


def test_bulk_reject_is_all_or_nothing(leads: LeadDatabase) -> None:
    leads.add_lead({"email": "taken@example.com"})
    before = counts(leads)
    with pytest.raises(DuplicateLeadError, match=r"rows\[1\]"):
        leads.add_leads(
            [{"email": "fresh@example.com"}, {"email": "taken@example.com"}],
            on_duplicate="reject",
        )
    assert counts(leads) == before


BAD_INPUTS = [
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@b.com", "phone": "12"}, "phone"),
    ({"email": "a@b.com", "phone": "call me"}, "phone"),
    ({"email": "a@b.com", "company_domain": "no_such domain"}, "company_domain"),
    ({"email": "a@b.com", "company_domain": "localhost"}, "company_domain"),
    ({"email": "a@b.com", "linkedin_url": "https://evil.example/in/x"}, "linkedin_url"),
    ({"email": "a@b.com", "favourite_colour": "blue"}, "favourite_colour"),
    ({"email": "a@b.com", "full_name": "x" * 256}, "full_name"),
    ({"email": "a@b.com", "lead_score": "lots"}, "lead_score"),
    ({"email": "a@b.com", "lead_score": 101}, "lead_score"),
    ({"email": 12345}, "email"),
    ({"email": "a@b.com", "tags": "not-a-list"}, "tags"),
    ({"email": "a@b.com", "enrichment_status": "done"}, "enrichment_status"),
    ({"title": "Nobody"}, "full_name"),
]


@dbs.only("db_url", "sqlite")
@pytest.mark.parametrize(("data", "field"), BAD_INPUTS)
def test_bad_input_names_the_field_and_changes_nothing(
    leads: LeadDatabase, data: dict[str, object], field: str
) -> None:
    before = counts(leads)
    with pytest.raises(ValidationError) as caught:
        leads.add_lead(data)
    assert caught.value.field == field, caught.value.message
    assert counts(leads) == before


def test_bad_row_in_bulk_is_named_by_index(leads: LeadDatabase) -> None:
    with pytest.raises(ValidationError) as caught:
        leads.add_leads([{"email": "ok@example.com"}, {"email": "bad"}])
    assert caught.value.field == "rows[1].email"
    assert counts(leads)["sales_leads"] == 0


def test_partial_update_records_old_and_new(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    assert leads.update_lead(lead_id, {"title": "Countess", "lead_status": "qualified"})
    assert not leads.update_lead(lead_id, {"title": "Countess"})  # no change, no write
    lead = leads.get_lead(lead_id)
    assert lead is not None
    assert lead["title"] == "Countess" and lead["version"] == 2
    assert lead["email"] == "ada.lovelace@example.com"
    entry = audit_entries(leads, lead_id)[-1]
    assert entry["action"] == "update"
    assert entry["changes"] == {"title": [None, "Countess"], "lead_status": ["new", "qualified"]}
    assert events(leads, lead_id) == ["created", "updated"]


def test_full_update_resets_omitted_fields(leads: LeadDatabase) -> None:
    from leadbase.leads import service

    lead_id = leads.add_lead(ADA)
    with leads.db.unit_of_work() as uow:
        service.update(uow, lead_id, {"full_name": "Ada King"}, replace=True)
    lead = leads.get_lead(lead_id)
    assert lead is not None
    assert lead["full_name"] == "Ada King" and lead["email"] is None and lead["tags"] is None


def test_update_to_anothers_email_is_a_duplicate(leads: LeadDatabase) -> None:
    first = leads.add_lead({"email": "one@example.com"})
    second = leads.add_lead({"email": "two@example.com"})
    with pytest.raises(DuplicateLeadError) as caught:
        leads.update_lead(second, {"email": "ONE@example.com"})
    assert caught.value.existing_id == first


def test_update_with_bad_value_changes_nothing(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    before = counts(leads)
    with pytest.raises(ValidationError) as caught:
        leads.update_lead(lead_id, {"phone": "nope", "title": "x"})
    assert caught.value.field == "phone"
    assert counts(leads) == before
    lead = leads.get_lead(lead_id)
    assert lead is not None and lead["title"] is None


def test_stale_version_is_a_conflict(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    leads.update_lead(lead_id, {"title": "A", "version": 1})
    with pytest.raises(ConflictError) as caught:
        leads.update_lead(lead_id, {"title": "B", "version": 1})
    assert caught.value.current_version == 2
    lead = leads.get_lead(lead_id)
    assert lead is not None and lead["title"] == "A"


def test_two_concurrent_updates_from_one_version(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def edit(title: str) -> None:
        barrier.wait()
        try:
            leads.update_lead(lead_id, {"title": title}, expected_version=1)
            outcomes[title] = "won"
        except ConflictError:
            outcomes[title] = "conflict"

    threads = [threading.Thread(target=edit, args=(t,)) for t in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "won"]
    winner = next(t for t, o in outcomes.items() if o == "won")
    lead = leads.get_lead(lead_id)
    assert lead is not None and lead["title"] == winner and lead["version"] == 2
    assert [e["action"] for e in audit_entries(leads, lead_id)] == ["create", "update"]


def test_soft_delete_and_restore(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    leads.delete_lead(lead_id)
    assert leads.get_lead(lead_id) is None
    deleted = leads.get_lead(lead_id, include_deleted=True)
    assert deleted is not None and deleted["deleted_by"] == "test:alice"
    assert leads.search_leads({"email": "ada.lovelace@example.com"}) == []
    with pytest.raises(NotFoundError):
        leads.delete_lead(lead_id)
    # a deleted lead is no duplicate: the same person can be added again
    again = leads.add_lead({"email": ADA["email"]}, on_duplicate="reject")
    assert again != lead_id
    leads.restore_lead(lead_id)
    restored = leads.get_lead(lead_id)
    assert restored is not None and restored["deleted_at"] is None
    assert events(leads, lead_id) == ["created", "deleted", "restored"]
    actions = [e["action"] for e in audit_entries(leads, lead_id)]
    assert actions == ["create", "delete", "restore"]


def test_unknown_lead(leads: LeadDatabase) -> None:
    assert leads.get_lead("nope") is None
    with pytest.raises(NotFoundError):
        leads.update_lead("nope", {"title": "x"})
    with pytest.raises(NotFoundError):
        leads.restore_lead("nope")
    with pytest.raises(NotFoundError):
        leads.mark_for_sync("nope")


def test_search_and_stream(leads: LeadDatabase) -> None:
    ids = leads.add_leads(
        [{"full_name": f"Lead {i}", "country": "FR" if i % 2 else "DE"} for i in range(25)]
    )
    assert len(leads.search_leads({"country": "FR"})) == 12
    assert len(leads.search_leads({"country": ["FR", "DE"], "limit": 5})) == 5
    with pytest.raises(ValidationError) as caught:
        leads.search_leads({"colour": "red"})
    assert caught.value.field == "colour"
    streamed = [lead["id"] for lead in leads.get_all_leads(batch_size=7)]
    assert streamed == sorted(ids)


def test_sync_outbox(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead(ADA)
    leads.update_lead(lead_id, {"title": "x"})
    leads.mark_for_sync(lead_id)
    pending = leads.get_sync_pending_leads()
    assert [lead["id"] for lead in pending] == [lead_id]
    assert counts(leads)["sync_status"] == 1  # one pending mark covers later changes


def test_unset_json_fields_are_sql_null(leads: LeadDatabase) -> None:
    bare = leads.add_lead({"full_name": "Bare"})
    leads.add_lead({"full_name": "Rich", "raw_data": {"k": 1}})
    assert [lead["id"] for lead in leads.search_leads({"raw_data": None})] == [bare]


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_write_after_an_earlier_read_sees_the_latest_commit(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """A unit of work that read a lead before another writer committed still
    updates the latest row: no spurious conflict, nobody's change lost.
    (SQLite cannot interleave like this: a writer holds the lock from its
    first statement.)"""
    from leadbase.leads import repository, service
    from tests import dbs

    url = request.getfixturevalue("_server_urls")(kind)
    dbs.empty_all_tables(url)
    with LeadDatabase(url, actor="test:a") as first, LeadDatabase(url, actor="test:b") as other:
        lead_id = first.add_lead(ADA)
        with first.db.unit_of_work() as uow:
            stale = repository.get(uow.session, lead_id)
            assert stale is not None and stale.version == 1
            other.update_lead(lead_id, {"title": "Countess"})
            service.update(uow, lead_id, {"city": "London"})
        lead = first.get_lead(lead_id)
    assert lead is not None
    assert (lead["title"], lead["city"], lead["version"]) == ("Countess", "London", 3)


def test_bulk_names_the_row_with_a_missing_company(leads: LeadDatabase) -> None:
    with pytest.raises(ValidationError) as caught:
        leads.add_leads([{"full_name": "A"}, {"full_name": "B", "company_id": "nope"}])
    assert caught.value.field == "rows[1].company_id"


def test_a_patch_of_one_name_half_keeps_the_names_in_step(leads: LeadDatabase) -> None:
    lead_id = leads.add_lead({"full_name": "Grace Hopper", "email": "grace@example.com"})
    assert leads.update_lead(lead_id, {"first_name": "Amazing"})
    renamed = leads.get_lead(lead_id)
    assert renamed is not None
    assert (renamed["first_name"], renamed["last_name"]) == ("Amazing", "Hopper")
    assert renamed["full_name"] == "Amazing Hopper"
    leads.update_lead(lead_id, {"full_name": "Rear Admiral Grace Hopper"})
    leads.update_lead(lead_id, {"last_name": "Murray Hopper"})
    kept = leads.get_lead(lead_id)
    assert kept is not None
    assert kept["full_name"] == "Rear Admiral Grace Hopper"
    assert kept["last_name"] == "Murray Hopper"
