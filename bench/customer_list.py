"""How fast the customer list answers at 1,000,000 customers: ``python -m bench.customer_list``.

Loads ``--customers`` generated customers (``bench.seed_data``: many scripts
and languages, skewed countries, segments, statuses and tags, three years of
sign-ups) with ``COPY`` into a fresh customer database migrated to 0002, the
schema before the list indexes of 0003, and measures every combination of the
filters a front end offers, each with a common, a rare and an absent value
(and the values whose customers cluster in one sort order), times every sort,
the first page (``--limit``) and the page after it through its cursor:

- **before**: the list statement as it was (one ``ORDER BY ... LIMIT``, the
  planner's choice) on the indexes of 0001, once per combination;
- **after**: ``CustomerService.list_customers`` as the API calls it, after
  migrating the same data to head, ``--repeat`` times per combination; each
  page must hold exactly the customers the old statement returned.

Prints p50 and p95 per class of combination (which filters are set), per kind
of value and per sort, the worst pages after and before, the sizes of the list
indexes and what they cost a bulk insert, what an index entry and a table page
cost here (the list weighs one against the other), and the load average, since
every figure is wall time. At 1,000,000 customers on two cores: about 1.5 to
2.5 minutes of loading, 8 to 10 in all. ``--database URL`` measures a database
already loaded (left in place; before figures only if it is still at 0002);
``--keep`` keeps the one made.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras
from psycopg2 import sql

from bench.seed_data import HISTORY, copy_customers, generate_customers, load_customers
from customer_service.cursors import Position
from customer_service.schemas import CustomerPage, CustomerQuery
from customer_service.service import CustomerService
from customer_service.store import (
    CUSTOMER_COLUMNS,
    ORDERINGS,
    TABLE_PAGE_COST,
    TABLE_ROW_COST,
    CustomerStore,
    CustomerTransaction,
    Row,
)
from shared.database import Database, create_database
from shared.migrations import upgrade
from tests.support.databases import database_url, drop_database

#: The schema the "before" figures are measured on: the list indexes of 0001.
BEFORE_REVISION = "0002"
SORTS = ("-created_at", "created_at", "name", "-name")
#: What a statement may take before it is cancelled (and counted as this long).
STATEMENT_TIMEOUT_MS = 10_000


def value_kinds(until: datetime) -> dict[str, dict[str, Any]]:
    """Filter -> kind of value -> the value the bench sends (None: the filter is not set)."""
    start = until - HISTORY
    middle = start + HISTORY / 2
    return {
        "status": {"none": None, "common": "lead", "rare": "churned"},
        # JP: its customers' Japanese names sort after every Latin name.
        "country": {"none": None, "common": "US", "rare": "LI", "absent": "NR", "clustered": "JP"},
        "segment": {"none": None, "common": "smb", "rare": "public-sector", "absent": "nonprofit"},
        # black-friday: a campaign, its customers signed up within two weeks.
        "tag": {
            "none": None,
            "common": ["newsletter"],
            "rare": ["investor"],
            "absent": ["no-such-tag"],
            "two": ["newsletter", "vip"],
            "clustered": ["black-friday"],
        },
        "created": {
            "none": None,
            "recent": (until - timedelta(days=30), None),
            "old": (None, start + timedelta(days=180)),
            "week": (middle, middle + timedelta(days=7)),
        },
    }


@dataclass(frozen=True)
class Combination:
    """One value kind per filter, and a sort."""

    kinds: tuple[tuple[str, str], ...]
    sort: str

    def query(self, values: dict[str, dict[str, Any]], limit: int, cursor: str | None) -> Any:
        """The ``CustomerQuery`` of this combination."""
        fields: dict[str, Any] = {"sort": self.sort, "limit": limit, "cursor": cursor}
        for name, kind in self.kinds:
            value = values[name][kind]
            if value is None:
                continue
            if name == "created":
                after, before = value
                fields["created_after"], fields["created_before"] = after, before
            else:
                fields[name] = value
        return CustomerQuery.model_validate(fields)

    @property
    def filter_class(self) -> str:
        """Which filters are set, e.g. ``status+tag`` (``none``)."""
        return "+".join(name for name, kind in self.kinds if kind != "none") or "none"

    @property
    def value_class(self) -> str:
        """The most telling kind of value it has: absent > rare > clustered > common."""
        kinds = {kind for _, kind in self.kinds}
        for kind in ("absent", "rare", "clustered", "two", "common"):
            if kind in kinds:
                return kind
        return "none" if kinds == {"none"} else "time range only"

    def label(self) -> str:
        """``sort=name status=rare tag=absent``."""
        set_kinds = " ".join(f"{name}={kind}" for name, kind in self.kinds if kind != "none")
        return f"sort={self.sort} {set_kinds}".strip()


def combinations(values: dict[str, dict[str, Any]]) -> list[Combination]:
    """Every value kind of every filter, times every sort."""
    names = list(values)
    return [
        Combination(tuple(zip(names, kinds, strict=True)), sort)
        for kinds in itertools.product(*(values[name] for name in names))
        for sort in SORTS
    ]


class BeforeTransaction(CustomerTransaction):
    """The list statement as it was before 0003: one ORDER BY ... LIMIT, the planner's choice."""

    def list_customers(self, query: CustomerQuery, after: Position | None) -> list[Row]:
        """Up to ``query.limit + 1`` live customers matching ``query``, after ``after``."""
        column, direction, comparison = ORDERINGS[query.sort]
        conditions: list[sql.Composable] = [sql.SQL("deleted_at IS NULL")]
        params: list[Any] = []
        for name in ("status", "country", "segment"):
            value = getattr(query, name)
            if value is not None:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(value)
        if query.tag:
            conditions.append(sql.SQL("tags @> %s::text[]"))
            params.append(query.tag)
        if query.created_after is not None:
            conditions.append(sql.SQL("created_at >= %s"))
            params.append(query.created_after)
        if query.created_before is not None:
            conditions.append(sql.SQL("created_at < %s"))
            params.append(query.created_before)
        if after is not None:
            conditions.append(
                sql.SQL("({}, id) {} (%s, %s)").format(sql.Identifier(column), sql.SQL(comparison))
            )
            params.extend([after.value, after.id])
        statement = sql.SQL(
            "SELECT {} FROM customers WHERE {} ORDER BY {} {}, id {} LIMIT %s"
        ).format(
            CUSTOMER_COLUMNS,
            sql.SQL(" AND ").join(conditions),
            sql.Identifier(column),
            sql.SQL(direction),
            sql.SQL(direction),
        )
        return self._all(statement, [*params, query.limit + 1])


class BeforeStore(CustomerStore):
    """A customer store whose list runs the statement from before 0003."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._before_database = database

    @contextmanager
    def transaction(self) -> Iterator[CustomerTransaction]:
        """Statements in one transaction, listing the old way."""
        with self._before_database.transaction() as cursor:
            yield BeforeTransaction(cursor)


@dataclass
class Measured:
    """Durations (ms) of one combination's page, and the ids it returned."""

    durations: list[float]
    ids: list[str]
    timed_out: bool = False

    @property
    def typical(self) -> float:
        """The median duration."""
        return statistics.median(self.durations)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def measure(
    service: CustomerService,
    combos: list[Combination],
    values: dict[str, dict[str, Any]],
    limit: int,
    repeat: int,
) -> dict[tuple[Combination, int], Measured]:
    """Each combination's first page and the page after it, ``repeat`` times each."""
    results: dict[tuple[Combination, int], Measured] = {}
    for _ in range(repeat):
        for combo in combos:
            cursor = None
            for page_number in (1, 2):
                query = combo.query(values, limit, cursor)
                started = time.perf_counter()
                try:
                    page: CustomerPage | None = service.list_customers(query)
                except psycopg2.errors.QueryCanceled:
                    page = None
                elapsed = (time.perf_counter() - started) * 1000
                key = (combo, page_number)
                if key not in results:
                    ids = [str(item.id) for item in page.items] if page else []
                    results[key] = Measured([], ids, page is None)
                results[key].durations.append(elapsed)
                if page is None or page.next_cursor is None:
                    break
                cursor = page.next_cursor
    return results


def _line(label: str, count: int, before: list[float], after: list[float]) -> str:
    before_p95, after_p95 = percentile(before, 0.95), percentile(after, 0.95)
    ratio = before_p95 / after_p95 if before and after_p95 else float("nan")
    return (
        f"{label:<34} {count:>6} {percentile(before, 0.5):>9.2f} {before_p95:>9.2f}"
        f" {percentile(after, 0.5):>9.2f} {after_p95:>9.2f} {ratio:>7.1f}x"
    )


def report(
    before: dict[tuple[Combination, int], Measured],
    after: dict[tuple[Combination, int], Measured],
    worst: int,
) -> None:
    """Tables by filter class and value kind, then the worst combinations."""
    header = (
        f"{'':<34} {'pages':>6} {'before':>9} {'before':>9} {'after':>9} {'after':>9} {'p95':>8}\n"
        f"{'':<34} {'':>6} {'p50 ms':>9} {'p95 ms':>9} {'p50 ms':>9} {'p95 ms':>9} {'ratio':>8}"
    )
    for title, class_of in (
        ("by filters set", lambda combo: combo.filter_class),
        ("by kind of value", lambda combo: combo.value_class),
        ("by sort", lambda combo: combo.sort),
    ):
        groups: dict[str, list[tuple[Combination, int]]] = defaultdict(list)
        for key in after:
            groups[class_of(key[0])].append(key)
        print(f"\n{title}\n{header}")
        for name in sorted(groups, key=lambda group: -percentile(_all(after, groups[group]), 0.95)):
            keys = groups[name]
            print(_line(name, len(keys), _all(before, keys), _all(after, keys)))
    everything = list(after)
    print(_line("every page", len(everything), _all(before, everything), _all(after, everything)))
    after_typical = [after[key].typical for key in everything]
    print(
        f"\nafter, per page (median of its runs): p50 {percentile(after_typical, 0.5):.2f} ms,"
        f" p95 {percentile(after_typical, 0.95):.2f}, p99 {percentile(after_typical, 0.99):.2f},"
        f" max {max(after_typical):.2f}; over 25 ms: {sum(t > 25 for t in after_typical)}"
        f" of {len(after_typical)}"
    )
    print(f"\n{worst} worst pages after (median of runs), with the same page before:")
    for key in sorted(everything, key=lambda key: -after[key].typical)[:worst]:
        previous = f"{before[key].typical:9.1f}" if key in before else "        -"
        print(
            f"  {after[key].typical:8.1f} ms  (before {previous} ms)"
            f"  page {key[1]}  {key[0].label()}"
        )
    if before:
        print(f"\n{worst} worst pages before, with the same page after:")
        for key in sorted(before, key=lambda key: -before[key].typical)[:worst]:
            cancelled = " (cancelled)" if before[key].timed_out else ""
            print(
                f"  {before[key].typical:8.1f} ms{cancelled}  (after {after[key].typical:7.2f} ms)"
                f"  page {key[1]}  {key[0].label()}"
            )


def _all(results: dict[tuple[Combination, int], Measured], keys: list[Any]) -> list[float]:
    return [duration for key in keys if key in results for duration in results[key].durations]


def list_index_sizes(url: str) -> tuple[int, float]:
    """How many indexes ``customers`` has besides its key and email, and their size in MB."""
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), coalesce(sum(pg_relation_size(indexrelid)), 0)"
                " FROM pg_index WHERE indrelid = 'customers'::regclass"
                " AND indexrelid::regclass::text"
                " NOT IN ('customers_pkey', 'customers_live_email_key')"
            )
            count, size = cursor.fetchone() or (0, 0)
        return int(count), float(size) / 1e6
    finally:
        connection.close()


def insert_cost(url: str, until: datetime, count: int = 10_000) -> float:
    """Seconds to ``COPY`` ``count`` more customers (rolled back): what the indexes cost writes."""
    connection = psycopg2.connect(url)
    try:
        rows = list(generate_customers(count, seed=99, until=until, email_tag="insert"))
        started = time.perf_counter()
        with connection.cursor() as cursor:
            copy_customers(cursor, rows)
        elapsed = time.perf_counter() - started
        connection.rollback()
        return elapsed
    finally:
        connection.close()


def unit_costs(url: str) -> tuple[float, float]:
    """Microseconds per entry an index-only walk reads, and per row a bitmap scan reads.

    The list weighs the two with ``customer_service.store.TABLE_ROW_COST``; the rows
    are those of a tag about one customer in thirty has, spread over the whole table.
    """
    walk = (
        "SELECT count(*) FROM (SELECT id, tags FROM customers WHERE deleted_at IS NULL"
        " ORDER BY name, id LIMIT 100000) walked WHERE tags @> '{no-such-tag}'"
    )
    rows = (
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off;"
        " SET LOCAL enable_indexonlyscan = off; SET LOCAL max_parallel_workers_per_gather = 0;"
        " SELECT count(name) FROM customers WHERE deleted_at IS NULL AND tags @> '{vip}'"
    )
    connection = psycopg2.connect(url)
    try:
        best = {}
        with connection.cursor() as cursor:
            for kind, statement in (("walk", walk), ("rows", rows)):
                durations = []
                for _ in range(3):
                    started = time.perf_counter()
                    cursor.execute(statement)
                    (counted,) = cursor.fetchone() or (0,)
                    durations.append(time.perf_counter() - started)
                    connection.rollback()
                best[kind] = min(durations) / (100_000 if kind == "walk" else max(counted, 1))
        return best["walk"] * 1e6, best["rows"] * 1e6
    finally:
        connection.close()


def revision_of(url: str) -> str:
    """The Alembic revision the database is at."""
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            row = cursor.fetchone()
        return str(row[0]) if row else ""
    finally:
        connection.close()


def vacuum_analyze(url: str, tables: str = "customers") -> None:
    """``VACUUM ANALYZE`` the tables (as autovacuum leaves them after a bulk load):
    statistics, and a visibility map for index-only scans."""
    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {tables}")
    finally:
        connection.close()


def load(url: str, count: int, until: datetime, seed: int) -> None:
    """Create the database at the old schema and load ``count`` customers into it."""
    create_database(url)
    upgrade("customer_service", url, BEFORE_REVISION)
    connection = psycopg2.connect(url)
    started = time.perf_counter()
    try:

        def progress(written: int) -> None:
            if written % 200_000 == 0 or written == count:
                print(f"  {written:>9,} customers, {time.perf_counter() - started:6.1f} s")

        customers = generate_customers(count, seed=seed, until=until, deleted_share=0.01)
        load_customers(connection, customers, batch=50_000, progress=progress)
    finally:
        connection.close()
    vacuum_analyze(url)
    elapsed = time.perf_counter() - started
    print(f"loaded {count:,} customers in {elapsed:.0f} s ({count / elapsed:,.0f}/s, with VACUUM)")


def phase(
    label: str,
    url: str,
    until: datetime,
    store: type[CustomerStore],
    combos: list[Combination],
    values: dict[str, dict[str, Any]],
    limit: int,
    repeat: int,
) -> dict[tuple[Combination, int], Measured]:
    """Every page measured with ``store``, then the list indexes' size and write cost."""
    database = Database(url, pool_size=1, statement_timeout_ms=STATEMENT_TIMEOUT_MS)
    started = time.perf_counter()
    try:
        service = CustomerService(store(database), idempotency_retention_seconds=60)
        results = measure(service, combos, values, limit, repeat)
    finally:
        database.close()
    elapsed = time.perf_counter() - started
    print(f"{label}: {len(results)} pages, {repeat} runs each, in {elapsed:.0f} s")
    count, size = list_index_sizes(url)
    cost = insert_cost(url, until)
    # The insert was rolled back: clear what it left in the indexes before anything else.
    vacuum_analyze(url)
    print(f"{label}: {count} list indexes, {size:.0f} MB; COPY of 10,000 more: {cost:.2f} s")
    return results


def main() -> None:
    """Load, measure before, migrate, measure after, print, drop the database."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=50, help="page size")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every page after 0003")
    parser.add_argument("--worst", type=int, default=10, help="worst pages to list")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", help="an already loaded customer database (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the database made")
    args = parser.parse_args()
    until = datetime(2026, 11, 30, tzinfo=UTC)
    url = args.database or database_url("customer_service", "bench")
    print(f"load average at start: {', '.join(f'{load:.1f}' for load in os.getloadavg())}")
    try:
        if not args.database:
            load(url, args.customers, until, args.seed)
        values = value_kinds(until)
        combos = combinations(values)
        before: dict[tuple[Combination, int], Measured] = {}
        if revision_of(url) == BEFORE_REVISION:
            before = phase("before", url, until, BeforeStore, combos, values, args.limit, 1)
            started = time.perf_counter()
            upgrade("customer_service", url)
            print(f"migrated to head in {time.perf_counter() - started:.0f} s")
        else:
            print("the database is past 0002 already: no before figures")
        entry, row = unit_costs(url)
        print(
            f"an index entry walked: {entry:.2f} µs; a row on a page of its own read through"
            f" a bitmap: {row:.2f} µs = {row / entry:.0f} entries"
            f" (the list counts {TABLE_PAGE_COST + TABLE_ROW_COST})"
        )
        after = phase("after", url, until, CustomerStore, combos, values, args.limit, args.repeat)
        wrong = [
            key
            for key in after
            if key in before and not before[key].timed_out and before[key].ids != after[key].ids
        ]
        print(f"pages that differ from the old statement's: {len(wrong)}")
        for key in wrong[:10]:
            print(f"  page {key[1]}  {key[0].label()}")
        report(before, after, args.worst)
        print(f"load average at end: {', '.join(f'{load:.1f}' for load in os.getloadavg())}")
    finally:
        if not args.database and not args.keep:
            drop_database(url)
        elif not args.database:
            print(f"kept: {url}")


if __name__ == "__main__":
    main()
