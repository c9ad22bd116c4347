"""SQL for the analytics database; nothing else in the service writes SQL.

:class:`AnalyticsStore` opens a transaction and hands out an
:class:`AnalyticsTransaction` whose methods each run one parameterised statement
(or one batch of them). Table and column names come only from the fixed maps
below, never from a request.

Every writer of the rollups (a consumer batch, a reconcile) first takes one
transaction-scoped advisory lock (:meth:`AnalyticsTransaction.lock_rollups`):
writers run one after the other, so increments never interleave with a recount
and two batches never lock rows in opposite orders.

Note sentiment is kept per note (``note_sentiments``) and summed up when read,
joined to each customer's last applied state (:meth:`AnalyticsTransaction.sentiment_tallies`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

import psycopg2.extras
from psycopg2 import sql

from analytics_service.rollups import Bucket, Churn, CustomerState, DailyKey, NoteSeen
from analytics_service.sentiment import NoteFilter, NoteSentiment, Tally
from shared.database import Database

#: The advisory lock key every writer of the rollups holds until it commits.
ROLLUP_WRITERS_LOCK = 0x616E616C79746963  # "analytic"
CUSTOMER_COLUMNS = sql.SQL("id, version, status, country, segment, tags, deleted, created_at")
#: A filter's column, and the condition it puts on a live customer.
FILTER_CONDITIONS: Mapping[str, sql.Composable] = {
    "status": sql.SQL("status = %s"),
    "country": sql.SQL("country = %s"),
    "segment": sql.SQL("segment = %s"),
    "tag": sql.SQL("tags @> ARRAY[%s]::text[]"),
}
#: A dimension, and the bucket value (or values, for tags) of one customer row.
DIMENSION_VALUES: Mapping[str, sql.Composable] = {
    "status": sql.SQL("status"),
    "country": sql.SQL("coalesce(country, '')"),
    "segment": sql.SQL("coalesce(segment, '')"),
    "tag": sql.SQL("unnest(CASE WHEN cardinality(tags) = 0 THEN ARRAY['']::text[] ELSE tags END)"),
}
#: Biggest buckets first; the "none" bucket ('') after the named ones of the same size.
BUCKET_ORDER = sql.SQL("ORDER BY count DESC, value = '', value")
PAGE = 1000
#: A group of note sentiment: the customer's segment now (null: none), or the customer.
SENTIMENT_GROUPS: Mapping[str, sql.Composable] = {
    "segment": sql.SQL("c.segment"),
    "customer": sql.SQL("n.customer_id"),
}
#: The sum of a set of notes' signed scores: +score positive, -score negative, 0 neutral.
SIGNED_SCORES = sql.SQL(
    "coalesce(sum(CASE n.label WHEN 'positive' THEN n.score WHEN 'negative' THEN -n.score"
    " ELSE 0 END), 0)"
)
#: A set of notes summed up (``sentiment.Tally``).
SENTIMENT_TALLY = sql.SQL(
    "count(*) FILTER (WHERE n.label = 'positive') AS positive,"
    " count(*) FILTER (WHERE n.label = 'negative') AS negative,"
    " count(*) FILTER (WHERE n.label = 'neutral') AS neutral,"
    " {signed} AS signed"
).format(signed=SIGNED_SCORES)
#: The order of sentiment groups: most notes first, or by mean (lowest or highest first);
#: then the one with more notes, then by value (the "none" segment last).
SENTIMENT_ORDER: Mapping[str, sql.Composable] = {
    "notes": sql.SQL("count(*) DESC, value ASC NULLS LAST"),
    "mean": sql.SQL("{signed} / count(*) ASC, count(*) DESC, value ASC NULLS LAST").format(
        signed=SIGNED_SCORES
    ),
    "-mean": sql.SQL("{signed} / count(*) DESC, count(*) DESC, value ASC NULLS LAST").format(
        signed=SIGNED_SCORES
    ),
}
#: The notes a sentiment read takes (``sentiment.NoteFilter``), on ``n`` joined to ``c``.
NOTE_CONDITIONS = sql.SQL(
    "(%(since)s::timestamptz IS NULL OR n.created_at >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR n.created_at < %(until)s)"
    " AND (%(customer_id)s::uuid IS NULL OR n.customer_id = %(customer_id)s)"
)
#: A rollup row's new count on conflict: the delta added, or the count given.
ADDED_COUNT = sql.SQL("{table}.count + EXCLUDED.count")
SET_COUNT = sql.SQL("EXCLUDED.count")


def _tally(row: Mapping[str, Any]) -> Tally:
    return Tally(
        positive=int(row["positive"]),
        negative=int(row["negative"]),
        neutral=int(row["neutral"]),
        signed=float(row["signed"]),
    )


def _note_parameters(notes: NoteFilter) -> dict[str, Any]:
    return {
        "since": notes.since,
        "until": notes.until,
        "customer_id": notes.customer_id,
        "segment": notes.segment,
    }


def _state(row: Mapping[str, Any]) -> CustomerState:
    return CustomerState(
        id=row["id"],
        version=row["version"],
        status=row["status"],
        country=row["country"],
        segment=row["segment"],
        tags=tuple(row["tags"]),
        deleted=row["deleted"],
        created_at=row["created_at"],
    )


class AnalyticsStore:
    """The analytics database, one transaction at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @contextmanager
    def transaction(self) -> Iterator[AnalyticsTransaction]:
        """Statements in one transaction: committed at the end, rolled back on error."""
        with self._database.transaction() as cursor:
            yield AnalyticsTransaction(cursor)


class AnalyticsTransaction:
    """The statements the service layer may run, inside one open transaction."""

    def __init__(self, cursor: psycopg2.extras.RealDictCursor) -> None:
        self._cursor = cursor

    def _all(self, query: sql.Composable | str, params: Any = ()) -> list[dict[str, Any]]:
        self._cursor.execute(query, params)
        return [dict(row) for row in self._cursor.fetchall()]

    def _values(
        self, query: sql.Composable | str, rows: Sequence[tuple[Any, ...]], template: str
    ) -> list[dict[str, Any]]:
        if not rows:
            return []
        found = psycopg2.extras.execute_values(
            self._cursor, query, rows, template=template, page_size=PAGE, fetch=True
        )
        return [dict(row) for row in found]

    # -- writers ------------------------------------------------------------------------

    def lock_rollups(self) -> None:
        """Wait for, then hold until this transaction ends, the rollup writers' lock."""
        self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_WRITERS_LOCK])

    def customers(self, ids: Collection[UUID] | None = None) -> dict[UUID, CustomerState]:
        """The held state of each customer in ``ids`` that is known (every one if None)."""
        if ids is None:
            rows = self._all(sql.SQL("SELECT {} FROM customers").format(CUSTOMER_COLUMNS))
        else:
            query = sql.SQL("SELECT {} FROM customers WHERE id = ANY(%s::uuid[])")
            rows = self._all(query.format(CUSTOMER_COLUMNS), [list(ids)])
        return {row["id"]: _state(row) for row in rows}

    def live_versions(self) -> dict[UUID, int]:
        """Each live customer's id and held version."""
        rows = self._all("SELECT id, version FROM customers WHERE NOT deleted")
        return {row["id"]: row["version"] for row in rows}

    def save_customers(self, states: Collection[CustomerState]) -> None:
        """Write each state; one older than the row held is ignored."""
        self._values(
            "INSERT INTO customers (id, version, status, country, segment, tags, deleted,"
            " created_at) VALUES %s ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version,"
            " status = EXCLUDED.status, country = EXCLUDED.country,"
            " segment = EXCLUDED.segment, tags = EXCLUDED.tags, deleted = EXCLUDED.deleted,"
            " created_at = EXCLUDED.created_at WHERE customers.version <= EXCLUDED.version"
            " RETURNING id",
            [
                (
                    state.id,
                    state.version,
                    state.status,
                    state.country,
                    state.segment,
                    list(state.tags),
                    state.deleted,
                    state.created_at,
                )
                for state in states
            ],
            "(%s, %s, %s, %s, %s, %s::text[], %s, %s)",
        )

    def insert_churns(self, churns: Sequence[Churn]) -> list[Churn]:
        """Log each churn; the ones logged now (a churn already logged is left out)."""
        rows = self._values(
            "INSERT INTO churns (customer_id, version, occurred_at) VALUES %s"
            " ON CONFLICT DO NOTHING RETURNING customer_id, version, occurred_at",
            [(churn.customer_id, churn.version, churn.occurred_at) for churn in churns],
            "(%s, %s, %s)",
        )
        return [Churn(row["customer_id"], row["version"], row["occurred_at"]) for row in rows]

    def insert_notes(self, notes: Sequence[NoteSeen]) -> list[NoteSeen]:
        """Log each note; the ones logged now (a note id already logged is left out)."""
        rows = self._values(
            "INSERT INTO notes (id, customer_id, created_at) VALUES %s"
            " ON CONFLICT DO NOTHING RETURNING id, customer_id, created_at",
            [(note.id, note.customer_id, note.created_at) for note in notes],
            "(%s, %s, %s)",
        )
        return [NoteSeen(row["id"], row["customer_id"], row["created_at"]) for row in rows]

    def insert_note_sentiments(self, sentiments: Sequence[NoteSentiment]) -> list[UUID]:
        """Keep each note's sentiment; the note ids kept now (one already kept is left as is)."""
        rows = self._values(
            "INSERT INTO note_sentiments (note_id, customer_id, created_at, label, score, method,"
            " model_name, model_version) VALUES %s ON CONFLICT DO NOTHING RETURNING note_id",
            [
                (
                    sentiment.note_id,
                    sentiment.customer_id,
                    sentiment.created_at,
                    sentiment.label,
                    sentiment.score,
                    sentiment.method,
                    sentiment.model_name,
                    sentiment.model_version,
                )
                for sentiment in sentiments
            ],
            "(%s, %s, %s, %s, %s, %s, %s, %s)",
        )
        return [row["note_id"] for row in rows]

    def add_to_counts(
        self, dimension_deltas: Mapping[Bucket, int], daily_deltas: Mapping[DailyKey, int]
    ) -> None:
        """Add each delta to its rollup row; a row that reaches zero goes."""
        self._write_counts(dimension_deltas, daily_deltas, add=True)

    def set_counts(
        self, dimension_counts: Mapping[Bucket, int], daily: Mapping[DailyKey, int]
    ) -> None:
        """Set each rollup row to its count; a zero count removes the row."""
        self._write_counts(dimension_counts, daily, add=False)

    def _write_counts(
        self, dimensions: Mapping[Bucket, int], daily: Mapping[DailyKey, int], *, add: bool
    ) -> None:
        for table, keys, counts in (
            ("dimension_counts", ("dimension", "value"), dimensions),
            ("daily_counts", ("metric", "day"), daily),
        ):
            rows = [(*key, count) for key, count in counts.items() if count or not add]
            if not rows:
                continue
            identifiers = {
                "table": sql.Identifier(table),
                "first": sql.Identifier(keys[0]),
                "second": sql.Identifier(keys[1]),
            }
            new_count = ADDED_COUNT if add else SET_COUNT
            upsert = sql.SQL(
                "INSERT INTO {table} ({first}, {second}, count) VALUES %s"
                " ON CONFLICT ({first}, {second}) DO UPDATE SET count = {new_count}"
                " RETURNING {first}, {second}, count"
            ).format(new_count=new_count.format(**identifiers), **identifiers)
            written = self._values(upsert, rows, "(%s, %s, %s)")
            emptied = [(row[keys[0]], row[keys[1]]) for row in written if row["count"] == 0]
            if emptied:
                delete = sql.SQL(
                    "DELETE FROM {table} AS t USING (VALUES %s) AS k ({first}, {second})"
                    " WHERE t.{first} = k.{first} AND t.{second} = k.{second} AND t.count = 0"
                    " RETURNING t.{first}"
                ).format(**identifiers)
                template = "(%s, %s::date)" if table == "daily_counts" else "(%s, %s)"
                self._values(delete, emptied, template)

    # -- readers ------------------------------------------------------------------------

    def read_one_snapshot(self) -> None:
        """Make every later read of this transaction see the same committed state.

        Only as its first statement: a read made of several queries (totals, then
        groups) then adds up, whatever a consumer batch commits in between.
        """
        self._cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def sentiment_totals(self, notes: NoteFilter) -> tuple[Tally, Tally]:
        """The notes ``notes`` takes of live customers, and of customers not known yet.

        A note of a customer never seen here matches any segment: its segment is not
        known yet. Notes of deleted customers are in neither.
        """
        query = sql.SQL(
            "SELECT c.id IS NULL AS awaiting, {tally}"
            " FROM note_sentiments AS n LEFT JOIN customers AS c ON c.id = n.customer_id"
            " WHERE {notes} AND (c.id IS NULL OR (NOT c.deleted"
            " AND (%(segment)s::text IS NULL OR c.segment = %(segment)s)))"
            " GROUP BY 1"
        ).format(tally=SENTIMENT_TALLY, notes=NOTE_CONDITIONS)
        found = {row["awaiting"]: _tally(row) for row in self._all(query, _note_parameters(notes))}
        return found.get(False, Tally()), found.get(True, Tally())

    def sentiment_tallies(
        self, by: str, notes: NoteFilter, order: str, limit: int
    ) -> list[tuple[Any, Tally]]:
        """The notes ``notes`` takes of live customers, summed up per group, in ``order``.

        ``by`` is ``segment`` (the customer's segment now; None: none) or ``customer``
        (its id). Each note is joined to its customer's last applied state here, so
        a customer's notes move with it when its segment changes, leave with its
        delete and come back with its restore; notes of a customer not known yet
        wait for its first event.
        """
        query = sql.SQL(
            "SELECT {group} AS value, {tally}"
            " FROM note_sentiments AS n JOIN customers AS c ON c.id = n.customer_id"
            " WHERE {notes} AND NOT c.deleted"
            " AND (%(segment)s::text IS NULL OR c.segment = %(segment)s)"
            " GROUP BY 1 ORDER BY {order} LIMIT %(limit)s"
        ).format(
            group=SENTIMENT_GROUPS[by],
            tally=SENTIMENT_TALLY,
            notes=NOTE_CONDITIONS,
            order=SENTIMENT_ORDER[order],
        )
        rows = self._all(query, {**_note_parameters(notes), "limit": limit})
        return [(row["value"], _tally(row)) for row in rows]

    def dimension_counts(self, dimension: str | None = None) -> dict[Bucket, int]:
        """Every rollup row of ``dimension`` (of every dimension if None)."""
        if dimension is None:
            rows = self._all("SELECT dimension, value, count FROM dimension_counts")
        else:
            rows = self._all(
                "SELECT dimension, value, count FROM dimension_counts WHERE dimension = %s",
                [dimension],
            )
        return {(row["dimension"], row["value"]): int(row["count"]) for row in rows}

    def daily_counts(
        self, metric: str | None = None, first: date | None = None, last: date | None = None
    ) -> dict[DailyKey, int]:
        """The daily rollup rows of ``metric`` (every one if None), from ``first`` to ``last``."""
        rows = self._all(
            "SELECT metric, day, count FROM daily_counts"
            " WHERE (%(metric)s::text IS NULL OR metric = %(metric)s)"
            " AND (%(first)s::date IS NULL OR day >= %(first)s)"
            " AND (%(last)s::date IS NULL OR day <= %(last)s)",
            {"metric": metric, "first": first, "last": last},
        )
        return {(row["metric"], row["day"]): int(row["count"]) for row in rows}

    def daily_totals(self, first: date, last: date) -> dict[str, int]:
        """Each metric's sum over the days from ``first`` to ``last``."""
        rows = self._all(
            "SELECT metric, sum(count) AS total FROM daily_counts"
            " WHERE day BETWEEN %s AND %s GROUP BY metric",
            [first, last],
        )
        return {row["metric"]: int(row["total"]) for row in rows}

    def top_buckets(self, dimension: str, limit: int) -> list[tuple[str, int]]:
        """The biggest buckets of ``dimension`` from its rollup."""
        query = sql.SQL(
            "SELECT value, count FROM dimension_counts WHERE dimension = %s AND count <> 0 {}"
            " LIMIT %s"
        ).format(BUCKET_ORDER)
        return [(row["value"], int(row["count"])) for row in self._all(query, [dimension, limit])]

    def filtered_buckets(
        self, dimension: str, filters: Mapping[str, str], limit: int
    ) -> tuple[list[tuple[str, int]], int]:
        """The biggest buckets of ``dimension`` among live customers matching every filter.

        Counted from the per-customer rows (the filter columns are indexed), and how
        many live customers match.
        """
        conditions: list[sql.Composable] = [sql.SQL("NOT deleted")]
        params: list[Any] = []
        for name, value in sorted(filters.items()):
            conditions.append(FILTER_CONDITIONS[name])
            params.append(value)
        where = sql.SQL(" AND ").join(conditions)
        query = sql.SQL(
            "SELECT value, count(*) AS count FROM (SELECT {} AS value FROM customers WHERE {})"
            " AS live GROUP BY value {} LIMIT %s"
        ).format(DIMENSION_VALUES[dimension], where, BUCKET_ORDER)
        found = [(row["value"], int(row["count"])) for row in self._all(query, [*params, limit])]
        (total,) = self._all(
            sql.SQL("SELECT count(*) AS total FROM customers WHERE {}").format(where), params
        )
        return found, int(total["total"])

    def recount_dimensions(self) -> dict[Bucket, int]:
        """The dimension rollups as the per-customer rows say they should be."""
        parts = [
            sql.SQL(
                "SELECT {dimension} AS dimension, value, count(*) AS count"
                " FROM (SELECT {value} AS value FROM customers WHERE NOT deleted) AS live"
                " GROUP BY value"
            ).format(dimension=sql.Literal(dimension), value=value)
            for dimension, value in DIMENSION_VALUES.items()
        ]
        rows = self._all(sql.SQL(" UNION ALL ").join(parts))
        return {(row["dimension"], row["value"]): int(row["count"]) for row in rows}

    def recount_daily(self) -> dict[DailyKey, int]:
        """The daily rollups as the customer rows, the churn log and the note log say."""
        rows = self._all(
            "SELECT 'signups' AS metric, (created_at AT TIME ZONE 'UTC')::date AS day,"
            " count(*) AS count FROM customers GROUP BY 2"
            " UNION ALL SELECT 'churns', (occurred_at AT TIME ZONE 'UTC')::date, count(*)"
            " FROM churns GROUP BY 2"
            " UNION ALL SELECT 'notes', (created_at AT TIME ZONE 'UTC')::date, count(*)"
            " FROM notes GROUP BY 2"
        )
        return {(row["metric"], row["day"]): int(row["count"]) for row in rows}
