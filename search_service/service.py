"""The search use cases: plain Python over :class:`SearchStore`, no HTTP, no SQL.

A search turns ``q`` into terms (the index's own tokeniser, so both sides fold
accents and case alike), looks up the close words each term's typo allowance
admits, then asks the store for one page of hits, the facets and the total, in
one read transaction. Starting a reindex records the job and hands it to a
launcher (a thread in the web process: ``reindex.py``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from search_service.cursors import Position, decode_cursor, encode_cursor, query_fingerprint
from search_service.matching import (
    TermMatch,
    TextQuery,
    allowed_typos,
    email_in,
    phone_digits_in,
)
from search_service.reindex import ReindexRun
from search_service.schemas import (
    Facets,
    FacetValue,
    Highlights,
    Hit,
    ReindexJob,
    SearchPage,
    SearchQuery,
    Suggestion,
    SuggestionList,
    SuggestQuery,
)
from search_service.store import (
    ABANDONED,
    MARK_END,
    MARK_START,
    Row,
    SearchStore,
    SearchTransaction,
)
from shared.errors import Conflict, NotFound

FACETS = ("status", "country", "segment", "tag")
#: A running job that has not beaten for this long is taken as abandoned (its process
#: stopped); each page of a reindex beats, and a page takes seconds at most.
STALE_JOB_SECONDS = 120.0


class ReindexAlreadyRunning(Conflict):
    """A reindex is running; ``job_id`` names it."""

    slug = "reindex-running"

    def __init__(self, job_id: UUID) -> None:
        super().__init__(
            f"Reindex {job_id} is running; follow it at /search/reindex/{job_id}",
            job_id=str(job_id),
        )


class ReindexJobNotFound(NotFound):
    """No reindex job has this id."""

    slug = "reindex-job-not-found"

    def __init__(self, job_id: UUID) -> None:
        super().__init__(f"No reindex job with id {job_id}")


class SearchService:
    """Search the index, and suggest names and companies as the user types."""

    def __init__(self, store: SearchStore) -> None:
        self._store = store

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of hits for ``query``, with the facets and total of all of them."""
        with self._store.transaction() as tx:
            text = _text_query(tx, query.q)
            sort = query.sort or ("relevance" if text is not None else "-created")
            fingerprint = _fingerprint(query)
            after = decode_cursor(query.cursor, sort, fingerprint) if query.cursor else None
            rows = tx.search(query, text, sort, after)
            facet_rows = tx.facets(query, text)
        items = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            next_cursor = encode_cursor(sort, fingerprint, _position(sort, items[-1]))
        total, facets = _facets(facet_rows)
        return SearchPage(
            items=[_hit(row, scored=text is not None) for row in items],
            total=total,
            facets=facets,
            next_cursor=next_cursor,
        )

    def suggest(self, query: SuggestQuery) -> SuggestionList:
        """Names and companies for a search box: whole-text prefix first, then a word's."""
        typed = " ".join(query.q.split())
        if not typed:
            return SuggestionList(items=[])
        with self._store.transaction() as tx:
            rows = tx.suggest(tx.fold(typed), query.limit)
        ordered = sorted(rows, key=lambda row: (row["tier"], row["key"], row["field"]))
        suggestions = dict.fromkeys((row["text"], row["field"]) for row in ordered)
        return SuggestionList(
            items=[
                Suggestion(text=text, field=field)
                for text, field in list(suggestions)[: query.limit]
            ]
        )


class ReindexService:
    """Start a rebuild of the index from the customer service, and report on it."""

    def __init__(self, store: SearchStore, launch: Callable[[ReindexRun], None]) -> None:
        self._store = store
        self._launch = launch

    def start(self, token: str) -> ReindexJob:
        """Record a running job and launch it with ``token`` (409 while another one runs)."""
        job_id = uuid4()
        with self._store.transaction() as tx:
            row = tx.start_job(job_id, STALE_JOB_SECONDS)
            if row is None:
                running = tx.running_job()
                raise ReindexAlreadyRunning(running["id"] if running else job_id)
        self._launch(
            ReindexRun(
                job_id=job_id,
                generation=row["generation"],
                start_change=row["start_change"],
                token=token,
            )
        )
        return _job(row)

    def job(self, job_id: UUID) -> ReindexJob:
        """A job as it stands now."""
        with self._store.transaction() as tx:
            row = tx.find_job(job_id, STALE_JOB_SECONDS)
        if row is None:
            raise ReindexJobNotFound(job_id)
        if row["abandoned"]:
            row = {**row, "status": "failed", "error": ABANDONED}
        return _job(row)


def _text_query(tx: SearchTransaction, q: str | None) -> TextQuery | None:
    """What ``q`` searches for; None when it has no word (a filtered listing)."""
    if q is None or not q.strip():
        return None
    terms = tx.query_terms(q)
    if not terms:
        return None
    close = tx.close_words({term: allowed_typos(term) for term in terms})
    return TextQuery(
        terms=tuple(TermMatch(term, tuple(close.get(term, ()))) for term in terms),
        email=email_in(q),
        phone_digits=phone_digits_in(q),
    )


def _fingerprint(query: SearchQuery) -> str:
    return query_fingerprint(query.model_dump(mode="json", exclude={"cursor", "limit", "sort"}))


def _position(sort: str, row: Row) -> Position:
    if sort == "relevance":
        return Position(row["customer_id"], created_at=row["created_at"], score=row["score"])
    if sort == "name":
        return Position(row["customer_id"], name_key=row["name_key"])
    return Position(row["customer_id"], created_at=row["created_at"])


def marked_html(headline: str | None) -> str | None:
    """A headline as HTML (text escaped, matches in ``<mark>``); None if nothing matched."""
    if headline is None or MARK_START not in headline:
        return None
    escaped = html.escape(headline, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def _hit(row: Row, *, scored: bool) -> Hit:
    return Hit(
        id=row["customer_id"],
        name=row["name"],
        email=row["email"],
        phone=row["phone"],
        company=row["company"],
        country=row["country"],
        city=row["city"],
        segment=row["segment"],
        status=row["status"],
        tags=row["tags"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        score=row["score"] if scored else None,
        highlights=Highlights(
            name=marked_html(row["name_highlight"]),
            company=marked_html(row["company_highlight"]),
            notes=marked_html(row["notes_highlight"]),
        ),
    )


def _facets(rows: list[Row]) -> tuple[int, Facets]:
    values: dict[str, list[FacetValue]] = {facet: [] for facet in FACETS}
    total = 0
    for row in rows:
        if row["facet"] == "total":
            total = int(row["count"])
        else:
            values[row["facet"]].append(FacetValue(value=row["value"], count=int(row["count"])))
    for facet in FACETS:
        values[facet].sort(key=lambda entry: (-entry.count, entry.value))
    return total, Facets(**values)


def _job(row: dict[str, Any]) -> ReindexJob:
    return ReindexJob(
        id=row["id"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seen=row["seen"],
        upserted=row["upserted"],
        removed=row["removed"],
        error=row["error"],
    )
