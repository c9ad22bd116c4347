"""SQL for the search database; nothing else in the service writes SQL.

:class:`SearchStore` opens a transaction and hands out a :class:`SearchTransaction`
whose methods each run one parameterised statement (or a fixed pair). Column names
and orderings come only from the fixed tables below, never from a request; query
words reach PostgreSQL as quoted ``tsquery`` lexemes, so no operator a client
types is ever parsed as one. The embeddings' statements are in ``vector_store.py``
(``SearchTransaction.vectors``).

A semantic or hybrid search hands the store the customers it already chose with
their scores (:class:`~search_service.vectors.Matches`); the store keeps those
that are live and pass the filters, and pages, sorts and counts facets over
them as it does over full-text hits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg2.extras
from psycopg2 import sql

from search_service.cursors import Position
from search_service.documents import Document, IndexedNote
from search_service.fusion import TextHit
from search_service.matching import (
    MAX_CLOSE_WORDS,
    MAX_PREFIX_WORDS,
    MAX_TERMS,
    TermMatch,
    TextQuery,
)
from search_service.schemas import SearchQuery
from search_service.vector_store import VectorStatements
from search_service.vectors import Matches
from shared.database import Database

Row = dict[str, Any]

#: The text search configuration (``unaccent`` + ``simple``) of every vector and query.
CONFIG = "clientele_search"
#: ``ts_rank`` weights of D (notes), C (city, tags), B (email, company), A (name).
RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"
#: Shortest word kept in the typo vocabulary: a 5-letter query word with one typo
#: can be a 4-letter word.
VOCABULARY_MIN_LENGTH = 4
#: Where an email splits into words, in documents and in queries.
WORD_SEPARATORS = "@.+_-"
#: fuzzystrmatch's levenshtein() refuses longer strings.
LEVENSHTEIN_MAX_LENGTH = 255
#: Most values each facet lists.
FACET_SIZE = 20
SUGGEST_WORD_PREFIX_FROM = 2

# ts_headline marks matches with these, as they never occur in stored text (the
# customer service refuses control characters); api.py turns them into <mark>.
MARK_START = "\x02"
MARK_END = "\x03"
FIELD_HEADLINE = f'HighlightAll=true, StartSel="{MARK_START}", StopSel="{MARK_END}"'
NOTE_HEADLINE = (
    f'MaxWords=24, MinWords=8, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … ",'
    f' StartSel="{MARK_START}", StopSel="{MARK_END}"'
)

DOCUMENT_FIELDS = (
    "customer_id",
    "version",
    "deleted",
    "name",
    "email",
    "phone",
    "company",
    "country",
    "city",
    "segment",
    "status",
    "tags",
    "created_at",
    "updated_at",
    "deleted_at",
)
HIT_COLUMNS = sql.SQL(
    "d.customer_id, d.version, d.name, d.email, d.phone, d.company, d.country, d.city,"
    " d.segment, d.status, d.tags, d.created_at, d.updated_at, d.name_key"
)
HIT_COLUMN_COUNT = 14
#: The facet rows over a ``hits`` relation (status, country, segment, tags, and how many
#: documents each row stands for: ``weight``), and a total.
FACET_COUNTS = sql.SQL(
    """
    SELECT 'total' AS facet, NULL AS value, coalesce(sum(weight), 0)::bigint AS count FROM hits
    UNION ALL (SELECT 'status', status, sum(weight)::bigint FROM hits
               GROUP BY status ORDER BY 3 DESC, 2 LIMIT {size})
    UNION ALL (SELECT 'country', country, sum(weight)::bigint FROM hits WHERE country IS NOT NULL
               GROUP BY country ORDER BY 3 DESC, 2 LIMIT {size})
    UNION ALL (SELECT 'segment', segment, sum(weight)::bigint FROM hits WHERE segment IS NOT NULL
               GROUP BY segment ORDER BY 3 DESC, 2 LIMIT {size})
    UNION ALL (SELECT 'tag', tag, sum(weight)::bigint FROM hits CROSS JOIN unnest(hits.tags) AS tag
               GROUP BY tag ORDER BY 3 DESC, 2 LIMIT {size})
    """
).format(size=sql.Literal(FACET_SIZE))
#: The kept counts (migration 0004) as ``hits`` rows: one per cell, weighing its count.
CELL_HITS = sql.SQL(
    "SELECT c.status, nullif(c.country, '') AS country, nullif(c.segment, '') AS segment,"
    " c.tags, c.count AS weight FROM facet_cells c"
)
JOB_COLUMNS = sql.SQL(
    "id, generation, status, started_at, heartbeat_at, finished_at, start_change,"
    " seen, upserted, removed, error"
)

#: sort -> (ORDER BY, the row comparison meaning "after the cursor" in that order)
ORDERINGS: Mapping[str, tuple[str, str]] = {
    "relevance": (
        "score DESC, created_at DESC, customer_id DESC",
        "(score, created_at, customer_id) < (%s::float8, %s, %s)",
    ),
    "name": ("name_key ASC, customer_id ASC", "(name_key, customer_id) > (%s, %s)"),
    "created": ("created_at ASC, customer_id ASC", "(created_at, customer_id) > (%s, %s)"),
    "-created": ("created_at DESC, customer_id DESC", "(created_at, customer_id) < (%s, %s)"),
}


def tsquery_lexeme(word: str) -> str:
    """``word`` as one quoted ``tsquery`` lexeme (quotes doubled, backslashes escaped)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _as_prefix(term: TermMatch) -> str:
    """A term as a prefix: the indexed words it starts, or the index's prefix match.

    Whole words let the index skip through a common word's documents to those of
    the other terms (1-2 ms); a prefix match reads all of them first (20 ms for a
    first name shared by 35,000 of a million customers).
    """
    if term.prefix_words is None:
        return f"{tsquery_lexeme(term.term)}:*"
    words = term.prefix_words or (term.term,)
    return "(" + " | ".join(tsquery_lexeme(word) for word in words) + ")"


def _alternatives(text: TextQuery) -> list[list[str]]:
    """For each term: itself as a prefix, then each close word in names, emails, companies."""
    return [
        [_as_prefix(term), *(f"{tsquery_lexeme(word)}:AB" for word in term.close_words)]
        for term in text.terms
    ]


def tsqueries(text: TextQuery) -> dict[str, str]:
    """The ``tsquery`` texts a search runs: what matches, what needs no typo, what is exact."""
    alternatives = _alternatives(text)
    return {
        # Every term, as a prefix or as one of its close words.
        "match": " & ".join(f"({' | '.join(options)})" for options in alternatives),
        # Every term as a prefix: the hit needed no typo.
        "prefix": " & ".join(options[0] for options in alternatives),
        # Every term as a whole word.
        "exact": " & ".join(tsquery_lexeme(term.term) for term in text.terms),
        # Any term in any form: what a snippet marks.
        "any": " | ".join(option for options in alternatives for option in options),
    }


class SearchStore:
    """The search database, one transaction at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @contextmanager
    def transaction(self) -> Iterator[SearchTransaction]:
        """Statements in one transaction: committed at the end, rolled back on error."""
        with self._database.transaction() as cursor:
            yield SearchTransaction(cursor)


class SearchTransaction:
    """The statements the service layer may run, inside one open transaction."""

    def __init__(self, cursor: psycopg2.extras.RealDictCursor) -> None:
        self._cursor = cursor
        #: The embeddings' statements, in this transaction.
        self.vectors = VectorStatements(cursor)

    def _all(self, query: sql.Composable | str, params: Any = None) -> list[Row]:
        self._cursor.execute(query, params)
        return [dict(row) for row in self._cursor.fetchall()]

    def _one(self, query: sql.Composable | str, params: Any = None) -> Row | None:
        self._cursor.execute(query, params)
        row = self._cursor.fetchone()
        return dict(row) if row is not None else None

    # -- writing the index ------------------------------------------------------------

    def upsert_documents(self, documents: Sequence[Document], *, by_event: bool) -> set[UUID]:
        """Store each document unless one of the same or a newer version is held.

        At most one document per customer (a statement cannot update a row twice).
        Returns the customers whose document changed. A change made by an event is
        stamped from ``document_changes``, which a running reindex compares with its
        start to leave that document alone.
        """
        if not documents:
            return set()
        stamp = sql.SQL(", change_seq = nextval('document_changes')" if by_event else "")
        statement = sql.SQL(
            "INSERT INTO documents ({fields}) VALUES %s"
            " ON CONFLICT (customer_id) DO UPDATE SET {updates}{stamp}"
            " WHERE documents.version < EXCLUDED.version RETURNING customer_id"
        ).format(
            fields=sql.SQL(", ").join(map(sql.Identifier, DOCUMENT_FIELDS)),
            updates=sql.SQL(", ").join(
                sql.SQL("{field} = EXCLUDED.{field}").format(field=sql.Identifier(field))
                for field in DOCUMENT_FIELDS[1:]
            ),
            stamp=stamp,
        )
        # Ordered by id, so two writers lock the same rows in the same order.
        rows = [_document_values(document) for document in sorted(documents, key=_by_customer)]
        template = "(" + ", ".join(["%s"] * 11) + ", %s::text[], %s, %s, %s)"
        changed = psycopg2.extras.execute_values(
            self._cursor, statement, rows, template=template, page_size=len(rows), fetch=True
        )
        return {row["customer_id"] for row in changed}

    def insert_notes(self, notes: Sequence[IndexedNote]) -> set[UUID]:
        """Store each note unless its id is already stored; the ids stored now."""
        if not notes:
            return set()
        rows = [
            (note.note_id, note.customer_id, note.author, note.body, note.created_at)
            for note in sorted(notes, key=lambda note: note.note_id)
        ]
        inserted = psycopg2.extras.execute_values(
            self._cursor,
            "INSERT INTO notes (note_id, customer_id, author, body, created_at) VALUES %s"
            " ON CONFLICT (note_id) DO NOTHING RETURNING note_id",
            rows,
            page_size=len(rows),
            fetch=True,
        )
        return {row["note_id"] for row in inserted}

    def refresh_documents(self, customer_ids: Iterable[UUID]) -> None:
        """Rebuild the weighted vector of these documents, add its words to the lexicon and
        their names' and companies' words to the vocabulary.

        ``document_vector`` (migration 0005) weighs them: name A; the email's parts and
        company B; city and tags C; the newest notes D.
        """
        ids = sorted(set(customer_ids))
        if not ids:
            return
        self._cursor.execute(
            """
            UPDATE documents d SET search_vector = document_vector(d)
            WHERE d.customer_id = ANY(%(ids)s::uuid[]);

            INSERT INTO lexicon (word)
            SELECT DISTINCT word
            FROM documents d, unnest(tsvector_to_array(d.search_vector)) AS word
            WHERE d.customer_id = ANY(%(ids)s::uuid[])
            ORDER BY word
            ON CONFLICT (word) DO NOTHING;

            INSERT INTO vocabulary (word)
            SELECT DISTINCT word.lexeme
            FROM documents d,
                 unnest(to_tsvector(%(config)s::regconfig, concat_ws(' ', d.name, d.company)))
                     AS word
            WHERE d.customer_id = ANY(%(ids)s::uuid[]) AND NOT d.deleted
              AND char_length(word.lexeme) BETWEEN %(min_length)s AND %(max_length)s
            ORDER BY word.lexeme
            ON CONFLICT (word) DO NOTHING
            """,
            {
                "config": CONFIG,
                "ids": ids,
                "min_length": VOCABULARY_MIN_LENGTH,
                "max_length": LEVENSHTEIN_MAX_LENGTH,
            },
        )

    def mark_seen(self, customer_ids: Iterable[UUID], generation: int) -> None:
        """Note that reindex ``generation`` listed these customers."""
        self._cursor.execute(
            "UPDATE documents SET seen_generation = %s WHERE customer_id = ANY(%s::uuid[])",
            [generation, sorted(set(customer_ids))],
        )

    def remove_unseen(self, generation: int, start_change: int) -> int:
        """Tombstone live documents reindex ``generation`` did not list and no event changed
        since it started (``start_change``); how many."""
        self._cursor.execute(
            "UPDATE documents SET deleted = true, deleted_at = now()"
            " WHERE NOT deleted AND seen_generation IS DISTINCT FROM %s AND change_seq <= %s",
            [generation, start_change],
        )
        return int(self._cursor.rowcount)

    # -- reading the index ------------------------------------------------------------

    def query_terms(self, text: str) -> list[str]:
        """The words of ``text`` as the index holds them (unaccented, lower case), in order.

        Split at ``@ . + _ -`` first, as emails are indexed (``document_vector``).
        """
        rows = self._all(
            "SELECT word.lexeme FROM unnest(to_tsvector(%s::regconfig, translate(%s, %s, %s)))"
            " AS word ORDER BY word.positions[1] LIMIT %s",
            [CONFIG, text, WORD_SEPARATORS, " " * len(WORD_SEPARATORS), MAX_TERMS],
        )
        return [row["lexeme"] for row in rows]

    def close_words(self, allowances: Mapping[str, int]) -> dict[str, list[str]]:
        """For each term, the vocabulary words within its allowed typos, closest first.

        A typo on the first letter counts as two, as in Meilisearch: a word with the
        same first letter within the allowance (a bounded Levenshtein distance over the
        words of that letter and a close length: an index on both), or, with two typos
        allowed, a word that differs only by its first letter (changed, added or
        missing). Measured 10-15 times faster than a trigram similarity search, whose
        prefilter lets through a large share of the vocabulary of names, and reading
        one first letter's words instead of every word of a close length made the
        look-up another ~10 times faster at a million customers (bench/search_latency.py).
        """
        wanted = {term: typos for term, typos in allowances.items() if typos > 0}
        if not wanted:
            return {}
        rows = self._all(
            """
            SELECT t.term, close.word
            FROM unnest(%(terms)s::text[], %(typos)s::int[]) AS t(term, typos)
            CROSS JOIN LATERAL (
                SELECT word, min(distance) AS distance FROM (
                    SELECT v.word, levenshtein_less_equal(v.word, t.term, t.typos) AS distance
                    FROM vocabulary v
                    WHERE left(v.word, 1) = left(t.term, 1)
                      AND char_length(v.word) BETWEEN char_length(t.term) - t.typos
                                                  AND char_length(t.term) + t.typos
                      AND v.word <> t.term
                      AND CASE WHEN char_length(v.word) <= %(max_length)s
                                    AND char_length(t.term) <= %(max_length)s
                               THEN levenshtein_less_equal(v.word, t.term, t.typos)
                          END <= t.typos
                    UNION ALL
                    SELECT v.word, 2 FROM vocabulary v
                    WHERE t.typos >= 2 AND left(v.word, 1) <> left(t.term, 1)
                      AND substr(v.word, 2) IN (substr(t.term, 2), t.term)
                    UNION ALL
                    SELECT v.word, 2 FROM vocabulary v
                    WHERE t.typos >= 2 AND v.word = substr(t.term, 2)
                ) AS candidates
                GROUP BY word
                ORDER BY distance, word
                LIMIT %(per_term)s
            ) AS close
            ORDER BY t.term, close.distance, close.word
            """,
            {
                "terms": list(wanted),
                "typos": list(wanted.values()),
                "max_length": LEVENSHTEIN_MAX_LENGTH,
                "per_term": MAX_CLOSE_WORDS,
            },
        )
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row["term"], []).append(row["word"])
        return found

    def prefix_words(self, terms: Sequence[str]) -> dict[str, tuple[str, ...] | None]:
        """For each term, the indexed words it starts (itself included), in order; None
        for a term that starts more than :data:`MAX_PREFIX_WORDS`."""
        rows = self._all(
            """
            SELECT t.term, starting.word
            FROM unnest(%(terms)s::text[]) AS t(term)
            CROSS JOIN LATERAL (
                -- In byte order the words starting with a term lie from it to it followed
                -- by the last code point: an index range (LIKE with a pattern not known
                -- when the statement is planned would read the whole index).
                SELECT l.word FROM lexicon l
                WHERE l.word >= t.term COLLATE "C" AND l.word < t.term || chr(1114111)
                ORDER BY l.word LIMIT %(most)s
            ) AS starting
            """,
            {"terms": list(terms), "most": MAX_PREFIX_WORDS + 1},
        )
        found: dict[str, list[str]] = {term: [] for term in terms}
        for row in rows:
            found[row["term"]].append(row["word"])
        return {
            term: tuple(words) if len(words) <= MAX_PREFIX_WORDS else None
            for term, words in found.items()
        }

    def search(
        self, query: SearchQuery, text: TextQuery | None, sort: str, after: Position | None
    ) -> list[Row]:
        """Up to ``query.limit + 1`` hits in ``sort`` order after ``after``, with highlights."""
        conditions, params = _conditions(query, text)
        score, score_params = _score(text)
        order, page_condition, page_params = _page(sort, after)
        highlights, highlight_params = _highlights(text)
        statement = sql.SQL(
            "SELECT page.*, {highlights} FROM ("
            " SELECT * FROM ("
            "  SELECT {columns}, {score} AS score FROM documents d WHERE {conditions}"
            " ) hits WHERE {after} ORDER BY {order} LIMIT %s"
            ") page ORDER BY {order}"
        ).format(
            highlights=highlights,
            columns=HIT_COLUMNS,
            score=score,
            conditions=sql.SQL(" AND ").join(conditions),
            after=page_condition,
            order=order,
        )
        return self._all(
            statement,
            [*highlight_params, *score_params, *params, *page_params, query.limit + 1],
        )

    def facets(self, query: SearchQuery, text: TextQuery | None) -> list[Row]:
        """``(facet, value, count)`` rows over every hit, and one ``total`` row.

        Without words or a creation range the hits are exactly the documents of the
        cells the filters select, so the counts are summed from ``facet_cells``;
        otherwise they are counted over the hits.
        """
        if text is None and query.created_after is None and query.created_before is None:
            conditions, params = _conditions(query, None, table="c", live=False)
            hits = sql.SQL("{cells} WHERE {conditions}").format(
                cells=CELL_HITS,
                conditions=sql.SQL(" AND ").join([sql.SQL("c.count > 0"), *conditions]),
            )
        else:
            conditions, params = _conditions(query, text)
            hits = sql.SQL(
                "SELECT d.status, d.country, d.segment, d.tags, 1 AS weight"
                " FROM documents d WHERE {conditions}"
            ).format(conditions=sql.SQL(" AND ").join(conditions))
        statement = sql.SQL("WITH hits AS MATERIALIZED ({hits}) {counts}").format(
            hits=hits, counts=FACET_COUNTS
        )
        return self._all(statement, params)

    def chosen_page(
        self,
        query: SearchQuery,
        text: TextQuery | None,
        sort: str,
        after: Position | None,
        chosen: Matches,
    ) -> tuple[list[Row], list[Row]]:
        """:meth:`search` and :meth:`facets` over customers already chosen with their scores
        (semantic or blended): those live and through the filters are the hits.

        One statement, so each chosen customer's document is read once for the page and
        the facets (thousands of them for a broad query); ``text`` only marks highlights.
        """
        source, source_params = _chosen_source(chosen)
        conditions, params = _conditions(query, None)
        order, page_condition, page_params = _page(sort, after)
        highlights, highlight_params = _highlights(text)
        # The page's position, columns, score, weight and three highlights, empty on a
        # facet row.
        blanks = sql.SQL(", ").join([sql.SQL("NULL")] * (1 + HIT_COLUMN_COUNT + 2 + 3))
        statement = sql.SQL(
            "WITH hits AS MATERIALIZED ("
            " SELECT {columns}, chosen.score AS score, 1 AS weight FROM {source} WHERE {conditions}"
            "), page AS ("
            " SELECT * FROM hits WHERE {after} ORDER BY {order} LIMIT %s"
            "), counted AS ({counts})"
            " SELECT NULL::text AS facet, NULL::text AS value, NULL::bigint AS count,"
            "  row_number() OVER (ORDER BY {order}) AS position, page.*, {highlights} FROM page"
            " UNION ALL"
            " SELECT facet, value, count, {blanks} FROM counted"
            " ORDER BY position"
        ).format(
            columns=HIT_COLUMNS,
            source=source,
            conditions=sql.SQL(" AND ").join(conditions),
            after=page_condition,
            order=order,
            counts=FACET_COUNTS,
            highlights=highlights,
            blanks=blanks,
        )
        rows = self._all(
            statement,
            [*source_params, *params, *page_params, query.limit + 1, *highlight_params],
        )
        return (
            [row for row in rows if row["facet"] is None],
            [row for row in rows if row["facet"] is not None],
        )

    def text_hits(
        self, query: SearchQuery, text: TextQuery, typed: str, limit: int
    ) -> list[TextHit]:
        """The ``limit`` best full-text hits (live, through the filters), best first.

        Each says whether it is exactly what was typed: its email or phone, or its
        whole name (accents and case ignored).
        """
        conditions, params = _conditions(query, text)
        score, score_params = _score(text)
        statement = sql.SQL(
            "SELECT d.customer_id,"
            " (d.email_key = %s OR d.phone_digits = %s OR d.name_key = search_fold(%s)) AS exact"
            " FROM documents d WHERE {conditions}"
            " ORDER BY {score} DESC, d.created_at DESC, d.customer_id DESC LIMIT %s"
        ).format(conditions=sql.SQL(" AND ").join(conditions), score=score)
        rows = self._all(
            statement,
            [
                text.email,
                text.phone_digits,
                " ".join(typed.split()),
                *params,
                *score_params,
                limit,
            ],
        )
        return [TextHit(row["customer_id"], bool(row["exact"])) for row in rows]

    def keep_matches(self, query: SearchQuery, matches: Matches) -> Matches:
        """Of ``matches``, those of live customers that pass the filters, in the same order."""
        conditions, params = _conditions(query, None)
        statement = sql.SQL(
            "SELECT chosen.position FROM documents d"
            " JOIN unnest(%s::uuid[]) WITH ORDINALITY AS chosen(customer_id, position)"
            " ON chosen.customer_id = d.customer_id WHERE {conditions}"
        ).format(conditions=sql.SQL(" AND ").join(conditions))
        ids = "{" + ",".join(str(customer_id) for customer_id in matches.customer_ids) + "}"
        kept = sorted(row["position"] - 1 for row in self._all(statement, [ids, *params]))
        return Matches([matches.customer_ids[n] for n in kept], [matches.scores[n] for n in kept])

    def fold(self, text: str) -> str:
        """``text`` as names are compared: without accents, in lower case."""
        row = self._one("SELECT search_fold(%s) AS folded", [text])
        return str(row["folded"]) if row else text

    def suggest(self, folded: str, limit: int) -> list[Row]:
        """Names and companies starting with ``folded`` (tier 0) or with a later word starting
        so (tier 1), each tier in the order of the text from where it matched."""
        pattern = _like_prefix(folded)
        parts = [_suggest_part("name", 0), _suggest_part("company", 0)]
        params: list[Any] = [pattern, limit, pattern, limit]
        if len(folded) >= SUGGEST_WORD_PREFIX_FROM:
            parts += [_suggest_part("name", 1), _suggest_part("company", 1)]
            params += [pattern, limit, pattern, limit]
        return self._all(sql.SQL(" UNION ALL ").join(parts), params)

    # -- reindex jobs -----------------------------------------------------------------

    def start_job(self, job_id: UUID, stale_seconds: float) -> Row | None:
        """Start a job, first failing a running one that stopped beating; None if one runs."""
        self._cursor.execute(
            "UPDATE reindex_jobs SET status = 'failed', finished_at = now(), error = %s"
            " WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => %s)",
            [ABANDONED, stale_seconds],
        )
        return self._one(
            sql.SQL(
                "INSERT INTO reindex_jobs (id, status, start_change)"
                " SELECT %s, 'running', CASE WHEN is_called THEN last_value ELSE 0 END"
                " FROM document_changes"
                " ON CONFLICT ((true)) WHERE status = 'running' DO NOTHING RETURNING {}"
            ).format(JOB_COLUMNS),
            [job_id],
        )

    def running_job(self) -> Row | None:
        """The job running now, if any."""
        return self._one(
            sql.SQL("SELECT {} FROM reindex_jobs WHERE status = 'running'").format(JOB_COLUMNS)
        )

    def find_job(self, job_id: UUID, stale_seconds: float) -> Row | None:
        """A job; one still running whose heartbeat stopped reads as failed."""
        return self._one(
            sql.SQL(
                "SELECT {}, status = 'running'"
                " AND heartbeat_at < now() - make_interval(secs => %s) AS abandoned"
                " FROM reindex_jobs WHERE id = %s"
            ).format(JOB_COLUMNS),
            [stale_seconds, job_id],
        )

    def record_progress(self, job_id: UUID, seen: int, upserted: int) -> None:
        """Add a page's counts to a job and beat its heartbeat."""
        self._cursor.execute(
            "UPDATE reindex_jobs SET seen = seen + %s, upserted = upserted + %s,"
            " heartbeat_at = now() WHERE id = %s",
            [seen, upserted, job_id],
        )

    def finish_job(
        self, job_id: UUID, status: str, *, removed: int = 0, error: str | None = None
    ) -> None:
        """Close a running job as ``succeeded`` or ``failed``."""
        self._cursor.execute(
            "UPDATE reindex_jobs SET status = %s, removed = %s, error = %s, finished_at = now(),"
            " heartbeat_at = now() WHERE id = %s AND status = 'running'",
            [status, removed, error, job_id],
        )


#: Why a running job that stopped beating is failed.
ABANDONED = "abandoned: the process running it stopped before it finished"


def _by_customer(document: Document) -> UUID:
    return document.customer_id


def _document_values(document: Document) -> tuple[Any, ...]:
    return (
        document.customer_id,
        document.version,
        document.deleted,
        document.name,
        document.email,
        document.phone,
        document.company,
        document.country,
        document.city,
        document.segment,
        document.status,
        list(document.tags),
        document.created_at,
        document.updated_at,
        document.deleted_at,
    )


def _chosen_source(chosen: Matches) -> tuple[sql.Composable, list[Any]]:
    """The chosen customers' documents, each with its given score (``chosen.score``).

    The ids and scores travel as two array literals (one parameter each): thousands of
    them cost a fraction of a millisecond, where a parameter per value would not.
    """
    return (
        sql.SQL(
            "documents d JOIN unnest(%s::uuid[], %s::float8[]) AS chosen(customer_id, score)"
            " ON chosen.customer_id = d.customer_id"
        ),
        [
            "{" + ",".join(str(customer_id) for customer_id in chosen.customer_ids) + "}",
            "{" + ",".join(repr(float(score)) for score in chosen.scores) + "}",
        ],
    )


def _page(sort: str, after: Position | None) -> tuple[sql.Composable, sql.Composable, list[Any]]:
    """A sort's ORDER BY, the condition of the rows after ``after`` in it, and its parameters."""
    order, after_condition = ORDERINGS[sort]
    if after is None:
        return sql.SQL(order), sql.SQL("true"), []
    return sql.SQL(order), sql.SQL(after_condition), _position_values(sort, after)


def _conditions(
    query: SearchQuery, text: TextQuery | None, *, table: str = "d", live: bool = True
) -> tuple[list[sql.Composable], list[Any]]:
    """The WHERE clauses of a search: live documents, the words, the filters.

    ``table`` names the relation the filters read (``c``: the facet cells, whose rows
    are all live: ``live=False``).
    """
    conditions: list[sql.Composable] = [sql.SQL("NOT d.deleted")] if live else []
    params: list[Any] = []
    if text is not None and not text.terms:
        # An email, or the start of one (see ``TextQuery``).
        conditions.append(sql.SQL('(d.email_key COLLATE "C") LIKE %s'))
        params.append(_like_prefix(text.email or ""))
    elif text is not None:
        conditions.append(
            sql.SQL("(d.search_vector @@ %s::tsquery OR d.email_key = %s OR d.phone_digits = %s)")
        )
        params += [tsqueries(text)["match"], text.email, text.phone_digits]
    filters: list[tuple[str, Any]] = [
        ("{t}.status = %s", query.status),
        ("{t}.country = %s", query.country),
        ("{t}.segment = %s", query.segment),
        ("{t}.tags @> %s::text[]", query.tag),
        ("{t}.created_at >= %s", query.created_after),
        ("{t}.created_at < %s", query.created_before),
    ]
    for condition, value in filters:
        if value is not None:
            conditions.append(sql.SQL(condition).format(t=sql.Identifier(table)))
            params.append(value)
    return conditions, params


def _score(text: TextQuery | None) -> tuple[sql.Composable, list[Any]]:
    """Relevance: an exact email or phone (4), no typo needed (2), whole words (0.1), then
    ``ts_rank`` by field weight (below 1). Zero without words."""
    if text is None:
        return sql.SQL("0::float8"), []
    if not text.terms:
        return sql.SQL("(CASE WHEN d.email_key = %s THEN 4::float8 ELSE 0 END + 2::float8)"), [
            text.email
        ]
    queries = tsqueries(text)
    return (
        sql.SQL(
            "(CASE WHEN d.email_key = %s OR d.phone_digits = %s THEN 4::float8 ELSE 0 END"
            " + CASE WHEN d.search_vector @@ %s::tsquery THEN 2::float8 ELSE 0 END"
            " + CASE WHEN d.search_vector @@ %s::tsquery THEN 0.1::float8 ELSE 0 END"
            " + ts_rank(%s::float4[], d.search_vector, %s::tsquery, 32)::float8)"
        ),
        [
            text.email,
            text.phone_digits,
            queries["prefix"],
            queries["exact"],
            RANK_WEIGHTS,
            queries["match"],
        ],
    )


def _highlights(text: TextQuery | None) -> tuple[sql.Composable, list[Any]]:
    """Marked name, company and best note passage of a page's hits (none without words)."""
    if text is None or not text.terms:
        return (
            sql.SQL(
                "NULL::text AS name_highlight, NULL::text AS company_highlight,"
                " NULL::text AS notes_highlight"
            ),
            [],
        )
    marks = MARK_START + MARK_END
    marked = tsqueries(text)["any"]
    return (
        sql.SQL(
            "ts_headline({config}, translate(page.name, %s, ''), %s::tsquery, %s)"
            " AS name_highlight,"
            " CASE WHEN page.company IS NOT NULL THEN"
            "  ts_headline({config}, translate(page.company, %s, ''), %s::tsquery, %s)"
            " END AS company_highlight,"
            " (SELECT ts_headline({config}, translate(n.body, %s, ''), %s::tsquery, %s)"
            "  FROM notes n WHERE n.customer_id = page.customer_id AND n.body_vector @@ %s::tsquery"
            "  ORDER BY ts_rank(n.body_vector, %s::tsquery) DESC, n.created_at DESC LIMIT 1"
            " ) AS notes_highlight"
        ).format(config=sql.SQL("{}::regconfig").format(sql.Literal(CONFIG))),
        [
            *(marks, marked, FIELD_HEADLINE),
            *(marks, marked, FIELD_HEADLINE),
            *(marks, marked, NOTE_HEADLINE, marked, marked),
        ],
    )


def _like_prefix(text: str) -> str:
    """A ``LIKE`` pattern for the texts starting with ``text``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _position_values(sort: str, after: Position) -> list[Any]:
    if sort == "relevance":
        return [after.score, after.created_at, after.customer_id]
    if sort == "name":
        return [after.name_key, after.customer_id]
    return [after.created_at, after.customer_id]


def _suggest_part(field: str, tier: int) -> sql.Composable:
    """One field's suggestions of one tier: distinct texts in order, up to a limit.

    Tier 0 reads the field's prefix index on ``documents``: byte order ("C"), so one
    index serves ``LIKE 'x%'`` and the order. Tier 1 reads ``suggest_tails`` (the text
    from each later word on) in ``(field, tail, key)`` order, so a short prefix stops
    after the first distinct texts instead of reading every one it matches.
    """
    if tier == 0:
        key = sql.SQL('({} COLLATE "C")').format(sql.Identifier(f"{field}_key"))
        return sql.SQL(
            "(SELECT DISTINCT ON ({key}) {field} AS text, {field_name} AS field, 0 AS tier,"
            " {key} AS key, {key} AS position FROM documents WHERE NOT deleted AND {key} LIKE %s"
            " ORDER BY {key} LIMIT %s)"
        ).format(key=key, field=sql.Identifier(field), field_name=sql.Literal(field))
    return sql.SQL(
        "(SELECT DISTINCT ON (tail, key) text, field, 1 AS tier, key, tail AS position"
        " FROM suggest_tails WHERE field = {field_name} AND tail LIKE %s"
        " ORDER BY tail, key LIMIT %s)"
    ).format(field_name=sql.Literal(field))
