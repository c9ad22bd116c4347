"""Note sentiment as the NLP service scores it, and how a set of notes is summed up.

Each ``nlp.note_analysed`` event gives one note a label (positive, negative,
neutral) and a confidence in it (``score``, 0 to 1). The note is kept once per
note id (:class:`NoteSentiment`), with the id of its customer; a set of notes
is summed up as a :class:`Tally`:

* the count and the share of each label;
* a **mean sentiment** in [-1, 1]: each note counts ``+score`` when positive,
  ``-score`` when negative and 0 when neutral, averaged over the notes, so a
  confident complaint weighs more than a hesitant one and neutral notes pull
  the mean towards 0. No notes, no mean.

Which customer (and so which segment) a note counts for is decided when it is
read, from the customer's last applied state: see ``AnalyticsTransaction.sentiment_tallies``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

POSITIVE = "positive"
NEGATIVE = "negative"
NEUTRAL = "neutral"
LABELS = (POSITIVE, NEGATIVE, NEUTRAL)
#: Shares and means are rounded to this many decimals (scores come with four).
DECIMALS = 4


@dataclass(frozen=True)
class NoteSentiment:
    """One note's sentiment, kept once per note id."""

    note_id: UUID
    customer_id: UUID
    #: When the note was written: the day the date filters compare.
    created_at: datetime
    label: str
    #: The confidence in ``label``, from 0 to 1.
    score: float
    method: str
    model_name: str
    model_version: str


@dataclass(frozen=True)
class Tally:
    """A set of notes summed up: how many of each label, and the sum of signed scores."""

    positive: int = 0
    negative: int = 0
    neutral: int = 0
    #: Sum over the notes of +score (positive), -score (negative) or 0 (neutral).
    signed: float = 0.0

    @property
    def notes(self) -> int:
        """How many notes."""
        return self.positive + self.negative + self.neutral

    def count(self, label: str) -> int:
        """How many notes have ``label``."""
        return {POSITIVE: self.positive, NEGATIVE: self.negative, NEUTRAL: self.neutral}[label]

    def share(self, label: str) -> float:
        """The fraction of the notes that have ``label`` (0 when there are none)."""
        return round(self.count(label) / self.notes, DECIMALS) if self.notes else 0.0

    @property
    def mean(self) -> float | None:
        """The mean signed score, in [-1, 1]; None without notes."""
        if not self.notes:
            return None
        # Rounding a sum of floats may step a hair past the bounds.
        return max(-1.0, min(1.0, round(self.signed / self.notes, DECIMALS)))


@dataclass(frozen=True)
class NoteFilter:
    """Which notes a sentiment read takes: written in a span of time, of whom."""

    #: Notes written at or after this moment (None: since ever).
    since: datetime | None = None
    #: Notes written before this moment (None: until now).
    until: datetime | None = None
    #: Notes of customers in this segment now.
    segment: str | None = None
    #: Notes of this customer.
    customer_id: UUID | None = None

    @classmethod
    def of(
        cls,
        *,
        first: date | None,
        last: date | None,
        segment: str | None = None,
        customer_id: UUID | None = None,
    ) -> NoteFilter:
        """The notes written from the UTC day ``first`` to the UTC day ``last``, both included."""
        return cls(
            since=_day_start(first) if first is not None else None,
            until=_day_after(last) if last is not None else None,
            segment=segment,
            customer_id=customer_id,
        )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _day_after(day: date) -> datetime | None:
    """The start of the day after ``day``; None past 9999-12-31 (no bound at all)."""
    try:
        return _day_start(day + timedelta(days=1))
    except OverflowError:
        return None
