"""A synthetic CRM world with known outcomes, as leads and activities of ours.

The world comes from ``leadforge`` (PyPI; the dev extra pins it): a simulated
B2B SaaS seller's accounts, contacts, leads, marketing touches, web sessions
and sales activities, and whether each lead converted within 90 days, all
generated offline from a seed. This module maps it onto leadbase:

- an account -> a company (name, a made-up domain, industry, country from its
  region, employee count drawn inside its employee band);
- a lead -> a lead (tagged with its account's revenue band and process
  maturity and its contact's buying role): a person's name (drawn from the seed: leadforge's
  contacts have none), the contact's job title, an email at the company's
  domain, at a free-mail domain or none (the contact's email domain type),
  the company's name, domain, industry and country, the lead source
  (inbound, outbound, referral);
- touches, web sessions and sales activities -> activity rows
  (``event_type``, ``occurred_at``, ``outcome``, ``data``): touches keep
  their kind (a content download is a ``form_fill``) with the direction as
  outcome; sessions are ``web_visit`` with ``page``, ``page_views``,
  ``duration_seconds``; sales activities keep kind and outcome.

Only what a salesperson could see before the lead's fate is stored: the
activities of its first ``SNAPSHOT_DAYS`` days (leadforge's own snapshot
for its task), so the activities that follow a conversion do not give the
label away. The world's dates are shifted so that the newest lead's snapshot
ends now: recency means what it means in a live database.

A share of the leads (``held_out``) is stored open (``contacted``), their
outcome known to the bench only; the others are ``converted`` or ``lost``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

SNAPSHOT_DAYS = 30
OPEN_STATUS = "contacted"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Ada Alan Grace Linus Margaret Dennis Barbara Ken Radia Edsger Frances John Katherine "
    "Tim Hedy Donald Sophie Claude Anita Niklaus Shafi Guido Yukihiro Bjarne James Lynn "
    "Olivia Liam Emma Noah Amelia Oliver Isla Jack Mia Harry Ava Leo Lucas Hugo Manon "
    "Jules Anna Lukas Lena Felix Marie Elias Mateo Ingrid Aisha Omar Priya Rahul Mei Wei"
)
LAST_NAMES = _words(
    "Lovelace Turing Hopper Torvalds Hamilton Ritchie Liskov Thompson Perlman Dijkstra "
    "Allen Backus Johnson Lamarr Knuth Wilson Shannon Borg Wirth Goldwasser Conway Smith "
    "Jones Taylor Brown Williams Davies Evans Thomas Roberts Walker Wright Martin Bernard "
    "Laurent Schmidt Fischer Weber Meyer Wagner Becker Koch Garcia Rossi Tanaka Chen Wang "
    "Okafor Mensah Patel Sharma Khan Nguyen Kowalski Novak Jansen"
)
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
COUNTRIES = {"US": "US", "UK": "GB"}
SOURCES = {
    "inbound_marketing": "inbound",
    "sdr_outbound": "outbound",
    "partner_referral": "referral",
}
TOUCH_TYPES = {"content_download": "form_fill"}
PAGES = {"pricing_page": "/pricing", "demo_page": "/demo", "website": "/"}
BANDS = {
    "1-49": (1, 49),
    "50-199": (50, 199),
    "200-499": (200, 499),
    "500-999": (500, 999),
    "1000-1999": (1000, 1999),
    "2000+": (2000, 10000),
}


@dataclass
class World:
    """Rows ready for leadbase, keyed by leadforge's lead ids until stored."""

    companies: list[dict[str, Any]]
    leads: dict[str, dict[str, Any]]  # leadforge lead id -> lead fields
    events: dict[str, list[dict[str, Any]]]  # leadforge lead id -> its activities
    converted: dict[str, bool]  # the truth, for every lead
    held_out: set[str] = field(default_factory=set)  # stored open
    seconds: float = 0.0  # leadforge's generation time

    @property
    def labelled(self) -> list[str]:
        return [key for key in self.leads if key not in self.held_out]

    def event_count(self) -> int:
        return sum(len(rows) for rows in self.events.values())


def generate(
    n_leads: int,
    *,
    seed: int = 15,
    difficulty: str = "intermediate",
    held_out: float = 0.25,
    now: datetime | None = None,
) -> World:
    """A leadforge world of ``n_leads`` leads (accounts and contacts in the
    recipe's proportions), mapped onto leadbase rows."""
    import time as clock

    from leadforge.api import Generator

    started = clock.perf_counter()
    ratio = n_leads / 5000  # the recipe's default population: 1,500 accounts, 4,200 contacts
    generator = Generator.from_recipe(
        "b2b_saas_procurement_v1",
        seed=seed,
        difficulty=difficulty,
        n_accounts=max(50, round(1500 * ratio)),
        n_contacts=max(100, round(4200 * ratio)),
        n_leads=n_leads,
    )
    bundle = generator.generate()
    seconds = clock.perf_counter() - started
    assert bundle.population is not None and bundle.simulation_result is not None
    world = from_leadforge(
        bundle.population, bundle.simulation_result, seed=seed, now=now or datetime.now(UTC)
    )
    world.seconds = seconds
    world.held_out = split(world, held_out, seed)
    for key in world.held_out:
        world.leads[key]["lead_status"] = OPEN_STATUS
    return world


def split(world: World, share: float, seed: int) -> set[str]:
    """A stratified ``share`` of the leads, drawn with ``seed``."""
    rng = random.Random(seed)
    chosen: set[str] = set()
    for outcome in (True, False):
        keys = sorted(k for k, v in world.converted.items() if v is outcome)
        chosen.update(rng.sample(keys, round(len(keys) * share)))
    return chosen


def _company(rng: random.Random, account: Any) -> dict[str, Any]:
    low, high = BANDS.get(account.employee_band, (10, 100))
    number = account.account_id.rsplit("_", 1)[-1]
    return {
        "key": account.account_id,
        "name": f"{rng.choice(LAST_NAMES)} {account.industry.split('_')[0].title()} {number}",
        "domain": f"acct{number}.com",
        "industry": account.industry.replace("_", " ").capitalize(),
        "country": COUNTRIES.get(account.region, account.region),
        "employee_count": rng.randint(low, high),
        "employee_size_min": low,
        "employee_size_max": high,
    }


def tags(account: Any, contact: Any) -> list[str]:
    """What leadforge knows of an account and a contact that has no lead
    field of its own: revenue band, process maturity, buying role."""
    revenue = account.estimated_revenue_band.lower().replace("$", "").replace("+", "-plus")
    return [
        f"revenue:{revenue}",
        f"maturity:{account.process_maturity_band}",
        f"buyer:{contact.buyer_role.replace('_', '-')}",
    ]


def _email(rng: random.Random, first: str, last: str, kind: str, domain: str, n: int) -> str | None:
    local = f"{first}.{last}{n}".lower()
    if kind == "corporate":
        return f"{local}@{domain}"
    if kind == "personal":
        return f"{local}@{rng.choice(FREE_MAIL)}"
    return None


def _when(rng: random.Random, day: str, shift: timedelta) -> datetime:
    """A working-hours moment of a leadforge date, shifted towards now."""
    moment = datetime.combine(date.fromisoformat(day[:10]), time(8), tzinfo=UTC)
    return moment + shift + timedelta(seconds=rng.randrange(10 * 3600))


def from_leadforge(population: Any, result: Any, *, seed: int, now: datetime) -> World:
    rng = random.Random(seed)
    accounts = {a.account_id: a for a in population.accounts}
    companies = {key: _company(rng, a) for key, a in accounts.items()}
    contacts = {c.contact_id: c for c in population.contacts}
    created = {lead.lead_id: date.fromisoformat(lead.lead_created_at[:10]) for lead in result.leads}
    newest = max(created.values()) + timedelta(days=SNAPSHOT_DAYS)
    shift = now.replace(hour=0, minute=0, second=0, microsecond=0) - datetime.combine(
        newest, time(0), tzinfo=UTC
    )
    shift -= timedelta(days=1)  # events end by yesterday evening: none in the future
    leads: dict[str, dict[str, Any]] = {}
    converted: dict[str, bool] = {}
    for n, lead in enumerate(result.leads):
        contact = contacts[lead.contact_id]
        company = companies[lead.account_id]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = _email(rng, first, last, contact.email_domain_type, company["domain"], n)
        row = {
            "first_name": first,
            "last_name": last,
            "title": contact.job_title,
            "email": email,
            "company_name": company["name"],
            "company_domain": company["domain"],
            "industry": company["industry"],
            "country": company["country"],
            "source": SOURCES.get(lead.lead_source, lead.lead_source),
            "tags": tags(accounts[lead.account_id], contact),
            "external_id": lead.lead_id,
            "lead_status": "converted" if lead.converted_within_90_days else "lost",
        }
        leads[lead.lead_id] = {k: v for k, v in row.items() if v is not None}
        converted[lead.lead_id] = bool(lead.converted_within_90_days)
    events: dict[str, list[dict[str, Any]]] = {key: [] for key in leads}

    def keep(key: str, day: str) -> bool:
        return (date.fromisoformat(day[:10]) - created[key]).days <= SNAPSHOT_DAYS

    for touch in result.touches:
        if keep(touch.lead_id, touch.touch_timestamp):
            data = {"channel": SOURCES.get(touch.touch_channel, touch.touch_channel)}
            if touch.campaign_id:
                data["campaign"] = touch.campaign_id
            events[touch.lead_id].append(
                {
                    "event_type": TOUCH_TYPES.get(touch.touch_type, touch.touch_type),
                    "occurred_at": _when(rng, touch.touch_timestamp, shift),
                    "outcome": touch.touch_direction,
                    "data": data,
                }
            )
    for session in result.sessions:
        if keep(session.lead_id, session.session_timestamp):
            events[session.lead_id].append(
                {
                    "event_type": "web_visit",
                    "occurred_at": _when(rng, session.session_timestamp, shift),
                    "outcome": None,
                    "data": {
                        "page": PAGES.get(session.session_type, "/"),
                        "page_views": int(session.page_views),
                        "duration_seconds": int(session.session_duration_seconds),
                    },
                }
            )
    for activity in result.sales_activities:
        if keep(activity.lead_id, activity.activity_timestamp):
            events[activity.lead_id].append(
                {
                    "event_type": activity.activity_type,
                    "occurred_at": _when(rng, activity.activity_timestamp, shift),
                    "outcome": activity.activity_outcome,
                    "data": {"rep": activity.rep_id},
                }
            )
    for rows in events.values():
        rows.sort(key=lambda r: r["occurred_at"])
    return World(list(companies.values()), leads, events, converted)


def tiled(world: World, count: int, chunk: int, seed: int) -> Iterator[list[tuple[str, dict]]]:
    """``count`` leads in chunks of ``chunk``: the world's leads over and
    over, each copy a new person (name and email) with the original's job,
    company, status and activities. Yields (world lead key, lead row) pairs;
    the key finds the activities to copy."""
    rng = random.Random(seed)
    keys = list(world.leads)
    batch: list[tuple[str, dict[str, Any]]] = []
    for n in range(count):
        key = keys[n % len(keys)]
        row = dict(world.leads[key])
        if n >= len(keys):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            row["first_name"], row["last_name"] = first, last
            row["external_id"] = f"{key}#{n // len(keys)}"
            if "email" in row:
                domain = row["email"].partition("@")[2]
                row["email"] = f"{first}.{last}.c{n}@{domain}".lower()
        batch.append((key, row))
        if len(batch) == chunk:
            yield batch
            batch = []
    if batch:
        yield batch


# --- our own world: a stronger, known signal -------------------------------------------------

SENIORITY = {
    "Chief Financial Officer": 1.0,
    "VP Finance": 0.8,
    "VP Procurement": 0.8,
    "Director of Operations": 0.5,
    "Head of Procurement": 0.5,
    "Procurement Manager": 0.1,
    "AP Manager": 0.0,
    "Finance Analyst": -0.4,
    "Purchasing Assistant": -0.6,
    "Intern": -1.0,
}
INDUSTRIES = {
    "Manufacturing": 0.4,
    "Logistics": 0.3,
    "Professional services": 0.0,
    "Retail": -0.1,
    "Healthcare": 0.1,
    "Education": -0.5,
}
TARGET_COUNTRIES = {"US": 0.3, "GB": 0.3, "DE": 0.2, "FR": 0.0, "ES": -0.2, "BR": -0.4}
OWN_SOURCES = {"inbound": 0.4, "referral": 0.6, "outbound": -0.2, "event": 0.1}
CALL_OUTCOMES = ("connected", "no_answer", "left_voicemail", "meeting_set")


def _logistic(x: float) -> float:
    import math

    return 1 / (1 + math.exp(-x))


def _own_events(
    rng: random.Random, intent: float, now: datetime
) -> tuple[list[dict[str, Any]], float]:
    """A lead's activities, drawn from its hidden intent, and what of them
    moves its conversion odds (kinds, counts, outcomes, recency)."""
    import math

    count = min(60, int(rng.expovariate(1 / max(0.5, 6 * math.exp(0.5 * intent)))))
    age = rng.uniform(5, 180)  # days since the first activity
    gap = min(age, rng.expovariate(1 / (25 / (1 + max(0.0, intent)))))  # days since the last
    kinds = ("email", "call", "web_visit", "webinar", "form_fill", "meeting", "demo")
    hot = max(0.05, 0.5 + 0.4 * intent)
    weights = (5, 4, 4, 1, 1, hot, hot * 0.6)
    events: list[dict[str, Any]] = []
    effect = 0.0
    for n in range(count):
        kind = rng.choices(kinds, weights)[0]
        days_ago = gap if n == 0 else rng.uniform(gap, age)
        occurred = now - timedelta(days=days_ago, seconds=rng.randrange(36_000))
        outcome: str | None = None
        data: dict[str, Any] | None = None
        if kind == "call":
            outcome = rng.choices(
                CALL_OUTCOMES, (1 + max(0.0, intent), 3, 2, 0.3 + max(0.0, intent))
            )[0]
            effect += {"connected": 0.15, "meeting_set": 0.5}.get(outcome, -0.03)
        elif kind == "email":
            outcome = "replied" if rng.random() < _logistic(intent - 1.5) else "sent"
            effect += 0.25 if outcome == "replied" else 0.0
        elif kind == "web_visit":
            page = rng.choices(
                ("/", "/pricing", "/demo", "/blog"), (4, 1 + max(0.0, intent), 1, 3)
            )[0]
            views = 1 + int(rng.expovariate(1 / 3))
            data = {
                "page": page,
                "page_views": views,
                "duration_seconds": 20 * views + rng.randrange(90),
            }
            effect += {"/pricing": 0.35, "/demo": 0.25}.get(page, 0.02)
        elif kind in ("meeting", "demo"):
            outcome = "held" if rng.random() < 0.8 else "no_show"
            effect += (0.6 if kind == "demo" else 0.4) if outcome == "held" else -0.2
        else:
            effect += 0.1
        events.append(
            {"event_type": kind, "occurred_at": occurred, "outcome": outcome, "data": data}
        )
    events.sort(key=lambda r: r["occurred_at"])
    # Engagement cools: the same activities count for less the longer ago the last one was.
    effect = min(effect, 3.0) * math.exp(-gap / 45) - (0.6 if count == 0 else 0.0)
    return events, effect


def own(
    n_leads: int, *, seed: int = 15, held_out: float = 0.25, now: datetime | None = None
) -> World:
    """Our own world: accounts with size, industry and country; leads with
    titles, email kinds and sources; activities whose kinds, counts,
    outcomes and recency, with the lead's fit, drive a hidden conversion
    probability (plus noise); every lead's outcome drawn from it."""
    import math
    import time as clock

    started = clock.perf_counter()
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    companies = []
    for n in range(max(10, n_leads // 3)):
        industry = rng.choice(list(INDUSTRIES))
        companies.append(
            {
                "key": f"own_{n}",
                "name": f"{rng.choice(LAST_NAMES)} {industry.split()[0]} {n}",
                "domain": f"own{n}.com",
                "industry": industry,
                "country": rng.choice(list(TARGET_COUNTRIES)),
                "employee_count": int(min(50_000, rng.lognormvariate(5, 1.4))) + 1,
            }
        )
    leads: dict[str, dict[str, Any]] = {}
    events: dict[str, list[dict[str, Any]]] = {}
    converted: dict[str, bool] = {}
    for n in range(n_leads):
        key = f"own_lead_{n}"
        company = rng.choice(companies)
        title = rng.choice(list(SENIORITY))
        source = rng.choice(list(OWN_SOURCES))
        kind = rng.choices(("corporate", "personal", "unknown"), (80, 12, 8))[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        size = math.log10(company["employee_count"])
        fit = (
            SENIORITY[title]
            + INDUSTRIES[company["industry"]]
            + TARGET_COUNTRIES[company["country"]]
            + OWN_SOURCES[source]
            - 0.4 * abs(size - 2.7)  # the sweet spot: a few hundred employees
            - (0.5 if kind == "personal" else 0.0)
        )
        intent = rng.gauss(0.3 * fit, 1.0)
        events[key], effect = _own_events(rng, intent, now)
        probability = _logistic(-1.6 + 0.8 * fit + effect + rng.gauss(0, 0.5))
        converted[key] = rng.random() < probability
        row = {
            "first_name": first,
            "last_name": last,
            "title": title,
            "email": _email(rng, first, last, kind, company["domain"], n),
            "company_name": company["name"],
            "company_domain": company["domain"],
            "industry": company["industry"],
            "country": company["country"],
            "source": source,
            "external_id": key,
            "lead_status": "converted" if converted[key] else "lost",
        }
        leads[key] = {k: v for k, v in row.items() if v is not None}
    world = World(companies, leads, events, converted)
    world.seconds = clock.perf_counter() - started
    world.held_out = split(world, held_out, seed)
    for key in world.held_out:
        world.leads[key]["lead_status"] = OPEN_STATUS
    return world
