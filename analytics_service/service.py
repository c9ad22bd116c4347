"""The analytics use cases: plain Python over :class:`AnalyticsStore`, no HTTP, no SQL.

Reading (summary, time series, breakdown, note sentiment) and applying a batch
of changes and note sentiments are each one transaction. How a change moves the
counts is ``rollups.py``, how notes are summed up ``sentiment.py``; this module
runs them against the held states and writes or shapes what they say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from analytics_service.periods import periods
from analytics_service.rollups import NONE, STATUSES, Change, DailyKey, plan_changes, utc_day
from analytics_service.schemas import (
    MAX_SERIES_DAYS,
    SUMMARY_DAYS,
    Breakdown,
    BreakdownBucket,
    BreakdownQuery,
    LabelBreakdown,
    LabelFigures,
    Sentiment,
    SentimentFigures,
    SentimentGroup,
    SentimentQuery,
    SeriesBucket,
    StatusCounts,
    Summary,
    Timeseries,
    TimeseriesQuery,
    Window,
)
from analytics_service.sentiment import LABELS, NoteFilter, NoteSentiment, Tally
from analytics_service.store import AnalyticsStore
from shared.errors import ValidationFailed

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def _days_before(day: date, days: int) -> date:
    """``day`` minus ``days`` days, or the first date there is."""
    try:
        return day - timedelta(days=days)
    except OverflowError:
        return date.min


def _labels(tally: Tally) -> LabelBreakdown:
    return LabelBreakdown(
        **{
            label: LabelFigures(count=tally.count(label), share=tally.share(label))
            for label in LABELS
        }
    )


def _figures(tally: Tally) -> SentimentFigures:
    return SentimentFigures(notes=tally.notes, labels=_labels(tally), mean=tally.mean)


def _first_of_each_note(sentiments: Iterable[NoteSentiment]) -> list[NoteSentiment]:
    """The first sentiment of each note in ``sentiments``, by note id.

    In note id order, so two batches holding the same notes insert them in the
    same order and never wait on each other's rows in a cycle.
    """
    first: dict[UUID, NoteSentiment] = {}
    for sentiment in sentiments:
        first.setdefault(sentiment.note_id, sentiment)
    return [first[note_id] for note_id in sorted(first)]


class AnalyticsService:
    """Serve the rollups, and keep them from the changes customer events carry."""

    def __init__(self, store: AnalyticsStore, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def today(self) -> date:
        """Today in UTC, by this service's clock."""
        return utc_day(self._clock())

    def summary(self) -> Summary:
        """Live customers by status, and the last 30 days' signups, churns and notes."""
        as_of = self._clock()
        last = utc_day(as_of)
        first = _days_before(last, SUMMARY_DAYS - 1)
        with self._store.transaction() as tx:
            statuses = tx.dimension_counts("status")
            totals = tx.daily_totals(first, last)
        by_status = {status: statuses.get(("status", status), 0) for status in STATUSES}
        return Summary(
            live_customers=sum(count for count in statuses.values()),
            by_status=StatusCounts(**by_status),
            last_30_days=Window(
                first=first,
                last=last,
                signups=totals.get("signups", 0),
                churns=totals.get("churns", 0),
                notes=totals.get("notes", 0),
            ),
            as_of=as_of,
        )

    def timeseries(self, query: TimeseriesQuery) -> Timeseries:
        """One metric per day, week or month over a bounded range, every period present."""
        last = query.last or self.today()
        first = query.first or _days_before(last, SUMMARY_DAYS - 1)
        if first > last:
            raise ValidationFailed(
                [{"field": "from", "message": "must not be after 'to'", "code": "range"}]
            )
        if (last - first).days + 1 > MAX_SERIES_DAYS:
            raise ValidationFailed(
                [
                    {
                        "field": "from",
                        "message": f"the range may cover at most {MAX_SERIES_DAYS} days",
                        "code": "range",
                    }
                ]
            )
        with self._store.transaction() as tx:
            rows = tx.daily_counts(query.metric, first, last)
        daily = {day: count for (_, day), count in rows.items()}
        buckets = [
            SeriesBucket(start=period.start, end=period.end, count=period.count)
            for period in periods(first, last, query.interval, daily)
        ]
        return Timeseries(
            metric=query.metric,
            interval=query.interval,
            first=first,
            last=last,
            total=sum(bucket.count for bucket in buckets),
            buckets=buckets,
        )

    def breakdown(self, query: BreakdownQuery) -> Breakdown:
        """Live customers by one dimension, among those matching every filter given."""
        filters = query.filters()
        with self._store.transaction() as tx:
            if filters:
                found, total = tx.filtered_buckets(query.dimension, filters, query.limit)
            else:
                found = tx.top_buckets(query.dimension, query.limit)
                total = sum(tx.dimension_counts("status").values())
        return Breakdown(
            dimension=query.dimension,
            filters=filters,
            total=total,
            buckets=[
                BreakdownBucket(value=None if value == NONE else value, count=count)
                for value, count in found
            ],
        )

    def sentiment(self, query: SentimentQuery) -> Sentiment:
        """Note sentiment of live customers, overall and per segment or per customer."""
        notes = NoteFilter.of(
            first=query.first,
            last=query.last,
            segment=query.segment,
            customer_id=query.customer_id,
        )
        with self._store.transaction() as tx:
            tx.read_one_snapshot()
            counted, awaiting = tx.sentiment_totals(notes)
            groups = tx.sentiment_tallies(query.by, notes, query.sort, query.limit)
        return Sentiment(
            by=query.by,
            filters=query.filters(),
            first=query.first,
            last=query.last,
            overall=_figures(counted),
            notes_awaiting_customer=awaiting.notes,
            groups=[
                SentimentGroup(
                    value=None if value is None else str(value),
                    notes=tally.notes,
                    labels=_labels(tally),
                    mean=tally.mean,
                )
                for value, tally in groups
            ],
        )

    def apply(self, changes: Sequence[Change], sentiments: Sequence[NoteSentiment] = ()) -> int:
        """Apply a batch in one transaction; how many changes and sentiments changed anything.

        A change applies only if its version is newer than the one held for its
        customer (duplicates and older events change nothing); its note counts only
        if that note id was never counted. A note's sentiment is kept only if that
        note has none yet, whether its customer is known or not.
        """
        if not changes and not sentiments:
            return 0
        with self._store.transaction() as tx:
            if changes:
                tx.lock_rollups()
            # Sentiments move no count: alone, they need no rollup lock.
            applied = len(tx.insert_note_sentiments(_first_of_each_note(sentiments)))
            if changes:
                held = tx.customers({change.state.id for change in changes})
                plan = plan_changes(held, changes)
                tx.save_customers(list(plan.states.values()))
                churns = tx.insert_churns(plan.churns)
                notes = tx.insert_notes(plan.notes)
                daily: Counter[DailyKey] = Counter(plan.daily_deltas)
                daily.update(("churns", utc_day(churn.occurred_at)) for churn in churns)
                daily.update(("notes", utc_day(note.created_at)) for note in notes)
                tx.add_to_counts(plan.dimension_deltas, daily)
                applied += len(plan.applied | {plan.note_changes[note.id] for note in notes})
        return applied
