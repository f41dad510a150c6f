"""Merging leads and undoing it: survivorship, exact restore, audit, concurrency.

The survivorship rules are pure functions; everything else runs on SQLite,
PostgreSQL and MariaDB (the ``db_url`` / ``leads`` fixtures).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytest
from sqlalchemy import bindparam, func, select, text

from leadbase import audit
from leadbase.client import LeadDatabase
from leadbase.dedupe import repository as dedupe_repository
from leadbase.duplicates import service
from leadbase.duplicates.survivorship import NOTES_SEPARATOR, survive
from leadbase.errors import ConflictError, NotFoundError, ValidationError
from leadbase.leads import repository as leads_repository
from leadbase.leads.schemas import LEAD_FIELDS
from leadbase.models import DedupeDismissal, DuplicateCluster, SyncStatus
from tests.helpers import audit_entries, events

# --- survivorship (pure) ------------------------------------------------------------------


def _lead(lead_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(LEAD_FIELDS)
    row.update(
        id=lead_id,
        email_verified=False,
        phone_verified=False,
        verified=False,
        is_manual=False,
        enrichment_status="pending",
        lead_status="new",
    )
    row.update(fields)
    return row


def _enriched(field: str, value: Any, provider: str = "hunter") -> dict[str, Any]:
    return {"fields": {field: {"value": value, "provider": provider, "at": "2026-01-01"}}}


def test_non_empty_beats_empty_and_the_survivor_breaks_ties() -> None:
    survivor = _lead("s", full_name="Ada Lovelace", title=None, industry="Maths")
    other = _lead("o", full_name="Ada King", title="Countess", industry="Poetry")
    result = survive([survivor, other])
    assert result.values["full_name"] == "Ada Lovelace"  # both set: the survivor's
    assert result.values["title"] == "Countess"  # only the other has one
    assert result.values["industry"] == "Maths"
    assert result.winners["title"] == "o"
    # what lost is kept, with the lead it came from
    assert result.kept["full_name"] == [{"lead_id": "o", "value": "Ada King"}]
    assert result.kept["industry"] == [{"lead_id": "o", "value": "Poetry"}]
    assert "title" not in result.kept


def test_verified_email_and_phone_beat_unverified_ones() -> None:
    survivor = _lead("s", email="ada@old.example", phone="+33600000001")
    other = _lead(
        "o",
        email="ada@new.example",
        email_verified=True,
        phone="+33600000002",
        phone_verified=True,
        additional_phones=["+33600000003"],
    )
    values = survive([survivor, other]).values
    assert (values["email"], values["email_verified"]) == ("ada@new.example", True)
    assert values["additional_emails"] == ["ada@old.example"]
    assert (values["phone"], values["phone_verified"]) == ("+33600000002", True)
    assert values["additional_phones"] == ["+33600000001", "+33600000003"]


def test_person_entered_beats_enrichment() -> None:
    survivor = _lead("s", title="CTO (found)", enrichment_data=_enriched("title", "CTO (found)"))
    other = _lead("o", title="Chief Technology Officer")
    result = survive([survivor, other])
    assert result.values["title"] == "Chief Technology Officer"
    assert result.kept["title"] == [{"lead_id": "s", "value": "CTO (found)"}]
    # the provenance of a value a person typed is not carried over
    assert "title" not in result.values["enrichment_data"]["fields"]


def test_an_enriched_value_keeps_its_provenance_when_it_wins() -> None:
    survivor = _lead("s", full_name="Ada")
    other = _lead(
        "o",
        linkedin_url="https://linkedin.com/in/ada",
        enrichment_data=_enriched("linkedin_url", "https://linkedin.com/in/ada"),
    )
    values = survive([survivor, other]).values
    assert values["linkedin_url"] == "https://linkedin.com/in/ada"
    assert values["enrichment_data"]["fields"]["linkedin_url"]["provider"] == "hunter"


def test_an_edited_enriched_value_counts_as_typed() -> None:
    # provenance records another value: a person changed it since
    survivor = _lead("s", title="Typed later", enrichment_data=_enriched("title", "Found"))
    other = _lead("o", title="Other typed")
    assert survive([survivor, other]).values["title"] == "Typed later"


@pytest.mark.parametrize(
    ("statuses", "wins"),
    [
        (["new", "contacted"], "contacted"),
        (["qualified", "contacted", "new"], "qualified"),
        (["lost", "qualified"], "lost"),
        (["lost", "converted"], "converted"),
    ],
)
def test_the_most_advanced_status_wins(statuses: list[str], wins: str) -> None:
    leads = [_lead(f"l{i}", lead_status=status) for i, status in enumerate(statuses)]
    assert survive(leads).values["lead_status"] == wins


def test_lists_flags_notes_and_dicts_combine() -> None:
    survivor = _lead("s", tags=["vip", "fr"], notes="met at a fair", raw_data={"a": 1, "b": 2})
    other = _lead(
        "o",
        tags=["fr", "lead"],
        notes="called twice",
        raw_data={"b": 3, "c": 4},
        verified=True,
        is_manual=True,
    )
    values = survive([survivor, other]).values
    assert values["tags"] == ["vip", "fr", "lead"]
    assert values["notes"] == f"met at a fair{NOTES_SEPARATOR}called twice"
    assert values["raw_data"] == {"a": 1, "b": 2, "c": 4}
    assert values["verified"] is True and values["is_manual"] is True


def test_groups_move_together() -> None:
    survivor = _lead("s", full_name="A. Lovelace", city="London", postal_code=None)
    other = _lead(
        "o",
        full_name="Ada Lovelace",
        first_name="Ada",
        last_name="Lovelace",
        street="12 St James's Square",
        city="London",
        postal_code="SW1Y 4JH",
        country="GB",
    )
    values = survive([survivor, other], {"postal_code": "o"}).values
    # choosing the postcode chose the whole address
    assert (values["street"], values["postal_code"], values["country"]) == (
        "12 St James's Square",
        "SW1Y 4JH",
        "GB",
    )
    # the name stays the survivor's, whole (no first/last from another lead)
    assert (values["full_name"], values["first_name"]) == ("A. Lovelace", None)


def test_choices_override_every_rule() -> None:
    survivor = _lead(
        "s", email="a@x.example", email_verified=True, tags=["x"], lead_status="converted"
    )
    other = _lead("o", email="b@x.example", tags=["y"], lead_status="new", notes="mine")
    values = survive(
        [survivor, other], {"email": "o", "lead_status": "o", "tags": "o", "notes": "s"}
    ).values
    assert (values["email"], values["email_verified"]) == ("b@x.example", False)
    assert values["additional_emails"] == ["a@x.example"]
    assert values["lead_status"] == "new"
    assert values["tags"] == ["y"]
    assert values["notes"] is None


def test_finished_enrichment_and_chosen_flags() -> None:
    survivor = _lead("s", verified=True)
    done = _lead(
        "o",
        enrichment_status="completed",
        enrichment_task_id="job-1",
        enrichment_data={"steps": [], "fields": {}},
    )
    values = survive([survivor, done], {"verified": "o", "is_manual": "o"}).values
    # the survivor was never enriched: it takes the finished enrichment, with its job
    assert (values["enrichment_status"], values["enrichment_task_id"]) == ("completed", "job-1")
    assert values["enrichment_data"] == {"steps": [], "fields": {}}
    assert values["verified"] is False and values["is_manual"] is False
    running = _lead("s", enrichment_status="in_progress", enrichment_task_id="job-2")
    assert survive([running, done]).values["enrichment_task_id"] == "job-2"


@pytest.mark.parametrize(
    ("choices", "field"),
    [
        ({"nope": "o"}, "choices.nope"),
        ({"title": "someone-else"}, "choices.title"),
        ({"additional_emails": "o"}, "choices.additional_emails"),
    ],
)
def test_bad_choices_name_the_field(choices: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        survive([_lead("s"), _lead("o")], choices)
    assert caught.value.field == field


# --- on the databases -----------------------------------------------------------------


def _uow(db: LeadDatabase) -> Any:
    """A unit of work acting as the test user (what LeadDatabase does)."""
    return db._write()


def _raw(db: LeadDatabase, table: str, column: str, ids: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows as the driver returns them (no SQLAlchemy type processing): what
    the database holds, compared byte for byte."""
    query = text(f"SELECT * FROM {table} WHERE {column} IN :ids ORDER BY id").bindparams(
        bindparam("ids", expanding=True)
    )
    with db.db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query, {"ids": list(ids)})]


def _sources(db: LeadDatabase, lead_id: str) -> list[Any]:
    """The sources a lead's page shows (a new lead's own is its row, not stored)."""
    with db.db.read_session() as session:
        return list(leads_repository.sources_for(session, lead_id))


def _everything(db: LeadDatabase, ids: Sequence[str]) -> dict[str, Any]:
    return {
        "leads": _raw(db, "sales_leads", "id", ids),
        "events": _raw(db, "lead_events", "lead_id", ids),
        "sources": _raw(db, "lead_sources", "lead_id", ids),
    }


def _verify(db: LeadDatabase) -> audit.VerifyResult:
    with db.db.read_session() as session:
        return audit.verify(session)


def _two(leads: LeadDatabase) -> tuple[str, str]:
    a = leads.add_lead(
        {
            "full_name": "Ada Lovelace",
            "email": "ada@example.com",
            "tags": ["maths"],
            "lead_status": "contacted",
            "notes": "first",
            "raw_data": {"x": 1.5, "nested": {"k": [1, 2]}},
        },
        on_duplicate="allow",
    )
    b = leads.add_lead(
        {
            "full_name": "Ada King",
            "email": "ada.king@example.org",
            "phone": "+44 20 7946 0018",
            "phone_verified": True,
            "title": "Countess",
            "tags": ["poetry"],
            "lead_status": "qualified",
            "source": "import",
        },
        on_duplicate="allow",
    )
    leads.update_lead(b, {"city": "London"})
    return a, b


def test_merge_then_unmerge_restores_every_row_exactly(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    before = _everything(leads, [a, b])
    b_events = _raw(leads, "lead_events", "lead_id", [b])

    merge_id = leads.merge_leads(a, [b])

    survivor, merged = leads.get_lead(a), leads.get_lead(b)
    assert survivor is not None and merged is not None
    assert merged["merged_into_id"] == a
    assert survivor["lead_status"] == "qualified"
    assert survivor["title"] == "Countess" and survivor["phone"] == "+442079460018"
    assert survivor["additional_emails"] == ["ada.king@example.org"]
    assert survivor["tags"] == ["maths", "poetry"]
    assert survivor["version"] == 2 and survivor["key_email"] == "ada@example.com"
    # b's history and its source now belong to a; each lead got a "merged" event
    assert events(leads, a) == ["created", "created", "updated", "merged"]
    assert events(leads, b) == ["merged"]
    assert len(_sources(leads, a)) == 2
    assert b_events == []  # a change writes no lead_events row (0013): its audit entry tells it

    assert leads.unmerge_lead(b) == merge_id
    after = _everything(leads, [a, b])
    # every row as it was, plus the merged/unmerged events on each timeline
    assert after["leads"] == before["leads"]
    assert after["sources"] == before["sources"]
    restored = [row for row in after["events"] if row[0] in {e[0] for e in before["events"]}]
    assert restored == before["events"]
    assert events(leads, a)[-2:] == ["merged", "unmerged"]
    assert events(leads, b) == ["created", "updated", "merged", "unmerged"]
    result = _verify(leads)
    assert result.ok, result.describe()


def test_merge_and_unmerge_are_audited_and_marked_for_sync(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    merge_id = leads.merge_leads(a, [b])
    leads.unmerge_lead(a)
    actions = [
        (e["entity_id"], e["action"])
        for e in audit_entries(leads)
        if e["action"] in ("merge", "unmerge")
    ]
    assert actions == [(a, "merge"), (b, "merge"), (a, "unmerge"), (b, "unmerge")]
    merge_entry = next(e for e in audit_entries(leads, a) if e["action"] == "merge")
    assert merge_entry["actor"] == "test:alice"
    assert merge_entry["changes"]["merge_id"] == [None, merge_id]
    assert merge_entry["changes"]["title"] == [None, "Countess"]
    assert merge_entry["changes"]["merged_leads"] == [None, [b]]
    b_unmerge = next(e for e in audit_entries(leads, b) if e["action"] == "unmerge")
    assert b_unmerge["changes"]["merged_into_id"] == [a, None]
    with leads.db.read_session() as session:
        pending = set(
            session.scalars(select(SyncStatus.lead_id).where(SyncStatus.status == "pending"))
        )
    assert {a, b} <= pending
    result = _verify(leads)
    assert result.ok and result.checked == len(audit_entries(leads))


def test_a_merge_of_twelve_leads(leads: LeadDatabase) -> None:
    ids = leads.add_leads(
        [
            {
                "full_name": f"Grace Hopper {i}",
                "email": f"grace{i}@example.com",
                "phone": f"+1 212 555 01{i:02d}",
                "tags": [f"t{i}"],
            }
            for i in range(12)
        ],
        on_duplicate="allow",
    )
    before = _everything(leads, ids)
    leads.merge_leads(ids[0], ids[1:])

    survivor = leads.get_lead(ids[0])
    assert survivor is not None
    assert survivor["email"] == "grace0@example.com"
    assert survivor["additional_emails"] == [f"grace{i}@example.com" for i in range(1, 12)]
    assert len(survivor["additional_phones"]) == 11
    assert survivor["tags"] == [f"t{i}" for i in range(12)]
    assert len(_sources(leads, ids[0])) == 12
    assert events(leads, ids[0]).count("created") == 12
    assert all(leads.get_lead(i)["merged_into_id"] == ids[0] for i in ids[1:])  # type: ignore[index]

    leads.unmerge_lead(ids[5])
    after = _everything(leads, ids)
    assert after["leads"] == before["leads"] and after["sources"] == before["sources"]
    assert all(leads.get_lead(i)["merged_into_id"] is None for i in ids)  # type: ignore[index]
    assert _verify(leads).ok


def test_unmerge_is_refused_when_it_would_lose_a_change(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    leads.merge_leads(a, [b])
    leads.update_lead(a, {"industry": "Computing"})
    with pytest.raises(ConflictError, match="changed after merge"):
        leads.unmerge_lead(b)
    assert leads.get_lead(b)["merged_into_id"] == a  # type: ignore[index]


def test_unmerge_twice_or_of_a_lead_never_merged_is_a_conflict(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    c = leads.add_lead({"full_name": "Charles Babbage"})
    with pytest.raises(ConflictError, match="never merged"):
        leads.unmerge_lead(c)
    leads.merge_leads(a, [b])
    leads.unmerge_lead(a)
    with pytest.raises(ConflictError, match="undone already"):
        leads.unmerge_lead(b)
    with pytest.raises(NotFoundError):
        leads.unmerge_lead("no-such-lead")


def test_nested_merges_undo_in_reverse_order(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    c = leads.add_lead({"full_name": "Ada L.", "email": "al@example.net"})
    before = _everything(leads, [a, b, c])
    leads.merge_leads(a, [b])
    leads.merge_leads(c, [a])  # the survivor of the first merge is merged again
    with pytest.raises(ConflictError):
        leads.unmerge_lead(b)  # a changed since the first merge
    leads.unmerge_lead(c)
    leads.unmerge_lead(b)
    after = _everything(leads, [a, b, c])
    assert after["leads"] == before["leads"] and after["sources"] == before["sources"]


def test_bad_merges_change_nothing(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    before = _everything(leads, [a, b])
    with pytest.raises(NotFoundError):
        leads.merge_leads(a, [b, "no-such-lead"])
    with pytest.raises(ValidationError) as caught:
        leads.merge_leads(a, [a])
    assert caught.value.field == "merged_ids"
    with pytest.raises(ValidationError):
        leads.merge_leads(a, [])
    with pytest.raises(ValidationError) as bad_choice:
        leads.merge_leads(a, [b], {"title": "someone"})
    assert bad_choice.value.field == "choices.title"
    leads.delete_lead(b)
    with pytest.raises(NotFoundError):
        leads.merge_leads(a, [b])
    leads.restore_lead(b)
    after = _everything(leads, [a, b])
    assert after["leads"][0] == before["leads"][0]
    with leads.db.read_session() as session:
        assert service.merges_for_lead(session, a) == []


def test_too_many_or_malformed_ids_are_refused(leads: LeadDatabase) -> None:
    a = leads.add_lead({"full_name": "Ada"})
    with pytest.raises(ValidationError, match="at most"):
        leads.merge_leads(a, [f"id-{i}" for i in range(service.MAX_MERGE)])
    with pytest.raises(ValidationError, match="non-empty strings"):
        leads.merge_leads(a, [""])
    with pytest.raises(ValidationError, match="at least one"):
        leads.merge_leads(a, "not-a-list")


def test_a_merged_lead_cannot_be_merged_again(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    c = leads.add_lead({"full_name": "Someone Else"})
    leads.merge_leads(a, [b])
    with pytest.raises(ConflictError, match="already merged"):
        leads.merge_leads(c, [b])
    with pytest.raises(ConflictError, match="already merged"):
        leads.merge_leads(b, [c])


def test_expected_versions_refuse_a_merge_of_changed_leads(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    with _uow(leads) as uow, pytest.raises(ConflictError, match="version"):
        service.merge_leads(uow, a, [b], expected_versions={b: 1})  # b is at 2
    with _uow(leads) as uow:
        merge = service.merge_leads(uow, a, [b], expected_versions={a: 1, b: 2})
        assert merge.survivor_version == 2


# --- clusters ----------------------------------------------------------------------------


def _store_cluster(db: LeadDatabase, lead_ids: Sequence[str], action: str = "review") -> str:
    with _uow(db) as uow:
        cluster = {"lead_ids": lead_ids, "score": 0.9, "reasons": ["same phone"], "action": action}
        dedupe_repository.upsert_clusters(uow.session, [cluster], origin="scan")
        wanted = dedupe_repository.fingerprint(lead_ids)
        return dedupe_repository.clusters_by_fingerprint(uow.session, [wanted])[wanted].id


def _cluster(db: LeadDatabase, cluster_id: str) -> DuplicateCluster:
    with db.db.read_session() as session:
        return service.get_cluster(session, cluster_id)


def test_a_dismissed_cluster_stays_dismissed(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    cluster_id = _store_cluster(leads, [a, b])
    with leads.db.read_session() as session:
        assert [c.id for c in service.clusters_for_lead(session, b)] == [cluster_id]
    assert leads.dismiss_duplicates(cluster_id)
    assert leads.dismiss_duplicates(cluster_id)  # again: nothing changes
    with _uow(leads) as uow:
        found = [{"lead_ids": [b, a], "score": 0.99, "reasons": ["new"], "action": "merge"}]
        assert dedupe_repository.upsert_clusters(uow.session, found, origin="scan") == 0
    cluster = _cluster(leads, cluster_id)
    assert (cluster.status, cluster.score, cluster.resolved_by) == ("dismissed", 0.9, "test:alice")
    with leads.db.read_session() as session:
        assert dedupe_repository.dismissed_pairs(session, [a]) == {tuple(sorted((a, b)))}
        assert service.clusters_for_lead(session, a) == []
        assert session.scalar(select(func.count()).select_from(DedupeDismissal)) == 1
    assert leads.list_duplicates() == []
    assert [c["id"] for c in leads.list_duplicates(status="dismissed")] == [cluster_id]
    assert [e["action"] for e in audit_entries(leads, cluster_id)] == ["dismiss"]
    with pytest.raises(NotFoundError):
        leads.dismiss_duplicates("no-such-cluster")


def test_a_merge_resolves_its_cluster_and_an_unmerge_reopens_it(leads: LeadDatabase) -> None:
    a, b = _two(leads)
    c = leads.add_lead({"full_name": "Charles Babbage"})
    cluster_id = _store_cluster(leads, [a, b], action="merge")
    wider = _store_cluster(leads, [a, b, c])
    with pytest.raises(ValidationError, match="every lead"):
        leads.merge_leads(a, [c], cluster_id=cluster_id)
    leads.merge_leads(a, [b], cluster_id=cluster_id)
    assert _cluster(leads, cluster_id).status == "merged"
    assert _cluster(leads, wider).status == "open"  # c is not part of this merge
    with pytest.raises(ConflictError, match="merged already"):
        leads.dismiss_duplicates(cluster_id)
    leads.unmerge_lead(a)
    reopened = _cluster(leads, cluster_id)
    # open again, for a person: an automatic merge must not redo it
    assert (reopened.status, reopened.action, reopened.resolved_at) == ("open", "review", None)
    with leads.db.read_session() as session:
        assert [m.undone_by for m in service.merges_for_lead(session, b)] == ["test:alice"]


def test_clusters_page_best_first(leads: LeadDatabase) -> None:
    ids = leads.add_leads([{"full_name": f"P {i}"} for i in range(5)], on_duplicate="allow")
    with _uow(leads) as uow:
        found = [
            {"lead_ids": [ids[i], ids[i + 1]], "score": s, "reasons": [], "action": "review"}
            for i, s in enumerate([0.7, 0.95, 0.8, 0.95])
        ]
        dedupe_repository.upsert_clusters(uow.session, found, origin="scan")
    seen: list[float] = []
    after = None
    with leads.db.read_session() as session:
        while True:
            page = service.list_clusters(session, limit=3, after=after)
            seen.extend(c.score for c in page.items)
            if page.next_after is None:
                break
            after = page.next_after
    assert seen == [0.95, 0.95, 0.8, 0.7]


# --- two merges at once -------------------------------------------------------------------


def _race(merges: Sequence[Callable[[], str]]) -> list[Any]:
    barrier = threading.Barrier(len(merges))
    outcomes: list[Any] = [None] * len(merges)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = merges[i]()
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(merges))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_merges_of_overlapping_clusters_one_wins(db_url: str) -> None:
    """Two writers merge clusters sharing a lead at the same moment, in their
    own clients (own connections): one merge lands whole, the other is a 409
    and left no trace; the chain verifies. Several rounds, each way."""
    with (
        LeadDatabase(db_url, actor="test:one") as one,
        LeadDatabase(db_url, actor="test:two") as two,
    ):
        for round_ in range(4):
            a, shared, c = one.add_leads(
                [
                    {"full_name": f"Round {round_} {n}", "email": f"r{round_}{n}@example.com"}
                    for n in "asc"
                ],
                on_duplicate="allow",
            )
            before = _everything(one, [a, shared, c])
            outcomes = _race(
                [partial(one.merge_leads, a, [shared]), partial(two.merge_leads, c, [shared])]
            )
            conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
            won = [o for o in outcomes if isinstance(o, str)]
            assert len(conflicts) == 1 and len(won) == 1, outcomes
            winner, loser = (a, c) if isinstance(outcomes[0], str) else (c, a)
            assert one.get_lead(shared)["merged_into_id"] == winner  # type: ignore[index]
            # the losing survivor is untouched, and the shared lead's rows all went one way
            loser_row = [r for r in before["leads"] if r[0] == loser]
            assert _raw(one, "sales_leads", "id", [loser]) == loser_row
            assert len(_sources(one, winner)) == 2
            with one.db.read_session() as session:
                assert len(service.merges_for_lead(session, shared)) == 1
        result = _verify(one)
        assert result.ok, result.describe()
