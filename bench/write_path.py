"""Write-path benchmark: LeadDatabase.add_leads against a raw SQLite insert.

    .venv/bin/python bench/write_path.py [--rows 100000] [--chunk 5000] [--seed 4]

(a) stores ``--rows`` generated leads through the one write path
    (``LeadDatabase.add_leads(chunk, on_duplicate="merge")``): validation,
    normalisation, duplicate lookups and merges, lead rows, timeline events,
    duplicates queued for review and the hash-chained audit log (sources and
    sync marks only where a lead needs one), one transaction per chunk.
(b) inserts the lead rows exactly as (a) left them in sales_leads (JSON
    columns json-dumped inside the timing) into a fresh migrated database
    in one transaction (the companies they link to are put there first,
    outside the timing), twice: (b1) with one ``sqlite3`` ``executemany``,
    (b2) with INSERTs of 500 rows each. The search index's triggers cost a
    disk write per statement on SQLite, so (b2) is the faster floor for
    "write these rows with these indexes"; the table's ratio is (a) over the
    faster of the two, in leads per second.
(c) for reference, the same for every row (a) wrote in all six tables
    (companies, sales_leads, lead_sources, lead_events, sync_status,
    audit_log): the floor for (a) itself, before any validation, lookups or
    hashing.

All run in this one process on fresh SQLite files in a temporary folder,
each migrated by ``leadbase.schema.upgrade``. The leads are generated
deterministically from ``--seed``; about 5% repeat an earlier lead's email
in another letter case (with a new title, city or tag), so merges happen both
inside a chunk and against leads stored by an earlier chunk.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import JSON, func, select

from leadbase import audit, schema
from leadbase.client import LeadDatabase
from leadbase.db import create_db_engine
from leadbase.models import (
    AuditLog,
    Base,
    Company,
    LeadEvent,
    LeadSource,
    SalesLead,
    SyncStatus,
)


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _split(
    "Ada Alan Grace Linus Margaret Dennis Barbara Ken Radia Edsger Frances John Katherine "
    "Tim Hedy Donald Sophie Claude Anita Niklaus Shafi Guido Yukihiro Bjarne James Lynn "
    "Olivia Liam Emma Noah Amelia Oliver Isla Jack Mia Harry Ava Leo Chloé Lucas Léa "
    "Hugo Manon Jules Zoë Jürgen Anna Lukas Lena Felix Marie Elias Sofía Mateo Ingrid "
    "Björn Aisha Omar Priya Rahul Mei Wei Hiroshi Yuki Fatima Kwame Chiara Matteo"
)
LAST_NAMES = _split(
    "Lovelace Turing Hopper Torvalds Hamilton Ritchie Liskov Thompson Perlman Dijkstra "
    "Allen Backus Johnson Berners-Lee Lamarr Knuth Wilson Shannon Borg Wirth Goldwasser "
    "Rossum Matsumoto Stroustrup Gosling Conway Smith Jones Taylor Brown Williams "
    "Davies Evans Thomas Roberts Walker Wright Martin Bernard Dubois Durand Lefèvre Moreau "
    "Laurent Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schäfer Koch "
    "García Fernández López Rossi Russo Bianchi Nakamura Tanaka Suzuki Chen Wang Li "
    "Okafor Mensah Patel Sharma Khan O'Brien MacDonald Nguyen Kowalski Novak Jansen"
)
TITLES = (
    "CEO",
    "CTO",
    "CFO",
    "Founder",
    "Co-Founder & CEO",
    "VP Sales",
    "VP of Engineering",
    "Head of Marketing",
    "Head of Growth",
    "Sales Director",
    "Account Executive",
    "Senior Account Executive",
    "Business Development Manager",
    "Marketing Manager",
    "Product Manager",
    "Senior Software Engineer",
    "Engineering Manager",
    "Procurement Lead",
    "Operations Manager",
    "Office Manager",
    "Partner",
    "Managing Director",
    "Geschäftsführer",
    "Directeur commercial",
)
WORDS = _split(
    "acme analytical engines northwind globex initech umbrella stark wayne tyrell "
    "cyberdyne soylent hooli pied piper vandelay massive dynamic aperture black mesa "
    "blue sun oscorp wonka gringotts monarch virtucon nakatomi prestige vought "
    "bluth dunder mifflin sterling cooper oceanic duff krusty lunar orbital quantum "
    "nimbus cobalt granite harbor summit meridian vertex pioneer atlas beacon"
)
SUFFIXES = ("Ltd", "GmbH", "SAS", "Inc.", "LLC", "Labs", "Group", "AG", "& Co", "")
INDUSTRIES = (
    "Software",
    "Manufacturing",
    "Retail",
    "Logistics",
    "Finance",
    "Healthcare",
    "Construction",
    "Hospitality",
    "Energy",
    "Education",
)
TAGS = (
    "vip",
    "cold",
    "warm",
    "hot",
    "newsletter",
    "event-2025",
    "webinar",
    "partner",
    "churned",
    "trial",
    "enterprise",
    "smb",
    "inbound",
    "outbound",
    "referral",
)
# country code, how the country is written, cities, TLDs, national number makers
COUNTRIES: dict[str, dict[str, Any]] = {
    "US": {
        "names": ("US", "United States", "USA"),
        "cities": ("New York", "San Francisco", "Austin", "Chicago", "Seattle", "Boston"),
        "tlds": ("com", "io", "us", "ai"),
    },
    "GB": {
        "names": ("GB", "United Kingdom"),
        "cities": ("London", "Manchester", "Bristol", "Edinburgh", "Leeds"),
        "tlds": ("co.uk", "com", "uk"),
    },
    "DE": {
        "names": ("DE", "Germany", "Deutschland"),
        "cities": ("Berlin", "München", "Hamburg", "Köln", "Frankfurt am Main"),
        "tlds": ("de", "com", "io"),
    },
    "FR": {
        "names": ("FR", "France"),
        "cities": ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux"),
        "tlds": ("fr", "com", "eu"),
    },
}
COUNTRY_WEIGHTS = (("US", 45), ("GB", 20), ("DE", 20), ("FR", 15))
US_AREAS = (212, 213, 206, 305, 312, 404, 415, 512, 617, 646, 702, 720, 303, 480, 503)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _national_number(rng: random.Random, country: str) -> str:
    if country == "US":
        return f"{rng.choice(US_AREAS)}{rng.randrange(2, 10)}{_digits(rng, 6)}"
    if country == "GB":
        return rng.choice(("20" + rng.choice("378") + _digits(rng, 7), "7" + _digits(rng, 9)))
    if country == "DE":
        return rng.choice(("30" + _digits(rng, 8), "89" + _digits(rng, 7), "151" + _digits(rng, 8)))
    return rng.choice("1234567") + _digits(rng, 8)  # FR


def _phone(rng: random.Random, country: str, seen: set[str]) -> tuple[str, bool]:
    """A valid, not yet used number, written as people write it; and whether
    it is written in national form (so the lead must name its country)."""
    while True:
        number = phonenumbers.parse(_national_number(rng, country), country)
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 in seen:
            continue
        seen.add(e164)
        style = rng.random()
        if style < 0.3:
            return e164, False
        if style < 0.6:
            fmt = phonenumbers.PhoneNumberFormat.INTERNATIONAL
            return phonenumbers.format_number(number, fmt), False
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return national, True


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in folded.lower() if c.isalnum())


def _companies(rng: random.Random, count: int) -> list[dict[str, str]]:
    companies: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(companies) < count:
        country = rng.choices([c for c, _ in COUNTRY_WEIGHTS], [w for _, w in COUNTRY_WEIGHTS])[0]
        words = rng.sample(WORDS, rng.choice((1, 2, 2, 3)))
        base = "-".join(words)
        domain = f"{base}.{rng.choice(COUNTRIES[country]['tlds'])}"
        if domain in seen:
            continue
        seen.add(domain)
        name = " ".join(w.capitalize() for w in words)
        suffix = rng.choice(SUFFIXES)
        companies.append(
            {
                "name": f"{name} {suffix}".strip(),
                "domain": domain,
                "country": country,
                "industry": rng.choice(INDUSTRIES),
            }
        )
    return companies


def _written_domain(rng: random.Random, domain: str) -> str:
    style = rng.random()
    if style < 0.7:
        return domain
    if style < 0.85:
        return f"https://www.{domain.capitalize()}/about"
    return f"www.{domain.upper()}"


def _lead(
    rng: random.Random, i: int, companies: list[dict[str, str]], phones: set[str]
) -> dict[str, Any]:
    company = rng.choice(companies)
    country = company["country"] if rng.random() < 0.85 else rng.choice(list(COUNTRIES))
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    a, b = _ascii(first), _ascii(last)
    local = rng.choice((f"{a}.{b}", f"{a}.{b}", f"{a[0]}{b}", f"{a}_{b}", a))
    email = f"{local}.{i}@{company['domain']}"
    lead: dict[str, Any] = {
        "email": email if rng.random() < 0.8 else email.capitalize(),
        "title": rng.choice(TITLES) if rng.random() < 0.9 else None,
        "company_name": company["name"],
        "company_domain": _written_domain(rng, company["domain"]),
        "city": rng.choice(COUNTRIES[country]["cities"]),
        "industry": company["industry"] if rng.random() < 0.6 else None,
    }
    if rng.random() < 0.8:
        lead["full_name"] = f"{first}  {last}" if rng.random() < 0.1 else f"{first} {last}"
    else:
        lead["first_name"], lead["last_name"] = first, last
    if rng.random() < 0.75:
        phone, national = _phone(rng, country, phones)
        lead["phone"] = phone
        lead["country"] = country if national else rng.choice(COUNTRIES[country]["names"])
    else:
        lead["country"] = rng.choice(COUNTRIES[country]["names"])
    if rng.random() < 0.5:
        lead["tags"] = rng.sample(TAGS, rng.randrange(1, 4))
    if rng.random() < 0.4:
        slug = f"{_ascii(first)}-{_ascii(last)}-{i:x}"
        lead["linkedin_url"] = rng.choice(
            (
                f"https://www.linkedin.com/in/{slug}",
                f"https://www.linkedin.com/in/{slug}/",
                f"linkedin.com/in/{slug}",
                f"http://{country.lower()}.linkedin.com/in/{slug.capitalize()}?trk=profile",
            )
        )
    provenance = rng.random()
    if provenance < 0.3:
        lead.update(
            source="apify",
            provider_name="apify",
            external_id=f"place-{i}",
            actor_id="compass/crawler-google-places",
            run_id=f"run-{i // 5000}",
            dataset_id=f"ds-{i // 5000}",
        )
    elif provenance < 0.5:
        lead["source"] = "csv_import"
    if rng.random() < 0.05:
        lead["lead_score"] = rng.randrange(101)
    if rng.random() < 0.03:
        lead["notes"] = "Met at the trade fair.\nFollow up in Q3."
    return {k: v for k, v in lead.items() if v is not None}


def _duplicate(rng: random.Random, original: dict[str, Any]) -> dict[str, Any]:
    """The same person again: the email in another case, plus something new."""
    email = str(original["email"])
    local, domain = email.split("@")
    email = rng.choice((email.upper(), f"{local.title()}@{domain.upper()}", email.swapcase()))
    row: dict[str, Any] = {"email": email}
    for field in ("full_name", "first_name", "last_name", "company_name"):
        if field in original:
            row[field] = original[field]
    extra = rng.random()
    if extra < 0.4:
        row["title"] = rng.choice(TITLES)
    elif extra < 0.7:
        row["tags"] = [rng.choice(TAGS)]
    else:
        row["industry"] = rng.choice(INDUSTRIES)
    return row


def generate(rows: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    companies = _companies(rng, max(50, rows // 40))
    duplicates = rows // 20
    originals = rows - duplicates
    phones: set[str] = set()
    keyed: list[tuple[float, dict[str, Any]]] = [
        (float(i), _lead(rng, i, companies, phones)) for i in range(originals)
    ]
    for _ in range(duplicates):
        j = rng.randrange(originals)
        # somewhere after the original: often in the same chunk, often later
        at = rng.uniform(j + 0.5, min(originals, j + rng.choice((50, 20_000))))
        keyed.append((at, _duplicate(rng, keyed[j][1])))
    keyed.sort(key=lambda pair: pair[0])
    return [row for _, row in keyed]


# --- the two runs ----------------------------------------------------------------


def migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url


def run_write_path(url: str, leads: list[dict[str, Any]], chunk: int) -> float:
    db = LeadDatabase(url, actor="bench:write_path")
    try:
        start, cpu = time.perf_counter(), time.process_time()
        for at in range(0, len(leads), chunk):
            db.add_leads(leads[at : at + chunk], on_duplicate="merge")
        seconds = time.perf_counter() - start
        # On a shared machine the wall clock counts other processes' turns too.
        print(f"(a) took {seconds:.2f}s, {time.process_time() - cpu:.2f}s of this process's CPU")
        return seconds
    finally:
        db.close()


def report_write_path(url: str) -> dict[str, Any]:
    db = LeadDatabase(url)
    try:
        with db.db.read_session() as session:
            counts = {
                model.__tablename__: int(
                    session.scalar(select(func.count()).select_from(model)) or 0
                )
                for model in (Company, SalesLead, LeadSource, LeadEvent, SyncStatus, AuditLog)
            }
            merged = int(
                session.scalar(
                    select(func.count()).select_from(SalesLead).where(SalesLead.version > 1)
                )
                or 0
            )
            verified = audit.verify(session)
        return {"counts": counts, "merged_across_chunks": merged, "verify": verified}
    finally:
        db.close()


# A JSON column (a) left SQL NULL, as opposed to one holding JSON ``null``.
SQL_NULL = object()
# (a)'s tables, parents first.
TABLES = ("companies", "sales_leads", "lead_sources", "lead_events", "sync_status", "audit_log")


@dataclass
class StoredTable:
    name: str
    columns: list[str]
    rows: list[list[Any]]  # JSON columns decoded back to Python values
    json_columns: list[int]


def stored_table(path: Path, name: str) -> StoredTable:
    """The rows of one table as (a) left them."""
    table = Base.metadata.tables[name]
    connection = sqlite3.connect(path)
    try:
        columns = [row[1] for row in connection.execute(f"PRAGMA table_info({name})")]
        json_columns = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
        rows = []
        for values in connection.execute(f"SELECT {', '.join(columns)} FROM {name}"):
            row = list(values)
            for i in json_columns:
                row[i] = SQL_NULL if row[i] is None else json.loads(row[i])
            rows.append(row)
        return StoredTable(name, columns, rows, json_columns)
    finally:
        connection.close()


def _params(table: StoredTable) -> list[list[Any]]:
    params = []
    for stored in table.rows:
        row = list(stored)
        for i in table.json_columns:
            row[i] = None if row[i] is SQL_NULL else json.dumps(row[i])
        params.append(row)
    return params


def run_raw_insert(
    path: Path,
    tables: list[StoredTable],
    *,
    multi_row: bool = False,
    untimed: tuple[StoredTable, ...] = (),
) -> float:
    """json.dumps the JSON columns, then write each table in one transaction:
    one executemany per table, or (``multi_row``) INSERTs of up to 500 rows
    each, which is faster where triggers run once per statement (the search
    index's, on SQLite). ``untimed`` tables are written first, outside the
    timing (the companies the leads point at)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # the pragmas leadbase's engine sets on every connection
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("BEGIN")
        for table in untimed:
            head = f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES "
            one = f"({', '.join('?' for _ in table.columns)})"
            connection.executemany(head + one, _params(table))
        connection.execute("COMMIT")
        start = time.perf_counter()
        connection.execute("BEGIN")
        for table in tables:
            head = f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES "
            one = f"({', '.join('?' for _ in table.columns)})"
            params = _params(table)
            if not multi_row:
                connection.executemany(head + one, params)
                continue
            for at in range(0, len(params), 500):
                batch = params[at : at + 500]
                flat = [value for row in batch for value in row]
                connection.execute(head + ", ".join(one for _ in batch), flat)
        connection.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        connection.close()


# --- bytes on disk ---------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    name: str  # table or index
    table: str  # the table it belongs to (an index's table)
    bytes: int  # pages it takes, in bytes, free space inside them included


def stored_objects(path: Path) -> list[StoredObject]:
    """Bytes each table and index of a SQLite file takes (its pages, from
    ``dbstat``), largest first. FTS5's shadow tables count under the
    virtual table's name (``lead_search``)."""
    connection = sqlite3.connect(path)
    try:
        owners = dict(
            connection.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type != 'trigger'")
        )
        rows = connection.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    finally:
        connection.close()
    found = []
    for name, size in rows:
        table = owners.get(name, name)
        for shadow in ("_data", "_idx", "_docsize", "_config", "_content"):
            if name.endswith(shadow) and name[: -len(shadow)] in owners:
                table = name[: -len(shadow)]
        found.append(StoredObject(name, table, int(size)))
    return found


def print_bytes_per_lead(path: Path, leads: int, *, top: int = 40) -> int:
    """Print bytes per lead by table (and its indexes) and by index; returns
    the file's total bytes (pages in use)."""
    objects = stored_objects(path)
    total = sum(o.bytes for o in objects)
    by_table: dict[str, list[StoredObject]] = {}
    for stored in objects:
        by_table.setdefault(stored.table, []).append(stored)
    print(f"bytes on disk per lead ({leads:,} leads, {total / 1e6:,.1f} MB, SQLite dbstat)")
    print(f"  {'table (+ its indexes)':40} {'MB':>9} {'B/lead':>8}")
    tables = sorted(by_table.items(), key=lambda kv: -sum(o.bytes for o in kv[1]))
    for table, parts in tables:
        size = sum(o.bytes for o in parts)
        if size / leads < 0.5:
            continue
        own = sum(o.bytes for o in parts if o.name == table)
        print(
            f"  {table:40} {size / 1e6:>9.1f} {size / leads:>8.0f}"
            f"   (rows {own / leads:.0f}, indexes {(size - own) / leads:.0f})"
        )
    print(f"  {'total':40} {total / 1e6:>9.1f} {total / leads:>8.0f}")
    print(f"  {'largest objects':40} {'MB':>9} {'B/lead':>8}")
    for stored in objects[:top]:
        if stored.bytes / leads < 0.5:
            break
        print(f"  {stored.name:40} {stored.bytes / 1e6:>9.1f} {stored.bytes / leads:>8.0f}")
    return total


def keep_copy(path: Path, to: Path) -> None:
    """A copy of a live SQLite file, its WAL included (the backup API)."""
    source, target = sqlite3.connect(path), sqlite3.connect(to)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="leads to write (100000)")
    parser.add_argument("--chunk", type=int, default=5_000, help="leads per add_leads (5000)")
    parser.add_argument("--seed", type=int, default=4, help="generator seed (4)")
    parser.add_argument(
        "--keep", type=Path, help="copy (a)'s database file here when done (for a look at it)"
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip (b) and (c): time the write path only"
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    leads = generate(args.rows, args.seed)
    print(f"generated {len(leads):,} leads in {time.perf_counter() - t0:.1f}s (seed {args.seed})")

    with tempfile.TemporaryDirectory(prefix="leadbase-bench-") as tmp:
        folder = Path(tmp)
        url_a = migrated(folder / "write_path.db")
        seconds_a = run_write_path(url_a, leads, args.chunk)
        result = report_write_path(url_a)
        print()
        lead_count = result["counts"]["sales_leads"]
        print_bytes_per_lead(folder / "write_path.db", lead_count)
        if args.keep:
            keep_copy(folder / "write_path.db", args.keep)
        if args.no_floor:
            rate = len(leads) / seconds_a
            print(f"(a) add_leads(merge): {len(leads):,} leads in {seconds_a:.2f}s, {rate:,.0f}/s")
            print(result["verify"].describe())
            return 0 if result["verify"].ok else 1

        stored = [stored_table(folder / "write_path.db", name) for name in TABLES]
        migrated(folder / "raw_leads.db")
        companies, lead_table = stored[0], stored[1]
        seconds_b1 = run_raw_insert(folder / "raw_leads.db", [lead_table], untimed=(companies,))
        migrated(folder / "raw_leads_multi.db")
        seconds_b2 = run_raw_insert(
            folder / "raw_leads_multi.db", [lead_table], multi_row=True, untimed=(companies,)
        )
        seconds_b = min(seconds_b1, seconds_b2)
        migrated(folder / "raw_all.db")
        seconds_c = run_raw_insert(folder / "raw_all.db", stored, multi_row=True)

    lead_rows, all_rows = len(stored[1].rows), sum(len(t.rows) for t in stored)
    rate_a, rate_b, rate_c = len(leads) / seconds_a, lead_rows / seconds_b, lead_rows / seconds_c
    ratio = rate_a / rate_b
    calls = -(-len(leads) // args.chunk)
    print()
    print(f"{'':48} {'rows':>9} {'seconds':>8} {'leads/s':>9}")
    for label, rows, seconds, rate in (
        (f"(a) add_leads(merge): {calls} calls x {args.chunk:,}", len(leads), seconds_a, rate_a),
        (
            "(b1) sqlite3 executemany: sales_leads only",
            lead_rows,
            seconds_b1,
            lead_rows / seconds_b1,
        ),
        (
            "(b2) sqlite3 500-row INSERTs: sales_leads only",
            lead_rows,
            seconds_b2,
            lead_rows / seconds_b2,
        ),
    ):
        print(f"{label:48} {rows:>9,} {seconds:>8.2f} {rate:>9,.0f}")
    print(f"{'ratio (a)/(b), (b) the faster of (b1), (b2)':48} {ratio:>28.3f}")
    label_c = "(c) for reference: all 6 tables (a) wrote"
    print(f"{label_c:48} {all_rows:>9,} {seconds_c:>8.2f} {rate_c:>9,.0f}")
    print()
    print(f"leads/s: (a) per lead given, dupes included; (b), (c) per lead row ({lead_rows:,})")
    counts = ", ".join(f"{table} {n:,}" for table, n in result["counts"].items())
    print(f"rows written by (a): {counts}")
    print(f"leads merged from a later chunk (version > 1): {result['merged_across_chunks']:,}")
    print(result["verify"].describe())
    target = ratio >= 0.3 and rate_a >= 10_000
    print(f"target (ratio >= 0.3 and >= 10,000 leads/s): {'met' if target else 'NOT met'}")
    return 0 if result["verify"].ok else 1


if __name__ == "__main__":
    sys.exit(main())
