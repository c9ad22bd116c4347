"""How a customer's change moves the rollups: pure functions over states, no SQL, no Flask.

A :class:`CustomerState` is what the rollups count a customer by. A live
customer adds one to its status, its country, its segment and each of its tags
(:func:`buckets`); a deleted one adds nothing. Applying a newer state takes the
old state's buckets away and adds the new state's, so the sum of every applied
change is always the recount of the final states, whatever order the changes
came in: a change whose version is not newer than the one held changes nothing.

Three daily metrics ride along:

* a **signup** is counted when a customer is first known, on its ``created_at``
  day (UTC), from whichever of its events comes first, so a late or lost
  ``customer.created`` still counts it once;
* a **churn** is counted when an applied change moves a customer into
  ``churned`` from another status, or when the first state known of it is
  ``churned``, on the change's day; a transition skipped because a newer
  version came first is not counted (see the README);
* a **note** is counted once per note id, on the note's ``created_at`` day
  (deduplicated here within a batch and by the store across batches).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar
from uuid import UUID

Key = TypeVar("Key")

#: The bucket value of "no country", "no segment" and "no tag": no real value is empty.
NONE = ""
DIMENSIONS = ("status", "country", "segment", "tag")
METRICS = ("signups", "churns", "notes")
STATUSES = ("lead", "active", "churned")
CHURNED = "churned"

#: (dimension, value), e.g. ("country", "FR").
Bucket = tuple[str, str]
#: (metric, day), e.g. ("signups", date(2026, 1, 31)).
DailyKey = tuple[str, date]


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware datetime."""
    return moment.astimezone(UTC).date()


@dataclass(frozen=True)
class CustomerState:
    """One customer as the rollups see it, at one version."""

    id: UUID
    version: int
    status: str
    country: str | None
    segment: str | None
    #: Sorted and without repeats, so two equal states compare equal.
    tags: tuple[str, ...]
    deleted: bool
    created_at: datetime

    @classmethod
    def of(
        cls,
        *,
        id: UUID,
        version: int,
        status: str,
        country: str | None,
        segment: str | None,
        tags: Sequence[str],
        deleted: bool,
        created_at: datetime,
    ) -> CustomerState:
        """A state with its tags normalised (sorted, each once)."""
        return cls(
            id, version, status, country, segment, tuple(sorted(set(tags))), deleted, created_at
        )


def buckets(state: CustomerState | None) -> list[Bucket]:
    """Every bucket ``state`` adds one to: none when deleted (or unknown)."""
    if state is None or state.deleted:
        return []
    return [
        ("status", state.status),
        ("country", state.country or NONE),
        ("segment", state.segment or NONE),
        *(("tag", tag) for tag in state.tags or (NONE,)),
    ]


@dataclass(frozen=True)
class NoteSeen:
    """A note an event carried: counted once per id."""

    id: UUID
    customer_id: UUID
    created_at: datetime


@dataclass(frozen=True)
class Churn:
    """An applied change into ``churned``."""

    customer_id: UUID
    version: int
    occurred_at: datetime


@dataclass(frozen=True)
class Change:
    """A snapshot to apply: the state it carries, when it happened, and the note it adds."""

    state: CustomerState
    occurred_at: datetime
    note: NoteSeen | None = None


@dataclass
class Plan:
    """What a sequence of changes does to the held states and to the rollups."""

    #: The new state of every customer that changed.
    states: dict[UUID, CustomerState] = field(default_factory=dict)
    dimension_deltas: Counter[Bucket] = field(default_factory=Counter)
    daily_deltas: Counter[DailyKey] = field(default_factory=Counter)
    churns: list[Churn] = field(default_factory=list)
    #: Notes not seen earlier in these changes (the store drops those it already has).
    notes: list[NoteSeen] = field(default_factory=list)
    #: Index of each change whose state was applied.
    applied: set[int] = field(default_factory=set)
    #: Note id -> index of the change that carried it first.
    note_changes: dict[UUID, int] = field(default_factory=dict)


def plan_changes(held: Mapping[UUID, CustomerState], changes: Sequence[Change]) -> Plan:
    """Apply ``changes`` to ``held`` in version order per customer; the states and deltas.

    Within one batch the changes are taken by customer and version, as if they had
    arrived in order; one not newer than the state held by then is skipped.
    """
    plan = Plan()
    current = dict(held)
    order = sorted(
        range(len(changes)), key=lambda i: (changes[i].state.id, changes[i].state.version)
    )
    for index in order:
        change = changes[index]
        note = change.note
        if note is not None and note.id not in plan.note_changes:
            plan.note_changes[note.id] = index
            plan.notes.append(note)
        new = change.state
        old = current.get(new.id)
        if old is not None and new.version <= old.version:
            continue
        plan.dimension_deltas.subtract(buckets(old))
        plan.dimension_deltas.update(buckets(new))
        if old is None:
            plan.daily_deltas[("signups", utc_day(new.created_at))] += 1
        if new.status == CHURNED and (old is None or old.status != CHURNED):
            plan.churns.append(Churn(new.id, new.version, change.occurred_at))
        current[new.id] = new
        plan.states[new.id] = new
        plan.applied.add(index)
    return plan


def differences(before: Mapping[Key, int], after: Mapping[Key, int]) -> dict[Key, tuple[int, int]]:
    """Each key whose count differs between two tallies (missing counts 0): (before, after)."""
    return {
        key: (before.get(key, 0), after.get(key, 0))
        for key in set(before) | set(after)
        if before.get(key, 0) != after.get(key, 0)
    }
