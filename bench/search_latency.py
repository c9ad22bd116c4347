"""How fast the search service answers over a large index: ``python -m bench.search_latency``.

Seeds ``--customers`` (100,000 by default) generated customers into a fresh search
database through the consumer's own path (``EventIndexer.apply``, in batches of
``--batch`` created events), then times, in this process against that database,
the service calls behind each endpoint:

- ``name``: ``q`` = a customer's first and last name;
- ``one typo``: ``q`` = a first name and a last name of 5+ letters with one
  letter changed (also prints how often that customer is on the first page: the
  typo recall);
- ``suggest``: the first three letters of a last name;
- ``facets``: no ``q``, ``status`` + ``country`` filters, with the facet counts.

Prints p50 and p95 in milliseconds for each, and the seeding rate. Names are made
of random syllables, so the typo vocabulary is as large as a real one.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.customer_list import vacuum_analyze
from search_service.events import EventIndexer
from search_service.schemas import SearchQuery, SuggestQuery
from search_service.service import SearchService
from search_service.store import SearchStore
from shared.database import Database
from shared.events.envelope import CREATED, Event, rfc3339
from tests.support.databases import drop_database, migrated_database

SYLLABLES = [
    "ka",
    "ri",
    "no",
    "ta",
    "mi",
    "ber",
    "lin",
    "son",
    "ver",
    "gar",
    "del",
    "mont",
    "ros",
    "wal",
    "ick",
    "ham",
    "fel",
    "dor",
    "an",
    "el",
    "stein",
    "berg",
    "man",
    "ler",
    "ova",
    "ski",
    "chen",
    "dez",
    "ric",
    "tan",
    "sul",
    "vik",
    "hol",
    "mar",
    "tin",
    "bur",
    "ley",
]
FIRST_NAMES = [
    "Ada",
    "Alan",
    "Anna",
    "Boris",
    "Chloé",
    "Daniel",
    "Élodie",
    "Farah",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Karin",
    "Lars",
    "Mia",
    "Noah",
    "Olga",
    "Pierre",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomás",
    "Ursula",
    "Vera",
    "Wei",
    "Xavier",
    "Yuki",
    "Zoë",
]
COMPANY_WORDS = [
    "Acme",
    "Global",
    "Nordic",
    "Blue",
    "Ocean",
    "Stone",
    "Bright",
    "Summit",
    "Delta",
    "Prime",
    "Labs",
    "Works",
]
COUNTRIES = ("GB", "DE", "FR", "US", "ES", "IT", "NL", "SE", "PL", "JP")
STATUSES = ("lead", "active", "churned")
SEGMENTS = ("smb", "mid-market", "enterprise", None)
TAGS = ("vip", "newsletter", "partner", "trial", "beta", "churn-risk")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def surname(rng: random.Random) -> str:
    """A made-up surname of two or three syllables."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def customer_event(rng: random.Random, number: int) -> Event:
    """The created event of one generated customer."""
    customer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    first, last = rng.choice(FIRST_NAMES), surname(rng)
    company = f"{rng.choice(COMPANY_WORDS)} {surname(rng)}" if rng.random() < 0.7 else None
    created = rfc3339(EPOCH + timedelta(minutes=number))
    data = {
        "id": customer_id,
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}.{number}@example.com",
        "phone": f"+44 20 {number:08d}" if rng.random() < 0.5 else None,
        "company": company,
        "country": rng.choice(COUNTRIES),
        "city": None,
        "segment": rng.choice(SEGMENTS),
        "status": rng.choice(STATUSES),
        "tags": rng.sample(TAGS, rng.randint(0, 2)),
        "attributes": {},
        "created_at": created,
        "updated_at": created,
        "version": 1,
        "deleted_at": None,
    }
    return Event(type=CREATED, subject=customer_id, version=1, data=data)


def one_typo(rng: random.Random, word: str) -> str:
    """``word`` with one letter changed to another."""
    position = rng.randrange(1, len(word))
    letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != word[position]])
    return word[:position] + letter + word[position + 1 :]


def timed(calls: list[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    """Each call's duration in milliseconds, and its result."""
    durations, results = [], []
    for call in calls:
        started = time.perf_counter()
        results.append(call())
        durations.append((time.perf_counter() - started) * 1000)
    return durations, results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    """Seed, measure, print, drop the database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000, help="events per apply()")
    parser.add_argument("--queries", type=int, default=200, help="calls per kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep", action="store_true", help="keep the seeded database and print its URL"
    )
    parser.add_argument(
        "--database", help="measure this database seeded by an earlier --keep run (same options)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    url = args.database or migrated_database("search_service", "bench")
    database = Database(url, pool_size=2, statement_timeout_ms=60_000)
    try:
        indexer = EventIndexer(SearchStore(database))
        started = time.perf_counter()
        customers: list[dict[str, Any]] = []
        for start in range(0, args.customers, args.batch):
            events = [
                customer_event(rng, n)
                for n in range(start, min(start + args.batch, args.customers))
            ]
            if not args.database:
                indexer.apply(events)
            customers += [event.data for event in events]
        seeding = time.perf_counter() - started
        if not args.database:
            vacuum_analyze(url, "documents, suggest_tails, facet_cells, vocabulary, lexicon")
            print(
                f"seeded {args.customers} customers in {seeding:.1f} s"
                f" ({args.customers / seeding:.0f} events/s, batches of {args.batch})"
            )
        service = SearchService(SearchStore(database))
        sample = [rng.choice(customers) for _ in range(args.queries)]
        long_names = [c for c in sample if len(c["name"].split()[1]) >= 5]
        misspelt = [
            (c, f"{c['name'].split()[0]} {one_typo(rng, c['name'].split()[1].lower())}")
            for c in long_names
        ]
        kinds: dict[str, list[Callable[[], Any]]] = {
            "name": [lambda c=c: service.search(SearchQuery(q=c["name"])) for c in sample],
            "one typo": [lambda q=q: service.search(SearchQuery(q=q)) for _, q in misspelt],
            "suggest": [
                lambda c=c: service.suggest(SuggestQuery(q=c["name"].split()[1][:3]))
                for c in sample
            ],
            "facets": [
                lambda c=c: service.search(SearchQuery(status=c["status"], country=c["country"]))
                for c in sample
            ],
        }
        print(f"{'query':<10} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8}")
        for kind, calls in kinds.items():
            timed(calls[:20])  # warm the cache and the plans
            durations, results = timed(calls)
            print(
                f"{kind:<10} {len(calls):>6} {statistics.median(durations):>8.2f}"
                f" {percentile(durations, 0.95):>8.2f}"
            )
            if kind == "one typo":
                hits = sum(
                    any(str(hit.id) == customer["id"] for hit in page.items)
                    for (customer, _), page in zip(misspelt, results, strict=True)
                )
                print(f"{'':<10} typo recall: {hits}/{len(misspelt)} on the first page")
    finally:
        database.close()
        if args.keep or args.database:
            print(f"kept {url}")
        else:
            drop_database(url)


if __name__ == "__main__":
    main()
