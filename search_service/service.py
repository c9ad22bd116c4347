"""The search use cases: plain Python over :class:`SearchStore`, no HTTP, no SQL.

A text search turns ``q`` into terms (the index's own tokeniser, so both sides fold
accents and case alike), looks up the close words each term's typo allowance
admits, then asks the store for one page of hits, the facets and the total, in
one read transaction. A semantic search has ``q`` embedded (``embedder.py``, the
NLP service), takes the customers whose vectors are close to it
(``semantic.py``) and asks the store for the page and facets over those; a
hybrid search blends them with the full-text hits (``fusion.py``). Starting a
reindex records the job and hands it to a launcher (a thread in the web process:
``reindex.py``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from search_service.cursors import Position, decode_cursor, encode_cursor, query_fingerprint
from search_service.embedder import NlpServiceUnavailable, QueryVector
from search_service.fusion import reciprocal_rank_fusion
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
from search_service.semantic import VectorSearch
from search_service.store import (
    ABANDONED,
    MARK_END,
    MARK_START,
    Row,
    SearchStore,
    SearchTransaction,
)
from search_service.vectors import Matches
from shared.errors import Conflict, NotFound
from shared.text import BIDI_CONTROLS, shown

#: Embeds a query text with the caller's token (``embedder.QueryEmbedder.embed``).
Embed = Callable[[str, str | None], QueryVector]

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


class SemanticSearch:
    """What semantic and hybrid search need: the query's embedding, the vectors close to it."""

    def __init__(self, embed: Embed, vectors: VectorSearch) -> None:
        self.embed = embed
        self.vectors = vectors


class SearchService:
    """Search the index, and suggest names and companies as the user types."""

    def __init__(self, store: SearchStore, semantic: SemanticSearch | None = None) -> None:
        self._store = store
        self._semantic = semantic
        self._max_matches = semantic.vectors.max_matches if semantic else 0

    def search(self, query: SearchQuery, token: str | None = None) -> SearchPage:
        """One page of hits for ``query``, with the facets and total of all of them.

        ``token`` is the caller's, with which a semantic or hybrid query is embedded.
        """
        typed = _shown_text(query.q)
        fingerprint = _fingerprint(query)
        matches: Matches | None = None
        if query.mode != "text" and typed:
            # The cursor is checked before the NLP service is asked anything.
            sort, after = _page_start(query, fingerprint, scored=True)
            matches = self._semantic_matches(typed, token)
        with self._store.transaction() as tx:
            text = _text_query(tx, query.q) if query.mode != "semantic" else None
            chosen = matches
            if matches is None:
                sort, after = _page_start(query, fingerprint, scored=text is not None)
            elif query.mode == "hybrid":
                text_hits = []
                if text is not None:
                    text_hits = tx.text_hits(query, text, typed, self._max_matches)
                chosen = reciprocal_rank_fusion(text_hits, tx.keep_matches(query, matches))
            if chosen is None:
                rows = tx.search(query, text, sort, after)
                facet_rows = tx.facets(query, text)
            else:
                rows, facet_rows = tx.chosen_page(query, text, sort, after, chosen)
        scored = text is not None or chosen is not None
        items = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            next_cursor = encode_cursor(sort, fingerprint, _position(sort, items[-1]))
        total, facets = _facets(facet_rows)
        return SearchPage(
            items=[_hit(row, scored=scored) for row in items],
            total=total,
            facets=facets,
            next_cursor=next_cursor,
        )

    def _semantic_matches(self, typed: str, token: str | None) -> Matches:
        """The customers close to ``typed`` in meaning."""
        if self._semantic is None:
            raise NlpServiceUnavailable("is not configured in this process")
        return self._semantic.vectors.matches(self._semantic.embed(typed, token))

    def suggest(self, query: SuggestQuery) -> SuggestionList:
        """Names and companies for a search box: whole-text prefix first, then a word's."""
        typed = " ".join(query.q.split())
        if not typed:
            return SuggestionList(items=[])
        with self._store.transaction() as tx:
            rows = tx.suggest(tx.fold(typed), query.limit)
        ordered = sorted(
            rows, key=lambda row: (row["tier"], row["position"], row["key"], row["field"])
        )
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
    email = email_in(q)
    if email is not None:
        # Matched by the customers' emails: split into words it would read every
        # customer of a common domain.
        return TextQuery(terms=(), email=email)
    terms = tx.query_terms(q)
    if not terms:
        return None
    close = tx.close_words({term: allowed_typos(term) for term in terms})
    starting = tx.prefix_words(terms)
    return TextQuery(
        terms=tuple(TermMatch(term, tuple(close.get(term, ())), starting[term]) for term in terms),
        phone_digits=phone_digits_in(q),
    )


def _shown_text(q: str | None) -> str:
    """``q`` as it reads: trimmed, without bidi controls; empty when nothing in it shows
    (only spaces and invisible format characters), as the NLP service refuses to embed that."""
    text = "".join(character for character in q or "" if character not in BIDI_CONTROLS).strip()
    return text if any(shown(character) for character in text) else ""


def _page_start(
    query: SearchQuery, fingerprint: str, *, scored: bool
) -> tuple[str, Position | None]:
    """The sort of a search (``relevance`` by default when it is scored) and where its page
    starts; :class:`InvalidCursor` for a cursor made for another search."""
    sort = query.sort or ("relevance" if scored else "-created")
    return sort, decode_cursor(query.cursor, sort, fingerprint) if query.cursor else None


def _fingerprint(query: SearchQuery) -> str:
    # A text search's fingerprint leaves the mode out, as it did before modes existed.
    ignored = {"cursor", "limit", "sort"} | ({"mode"} if query.mode == "text" else set())
    return query_fingerprint(query.model_dump(mode="json", exclude=ignored))


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
