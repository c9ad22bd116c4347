"""SQL for the customer database; nothing else in the service writes SQL.

:class:`CustomerStore` opens a transaction and hands out a
:class:`CustomerTransaction` whose methods each run one parameterised statement;
the list runs a few, chosen by :class:`CustomerList`.
Column names come only from the fixed sets below, never from a request.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal
from uuid import UUID

import psycopg2.errors
import psycopg2.extras
from psycopg2 import sql

from customer_service.cursors import Position
from customer_service.schemas import CustomerQuery
from shared.database import Database
from shared.events.envelope import Event

Row = dict[str, Any]

CUSTOMER_COLUMNS = sql.SQL(
    "id, name, email, phone, company, country, city, segment, status, tags, attributes,"
    " created_at, updated_at, version, deleted_at"
)
NOTE_COLUMNS = sql.SQL("id, customer_id, author, body, created_at, sentiment")
WRITABLE_COLUMNS = frozenset(
    {"name", "email", "phone", "company", "country", "city", "segment", "status", "tags"}
    | {"attributes"}
)
EMAIL_CONSTRAINT = "customers_live_email_key"
#: The relay LISTENs here; every transaction that writes an event NOTIFYs it on commit.
OUTBOX_CHANNEL = "customer_outbox"

#: sort name -> (column, direction, comparison that means "after" in that direction)
ORDERINGS: Mapping[str, tuple[str, str, str]] = {
    "created_at": ("created_at", "ASC", ">"),
    "-created_at": ("created_at", "DESC", "<"),
    "name": ("name", "ASC", ">"),
    "-name": ("name", "DESC", "<"),
}


Lock = Literal["update", "share"]
LOCK_CLAUSES: Mapping[Lock | None, sql.SQL] = {
    None: sql.SQL(""),
    "update": sql.SQL(" FOR UPDATE"),
    "share": sql.SQL(" FOR SHARE"),
}


class EmailTaken(Exception):
    """A live customer already has this email (the partial unique index said so)."""


@dataclass(frozen=True)
class StoredResponse:
    """The response remembered for an idempotency key."""

    fingerprint: str
    status: int | None
    body: Any


class CustomerStore:
    """The customer database, one transaction at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @contextmanager
    def transaction(self) -> Iterator[CustomerTransaction]:
        """Statements in one transaction: committed at the end, rolled back on error."""
        with self._database.transaction() as cursor:
            yield CustomerTransaction(cursor)


class CustomerTransaction:
    """The statements the service layer may run, inside one open transaction."""

    def __init__(self, cursor: psycopg2.extras.RealDictCursor) -> None:
        self._cursor = cursor

    def _one(self, query: sql.Composable, params: Any) -> Row | None:
        self._cursor.execute(query, params)
        row = self._cursor.fetchone()
        return dict(row) if row is not None else None

    def _all(self, query: sql.Composable, params: Any) -> list[Row]:
        self._cursor.execute(query, params)
        return [dict(row) for row in self._cursor.fetchall()]

    def _write_customer(self, query: sql.Composable, params: Any) -> Row:
        try:
            row = self._one(query, params)
        except psycopg2.errors.UniqueViolation as error:
            if error.diag.constraint_name == EMAIL_CONSTRAINT:
                raise EmailTaken from None
            raise
        if row is None:
            raise LookupError("customer vanished inside its own transaction")
        return row

    def insert_customer(self, values: Mapping[str, Any]) -> Row:
        """Insert a customer (version 1) and return its row."""
        columns = _writable(values)
        query = sql.SQL("INSERT INTO customers ({}) VALUES ({}) RETURNING {}").format(
            sql.SQL(", ").join(sql.Identifier(column) for column in columns),
            sql.SQL(", ").join(sql.Placeholder() for _ in columns),
            CUSTOMER_COLUMNS,
        )
        return self._write_customer(query, [_adapt(column, values[column]) for column in columns])

    def find_customer(
        self, customer_id: UUID, *, include_deleted: bool = False, lock: Lock | None = None
    ) -> Row | None:
        """The customer's row (live only unless asked), optionally locked until commit.

        ``"update"`` before changing the row; ``"share"`` to keep it from changing
        (or being deleted) while something that depends on it is written.
        """
        query = sql.SQL("SELECT {} FROM customers WHERE id = %s{}{}").format(
            CUSTOMER_COLUMNS,
            sql.SQL("") if include_deleted else sql.SQL(" AND deleted_at IS NULL"),
            LOCK_CLAUSES[lock],
        )
        return self._one(query, [customer_id])

    def update_customer(self, customer_id: UUID, changes: Mapping[str, Any]) -> Row:
        """Apply ``changes``, bump the version and ``updated_at``; return the new row."""
        columns = _writable(changes)
        assignments: list[sql.Composable] = [
            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in columns
        ]
        assignments.append(sql.SQL("version = version + 1, updated_at = now()"))
        query = sql.SQL("UPDATE customers SET {} WHERE id = %s RETURNING {}").format(
            sql.SQL(", ").join(assignments), CUSTOMER_COLUMNS
        )
        params = [_adapt(column, changes[column]) for column in columns]
        return self._write_customer(query, [*params, customer_id])

    def set_deleted(self, customer_id: UUID, deleted: bool) -> Row:
        """Soft-delete (or restore) a customer, bumping its version."""
        query = sql.SQL(
            "UPDATE customers SET deleted_at = CASE WHEN %s THEN now() END,"
            " version = version + 1, updated_at = now() WHERE id = %s RETURNING {}"
        ).format(CUSTOMER_COLUMNS)
        return self._write_customer(query, [deleted, customer_id])

    def list_customers(self, query: CustomerQuery, after: Position | None) -> list[Row]:
        """Up to ``query.limit + 1`` live customers matching ``query``, after ``after``.

        Exactly what one ``... ORDER BY <sort>, id LIMIT <limit + 1>`` returns, found
        the cheaper of two ways (:class:`CustomerList`). Its statements share one
        snapshot, so it must be the first thing its transaction runs.
        """
        return CustomerList(self._cursor, query, after).page()

    def insert_note(self, customer_id: UUID, author: str, body: str) -> Row:
        """Add a note to a customer and return its row."""
        query = sql.SQL(
            "INSERT INTO notes (customer_id, author, body) VALUES (%s, %s, %s) RETURNING {}"
        ).format(NOTE_COLUMNS)
        row = self._one(query, [customer_id, author, body])
        if row is None:
            raise LookupError("INSERT ... RETURNING returned nothing")
        return row

    def list_notes(self, customer_id: UUID, limit: int, after: Position | None) -> list[Row]:
        """Up to ``limit + 1`` notes of a customer, newest first, after ``after``."""
        condition = sql.SQL(" AND (created_at, id) < (%s, %s)") if after else sql.SQL("")
        query = sql.SQL(
            "SELECT {} FROM notes WHERE customer_id = %s{}"
            " ORDER BY created_at DESC, id DESC LIMIT %s"
        ).format(NOTE_COLUMNS, condition)
        params: list[Any] = [customer_id]
        if after is not None:
            params.extend([after.value, after.id])
        return self._all(query, [*params, limit + 1])

    def set_note_sentiment(self, note_id: UUID, customer_id: UUID, sentiment: Row) -> bool:
        """Keep ``sentiment`` on a note; False if the note is unknown or already had it."""
        self._cursor.execute(
            "UPDATE notes SET sentiment = %s WHERE id = %s AND customer_id = %s"
            " AND sentiment IS DISTINCT FROM %s::jsonb",
            [
                psycopg2.extras.Json(sentiment),
                note_id,
                customer_id,
                psycopg2.extras.Json(sentiment),
            ],
        )
        return bool(self._cursor.rowcount)

    def append_event(self, event: Event) -> None:
        """Write ``event`` to the outbox; it is published only if this transaction commits."""
        self._cursor.execute(
            "INSERT INTO outbox (event_id, event_type, subject, envelope) VALUES (%s, %s, %s, %s);"
            " SELECT pg_notify(%s, '')",
            [
                event.id,
                event.type,
                event.subject,
                psycopg2.extras.Json(event.to_document()),
                OUTBOX_CHANNEL,
            ],
        )

    def claim_idempotency_key(
        self, subject: str, key: str, fingerprint: str, retention_seconds: int
    ) -> bool:
        """Take the key for this request; False if a live (unexpired) claim exists.

        A concurrent claim of the same key waits here until the first transaction
        ends: on commit this returns False, on rollback the key is ours.
        """
        query = sql.SQL(
            "INSERT INTO idempotency_keys (subject, key, fingerprint) VALUES (%s, %s, %s)"
            " ON CONFLICT (subject, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
            " response_status = NULL, response_body = NULL, created_at = now()"
            " WHERE idempotency_keys.created_at < now() - make_interval(secs => %s)"
            " RETURNING subject"
        )
        return self._one(query, [subject, key, fingerprint, retention_seconds]) is not None

    def find_idempotent_response(self, subject: str, key: str) -> StoredResponse | None:
        """What was answered the first time this key was used, if anything."""
        query = sql.SQL(
            "SELECT fingerprint, response_status, response_body FROM idempotency_keys"
            " WHERE subject = %s AND key = %s"
        )
        row = self._one(query, [subject, key])
        if row is None:
            return None
        return StoredResponse(row["fingerprint"], row["response_status"], row["response_body"])

    def save_idempotent_response(self, subject: str, key: str, status: int, body: Any) -> None:
        """Remember the response for a key claimed in this transaction."""
        query = sql.SQL(
            "UPDATE idempotency_keys SET response_status = %s, response_body = %s"
            " WHERE subject = %s AND key = %s"
        )
        self._cursor.execute(query, [status, psycopg2.extras.Json(body), subject, key])


#: Filters compared for equality. Migration 0003 gives each a covering index per sort
#: key that starts with it, so a list filtered on it can walk just its value, in order.
EQUALITY_FILTERS = ("status", "country", "segment")
#: Reading a page of the table through a bitmap costs about as much as reading this
#: many entries of an index-only walk (bench/customer_list.py measures both)...
TABLE_PAGE_COST = 10
#: ... checking a row read from it, this many...
TABLE_ROW_COST = 1
#: ... and putting an index entry into a bitmap, this many.
BITMAP_ENTRY_COST = 0.5
#: Customers on a page of the table, about (rows of ~250 bytes). Rows are written in
#: the order they are created, so those created close together share pages.
ROWS_PER_PAGE = 30
#: Rows of a tag read to see how many pages its rows take: a tag given to customers
#: of a few weeks (a campaign) has them on a few pages, in table order...
TAG_SAMPLE = 100
#: ... for tags with at most this many rows; more cost more to sample than it saves.
TAG_SAMPLE_LIMIT = 50_000
#: A walk expected to read more entries than this looks at one tag's rows first: the
#: sample builds the tag's bitmap (1-2 ms at most TAG_SAMPLE_LIMIT rows, about 5,000-
#: 10,000 entries). Several tags are left to the walk: their bitmap is that of their
#: intersection, built from every tag's rows (newsletter's 250,000: 5 ms or more).
TAG_SAMPLE_BEFORE_WALK = 20_000
#: The opening window reads this many entries per row wanted, before any estimate:
#: filters that match one customer in ten or more fill the page within it.
OPENING_WINDOW_PER_ROW = 10
#: Entries the first window after the estimate reads at least: names come in runs
#: of one language (all the Aaravs), and a run must not pass for the whole index.
MIN_WINDOW = 4_000
#: A probe stops once it has collected this many times the estimated matches...
PROBE_SLACK = 3
#: ... or this many, if more.
MIN_PROBE = 1_000
#: Bitmap scans of the filter indexes only, no parallel workers; and back to the defaults.
BITMAP_SCANS_ONLY = sql.SQL(
    "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off;"
    " SET LOCAL enable_indexonlyscan = off; SET LOCAL max_parallel_workers_per_gather = 0; "
)
DEFAULT_SCANS = sql.SQL(
    "SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_indexscan TO DEFAULT;"
    " SET LOCAL enable_indexonlyscan TO DEFAULT;"
    " SET LOCAL max_parallel_workers_per_gather TO DEFAULT; "
)
ONE_SNAPSHOT = sql.SQL("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; ")
#: The tags' condition (the request's tags as its parameter).
HAS_TAGS = sql.SQL("tags @> %s::text[]")


@dataclass(frozen=True)
class ListPlan:
    """What a list request is expected to cost each way, in index entries read.

    From the planner's row estimates; see :class:`CustomerList` for the two ways.
    """

    fetch: int
    matches: float
    #: Entries of each index a walk may read (None: the sort's).
    walk_sizes: Mapping[str | None, float]
    #: For each way to probe (the filters whose indexes it reads): the index entries
    #: and table rows it reads, and the most pages those rows can take.
    probe_reads: Mapping[tuple[str, ...], tuple[float, float, float]]
    #: Table pages per row of the tags' rows, once looked at (before: taken as 1).
    tag_spread: float | None = None

    @property
    def partition(self) -> str | None:
        """The equality filter whose index the walk reads (the fewest entries); None: the sort's."""
        return min(self.walk_sizes, key=lambda column: self.walk_sizes[column])

    @property
    def walk_size(self) -> float:
        """Entries the walked index holds (in time order, within the created range)."""
        return self.walk_sizes[self.partition]

    @property
    def walk_rows(self) -> float:
        """Entries the walk is expected to read to fill the page."""
        # Matches taken as spread evenly along the index; fewer than a page: all of it.
        if self.matches < self.fetch:
            return self.walk_size
        return self.fetch * self.walk_size / self.matches

    def _probe_costs(self) -> dict[tuple[str, ...], float]:
        costs = {}
        for names, (entries, rows, most_pages) in self.probe_reads.items():
            spread = (self.tag_spread or 1.0) if "tag" in names else 1.0
            pages = min(rows * spread, most_pages)
            costs[names] = (
                entries * BITMAP_ENTRY_COST + rows * TABLE_ROW_COST + pages * TABLE_PAGE_COST
            )
        return costs

    @property
    def probe_by(self) -> tuple[str, ...]:
        """The filters whose indexes the cheapest probe reads (one, or the tags' and another's)."""
        costs = self._probe_costs()
        return min(costs, key=lambda names: costs[names])

    @property
    def probe_cost(self) -> float:
        """What the cheapest probe reads, weighted as walked entries."""
        return self._probe_costs()[self.probe_by]

    @property
    def probe_first(self) -> bool:
        """Whether probing is expected to cost less than walking."""
        return self.probe_cost < self.walk_rows

    def first_window(self) -> int:
        """Twice the expected walk, but no more than the probe would cost."""
        return int(max(MIN_WINDOW, min(2 * self.walk_rows, self.probe_cost)))

    def probe_limit(self) -> int:
        """How many matches the probe collects before it gives up."""
        return int(max(MIN_PROBE, PROBE_SLACK * self.matches))

    def could_probe_by_tag_for_less(self) -> bool:
        """Whether the tags' rows, if they shared pages, would make a probe by them cheaper."""
        tags = self.probe_reads.get(("tag",))
        if tags is None or tags[1] > TAG_SAMPLE_LIMIT or self.tag_spread is not None:
            return False
        clustered = replace(self, tag_spread=1 / ROWS_PER_PAGE)
        return clustered.probe_by != self.probe_by or clustered.probe_cost < self.probe_cost / 2


class CustomerList:
    """One list request, run on the transaction's cursor.

    The page is found one of two ways, whichever the planner's estimates make cheaper:

    - **walk**: read a sort-ordered index from the cursor on, entries only (the list
      indexes of migration 0003 INCLUDE every filter column), keeping the matches
      until the page is full; with an equality filter, the index that starts with
      it, so only that value's entries are read. Cheap when matches are dense.
    - **probe**: collect every match through the filter indexes (bitmap scans that
      read only the table rows the indexes point at), sort them, keep the page.
      Cheap when few customers match.

    A walk goes in windows, each from the last match found and two to four times as
    wide as the last, while what the windows found says walking on costs less than
    the probe, or all the walking stays under the probe's cost: an estimate that was
    wrong (matches that cluster somewhere in the sort order) costs a few times the
    other way, never the whole index. A probe that finds far more matches than
    estimated gives up, and the walk takes over.
    """

    def __init__(
        self, cursor: psycopg2.extras.RealDictCursor, query: CustomerQuery, after: Position | None
    ) -> None:
        self._cursor = cursor
        self._query = query
        self._after = after
        self._column, direction, self._comparison = ORDERINGS[query.sort]
        self._direction = sql.SQL(direction)
        self._fetch = query.limit + 1
        self._equality = [name for name in EQUALITY_FILTERS if getattr(query, name) is not None]
        self._started = False
        self._bitmap_scans_only = False

    def page(self) -> list[Row]:
        """Up to ``limit + 1`` matches after the cursor, in sort order."""
        if not self._filters(beside=None)[0]:
            # Nothing to check beyond the sort index's own condition: every entry matches,
            # and the page is its next rows, read straight from the table.
            return self._page_in_order()
        # Filters that match one customer in OPENING_WINDOW_PER_ROW or more need no estimate.
        opening = self._walk(None, self._after, OPENING_WINDOW_PER_ROW * self._fetch)
        if len(opening) == self._fetch:
            return opening
        plan = self._estimate()
        if (
            not plan.probe_first
            and len(self._query.tag or ()) == 1
            and plan.first_window() > TAG_SAMPLE_BEFORE_WALK
            and plan.could_probe_by_tag_for_less()
        ):
            # A long walk ahead, where the tag's rows, if they share pages, probe for less.
            plan = replace(plan, tag_spread=self._tag_spread())
        if plan.probe_first:
            return self._probe_then_walk(plan)
        return self._walk_in_windows(plan)

    def _page_in_order(self) -> list[Row]:
        where, params = self._walked(None, self._after)
        statement = sql.SQL("SELECT {} FROM customers WHERE {} ORDER BY {} LIMIT %s").format(
            CUSTOMER_COLUMNS, where, self._order(sql.Identifier(self._column))
        )
        return self._rows(statement, [*params, self._fetch])

    def _walk_in_windows(self, plan: ListPlan) -> list[Row]:
        """Walk window after window; probe once walking on would cost more than probing."""
        rows: list[Row] = []
        after = self._after
        walked = 0
        width = plan.first_window()
        while True:
            wanted = self._fetch - len(rows)
            if width >= plan.walk_size:
                # The window would hold every entry there is: no need to bound it.
                return rows + self._walk(plan.partition, after, None, wanted)
            found = self._walk(plan.partition, after, width, wanted)
            rows += found
            if len(found) == wanted:
                return rows
            walked += width
            if found:
                after = Position(found[-1][self._column], found[-1]["id"])
            # The rest of the page is this far on if matches go on as this window found
            # them. Found none: walking on may pass the run of entries that do not match
            # soon or never, so walk on only while all the walking stays under the probe.
            remaining = wanted - len(found)
            expected = remaining * width / len(found) if found else math.inf
            widened = int(min(4 * width, max(2 * width, 1.25 * expected)))
            if expected > plan.probe_cost and plan.could_probe_by_tag_for_less():
                # Worth a look at whether the tags' rows share pages (a campaign's do).
                plan = replace(plan, tag_spread=self._tag_spread())
            if expected > plan.probe_cost and walked + widened > plan.probe_cost:
                # The estimate that chose to walk was wrong: the probe costs less now.
                return self._probe_then_walk(plan)
            width = widened

    def _probe_then_walk(self, plan: ListPlan) -> list[Row]:
        """The probe's page; if far more match than estimated, the walk's, to the page's end."""
        page = self._probe(plan)
        return page if page is not None else self._walk(plan.partition, self._after, None)

    def _estimate(self) -> ListPlan:
        """The planner's row estimates, from one ``EXPLAIN``, of what each way reads.

        Counted over all the matches, without the cursor: the matches are taken as
        spread evenly, before it as after it. Each branch of the ``EXPLAIN`` costs a
        fraction of a millisecond to plan, so what the planner would only multiply
        (the share of a range in a value, of a tag among those) is multiplied here.
        """
        has_range = bool(self._created_range()[0])
        wheres: dict[str | None, tuple[sql.Composable, list[Any]]] = {
            "matches": self._matching(),
            None: self._walked(None, None),
        }
        wheres |= {column: self._walked(column, None) for column in self._equality}
        if self._query.tag:
            wheres["tag"] = self._access(("tag",))
        if has_range and not self._by_time:
            wheres["created"] = self._access(("created",))
        elif has_range and self._query.tag:
            wheres["live"] = (sql.SQL("deleted_at IS NULL"), [])
        rows = self._estimates(wheres)
        # By name the sort's index holds everyone; in time order, the created range.
        live = rows[None] if not (has_range and self._by_time) else rows.get("live", rows[None])
        in_range = rows.get("created", rows[None]) / max(live, 1) if has_range else 1.0
        read = {
            column: rows[column] * (1.0 if self._by_time else in_range) for column in self._equality
        }
        if has_range:
            read["created"] = in_range * live
        # Rows in the created range share its pages; others each have a page of their own.
        range_pages = read["created"] / ROWS_PER_PAGE if has_range else math.inf
        probe_reads: dict[tuple[str, ...], tuple[float, float, float]] = {
            (name,): (count, count, range_pages) for name, count in read.items()
        }
        if self._query.tag:
            tag = rows["tag"]
            probe_reads["tag",] = (tag, tag, math.inf)
            for name, count in read.items():
                # The bitmaps of both, ANDed: the rows in both, if they are independent.
                both = tag * count / max(live, 1)
                probe_reads["tag", name] = (tag + count, both, range_pages)
        return ListPlan(
            fetch=self._fetch,
            matches=rows["matches"],
            walk_sizes={column: rows[column] for column in [None, *self._equality]},
            probe_reads=probe_reads,
        )

    def _tag_spread(self) -> float:
        """Table pages per row among the first of the tags' rows, in table order.

        1 when each is on a page of its own; a thirtieth when they fill their pages.
        """
        statement = sql.SQL(
            # A ctid reads as "(page,item)", a point to PostgreSQL: [0] is the page.
            "SELECT count(DISTINCT (ctid::text::point)[0]) AS pages, count(*) AS sampled"
            " FROM (SELECT ctid FROM customers WHERE {} LIMIT %s) sample"
        ).format(self._access(("tag",))[0])
        (sample,) = self._rows(statement, [self._query.tag, TAG_SAMPLE], bitmap_scans_only=True)
        return float(sample["pages"]) / sample["sampled"] if sample["sampled"] else 1.0

    def _estimates(
        self, wheres: Mapping[str | None, tuple[sql.Composable, list[Any]]]
    ) -> dict[str | None, float]:
        """How many rows the planner expects each WHERE clause to select."""
        statement = sql.SQL("EXPLAIN (FORMAT JSON) ") + sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT id FROM customers WHERE {}").format(where)
            for where, _ in wheres.values()
        )
        params = [param for _, where_params in wheres.values() for param in where_params]
        (explained,) = self._rows(statement, params)
        plans = _union_branches(explained["QUERY PLAN"][0]["Plan"])
        return {name: plan["Plan Rows"] for name, plan in zip(wheres, plans, strict=True)}

    def _probe(self, plan: ListPlan) -> list[Row] | None:
        """The page, from every match collected through the filter indexes, then sorted.

        Reads only the entries of the indexes of ``plan.probe_by`` and the rows they
        point at, and checks the other filters on those rows. Left to itself, the
        planner would also AND the bitmaps of filters that match a quarter of the
        table, to read fewer rows: building those bitmaps costs far more than the rows.
        ``None`` when more customers match than the plan's limit: the probe stops there.
        """
        limit = plan.probe_limit()
        access, access_params = self._access(plan.probe_by)
        where, params = self._matching()
        after, after_params = self._after_condition(sql.Identifier("sort_value"), self._after)
        statement = sql.SQL(
            "WITH matching AS MATERIALIZED (SELECT id, sort_value FROM (SELECT id,"
            " {sort} AS sort_value, status, country, segment, tags, created_at, deleted_at"
            " FROM customers WHERE {access} OFFSET 0) customers WHERE {where} LIMIT %s)"
            " SELECT {columns}, counted.matches FROM (SELECT count(*) AS matches FROM matching)"
            " counted LEFT JOIN (customers JOIN (SELECT id, sort_value FROM matching WHERE {after}"
            " ORDER BY {order} LIMIT %s) page USING (id)) ON true ORDER BY {page_order}"
        ).format(
            sort=sql.Identifier(self._column),
            access=access,
            where=where,
            columns=CUSTOMER_COLUMNS,
            after=after,
            order=self._order(sql.Identifier("sort_value")),
            page_order=self._order(sql.SQL("page.sort_value")),
        )
        rows = self._rows(
            statement,
            [*access_params, *params, limit + 1, *after_params, self._fetch],
            bitmap_scans_only=True,
        )
        if rows[0]["matches"] > limit:
            return None
        # Without matches after the cursor, the one row holds only the count.
        return [_without(row, "matches") for row in rows if row["id"] is not None]

    def _walk(
        self, partition: str | None, after: Position | None, width: int | None, wanted: int = 0
    ) -> list[Row]:
        """The first ``wanted`` (default: a page) matches among ``width`` entries (None: all).

        Reads the sort's index, or the one that starts with ``partition``'s value, from
        ``after`` on; every filter is checked on the index entry itself.
        """
        walked, walked_params = self._walked(partition, after)
        beside, beside_params = self._filters(beside=partition, tags=False)
        order = self._order(sql.Identifier(self._column))
        entries = sql.SQL(
            "SELECT id, name, created_at, status, country, segment, tags FROM customers"
            " WHERE {walked} ORDER BY {order}{limit}"
        ).format(
            walked=walked,
            order=order,
            # A LIMIT, or else OFFSET 0, keeps the planner from folding the walk into one
            # query with the filters, and from picking its own way for that one again.
            limit=sql.SQL(" LIMIT %s") if width is not None else sql.SQL(" OFFSET 0"),
        )
        checked = sql.SQL("SELECT * FROM ({entries}) walked WHERE {beside}").format(
            entries=entries, beside=sql.SQL(" AND ").join(beside) if beside else sql.SQL("true")
        )
        if self._query.tag:
            # The tags last, on the entries the other filters let through (OFFSET 0 keeps
            # that order): left to itself, the planner checks them first, and a walk of
            # 80,000 entries took 18 ms instead of 12. The ORDER BY keeps the entries in
            # order, so the page's LIMIT stops the walk as soon as the page is full.
            checked = sql.SQL(
                "SELECT * FROM ({checked} ORDER BY {order} OFFSET 0) checked WHERE {tags}"
            ).format(checked=checked, order=order, tags=HAS_TAGS)
            beside_params.append(self._query.tag)
        statement = sql.SQL(
            "SELECT {columns} FROM customers JOIN (SELECT id, {sort} AS sort_value FROM ({checked})"
            " checked ORDER BY {order} LIMIT %s) page USING (id) ORDER BY {page_order}"
        ).format(
            columns=CUSTOMER_COLUMNS,
            sort=sql.Identifier(self._column),
            checked=checked,
            order=order,
            page_order=self._order(sql.SQL("page.sort_value")),
        )
        width_params = [width] if width is not None else []
        params = [*walked_params, *width_params, *beside_params, wanted or self._fetch]
        return self._rows(statement, params)

    def _rows(
        self, statement: sql.Composable, params: list[Any], *, bitmap_scans_only: bool = False
    ) -> list[Row]:
        """Run ``statement`` with the planner settings it needs, in one round trip.

        A probe must read only the rows its filters' indexes point at: a sequential
        scan, or an index walk picked on too high an estimate, would read the whole
        table to find a few matches.
        """
        prefix: list[sql.Composable] = []
        if not self._started:
            prefix.append(ONE_SNAPSHOT)
            self._started = True
        if bitmap_scans_only != self._bitmap_scans_only:
            prefix.append(BITMAP_SCANS_ONLY if bitmap_scans_only else DEFAULT_SCANS)
            self._bitmap_scans_only = bitmap_scans_only
        self._cursor.execute(sql.Composed([*prefix, statement]), params)
        return [dict(row) for row in self._cursor.fetchall()]

    @property
    def _by_time(self) -> bool:
        return self._column == "created_at"

    def _order(self, value: sql.Composable) -> sql.Composable:
        return sql.SQL("{value} {direction}, id {direction}").format(
            value=value, direction=self._direction
        )

    def _after_condition(
        self, value: sql.Composable, position: Position | None
    ) -> tuple[sql.Composable, list[Any]]:
        """Rows strictly after ``position`` in the sort order (``true`` without one)."""
        if position is None:
            return sql.SQL("true"), []
        condition = sql.SQL("({}, id) {} (%s, %s)").format(value, sql.SQL(self._comparison))
        return condition, [position.value, position.id]

    def _created_range(self) -> tuple[list[sql.Composable], list[Any]]:
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        if self._query.created_after is not None:
            conditions.append(sql.SQL("created_at >= %s"))
            params.append(self._query.created_after)
        if self._query.created_before is not None:
            conditions.append(sql.SQL("created_at < %s"))
            params.append(self._query.created_before)
        return conditions, params

    def _filters(
        self, *, beside: str | None, tags: bool = True
    ) -> tuple[list[sql.Composable], list[Any]]:
        """The filters a walk of ``beside``'s index (None: the sort's) checks on each entry.

        The walk's index condition holds its equality filter and, in time order, the
        created range. ``tags=False`` leaves the tags' condition out.
        """
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        for name in self._equality:
            if name != beside:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(getattr(self._query, name))
        if tags and self._query.tag:
            conditions.append(HAS_TAGS)
            params.append(self._query.tag)
        if not self._by_time:
            created, created_params = self._created_range()
            conditions += created
            params += created_params
        return conditions, params

    def _access(self, names: tuple[str, ...]) -> tuple[sql.Composable, list[Any]]:
        """WHERE clause of the entries the indexes of ``names`` hold for this request.

        ``tag``: the tags' GIN index; ``created``: the created range in the sort index;
        an equality filter: the index that starts with it, then ``created_at``, so it
        holds the created range as well.
        """
        conditions: list[sql.Composable] = [sql.SQL("deleted_at IS NULL")]
        params: list[Any] = []
        for name in names:
            if name == "tag":
                conditions.append(HAS_TAGS)
                params.append(self._query.tag)
            elif name != "created":
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(getattr(self._query, name))
        if set(names) - {"tag"}:
            created, created_params = self._created_range()
            conditions += created
            params += created_params
        return sql.SQL(" AND ").join(conditions), params

    def _matching(self) -> tuple[sql.Composable, list[Any]]:
        """WHERE clause of every live customer matching every filter (no cursor)."""
        conditions, params = self._filters(beside=None)
        if self._by_time:
            created, created_params = self._created_range()
            conditions += created
            params += created_params
        return sql.SQL(" AND ").join([sql.SQL("deleted_at IS NULL"), *conditions]), params

    def _walked(
        self, partition: str | None, after: Position | None
    ) -> tuple[sql.Composable, list[Any]]:
        """WHERE clause of the entries a walk of ``partition``'s index reads after ``after``."""
        conditions: list[sql.Composable] = [sql.SQL("deleted_at IS NULL")]
        params: list[Any] = []
        if partition is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(partition)))
            params.append(getattr(self._query, partition))
        if self._by_time:
            created, created_params = self._created_range()
            conditions += created
            params += created_params
        if after is not None:
            condition, after_params = self._after_condition(sql.Identifier(self._column), after)
            conditions.append(condition)
            params += after_params
        return sql.SQL(" AND ").join(conditions), params


def _union_branches(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plans of a ``UNION ALL``'s branches, in order."""
    return list(plan["Plans"]) if plan["Node Type"] == "Append" else [plan]


def _without(row: Row, key: str) -> Row:
    return {name: value for name, value in row.items() if name != key}


def _writable(values: Mapping[str, Any]) -> list[str]:
    unknown = set(values) - WRITABLE_COLUMNS
    if unknown:
        raise ValueError(f"not writable columns: {sorted(unknown)}")
    return sorted(values)


def _adapt(column: str, value: Any) -> Any:
    # psycopg2 sends lists as arrays already; a dict must be wrapped to become jsonb.
    return psycopg2.extras.Json(value) if column == "attributes" else value
