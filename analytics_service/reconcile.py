"""Reconcile: bring the per-customer states back to the source of truth, then recount.

1. Read every live customer from the customer service (``source.py``), with no
   lock held: events keep flowing meanwhile.
2. Look up alone each customer held here as live but missing from the list: one
   created after the walk passed comes back as it is now; one deleted answers 404.
3. In one transaction holding the rollup writers' lock (so no consumer batch
   interleaves): apply the source's snapshots version-gated exactly like events
   (a snapshot older than an event already applied changes nothing), repair a
   row held at the source's version with other values, mark deleted each missing
   customer whose held version has not moved since step 2 (one version up, a
   lower bound of its delete), then recount every rollup from the per-customer
   rows and the note and churn logs, and write the rows that differed.

The report names every rollup row that differed (before/after). Signups and the
live counts come from the source; notes and churns per day come from this
service's own logs, which the source cannot rebuild (it keeps no status history
and no note list across customers): a note or churn whose event was lost stays
lost, except a churn the source still shows (a customer now ``churned`` is
counted as its snapshot applies, as a late newer event would be).

Note sentiment is neither read nor written here: the NLP service derives it and
the source cannot tell it. It is joined to the per-customer rows when read, so a
customer reconcile adds, moves or marks deleted takes its notes' sentiment along.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import Protocol
from uuid import UUID

from analytics_service.rollups import (
    DIMENSIONS,
    METRICS,
    NONE,
    Change,
    CustomerState,
    differences,
    plan_changes,
)
from analytics_service.schemas import CustomerChanges, Drift, ReconcileReport
from analytics_service.service import Clock
from analytics_service.store import AnalyticsStore
from shared.errors import ServiceUnavailable

ROLLUP_ORDER = {name: position for position, name in enumerate((*DIMENSIONS, *METRICS))}


class TooManyToReconcile(ServiceUnavailable):
    """More customers than a synchronous reconcile may walk (``RECONCILE_MAX_CUSTOMERS``)."""

    slug = "reconcile-too-large"


class CustomerDirectory(Protocol):
    """Where reconcile reads the truth: the customer service (``source.CustomerDirectory``)."""

    def live_customers(self) -> Iterable[Change]:
        """Every live customer, as a change made when it was last updated."""
        ...

    def find(self, customer_id: UUID) -> Change | None:
        """The live customer with this id, or None if there is none."""
        ...


def _same_values(held: CustomerState, source: CustomerState) -> bool:
    return replace(held, version=source.version) == source


def _key(value: str | date) -> str | None:
    if isinstance(value, date):
        return value.isoformat()
    return None if value == NONE else value


class Reconciler:
    """Recomputes the rollups from the customer service and reports what it corrected."""

    def __init__(self, store: AnalyticsStore, *, clock: Clock, max_customers: int) -> None:
        self._store = store
        self._clock = clock
        self._max_customers = max_customers

    def _too_many(self) -> TooManyToReconcile:
        return TooManyToReconcile(
            f"More than {self._max_customers} customers to reconcile at once; nothing was changed"
        )

    def _read_source(
        self, directory: CustomerDirectory
    ) -> tuple[dict[UUID, Change], dict[UUID, int]]:
        """The source's live customers, and each one held live here that it no longer has."""
        listed: dict[UUID, Change] = {}
        for change in directory.live_customers():
            listed[change.state.id] = change
            if len(listed) > self._max_customers:
                raise self._too_many()
        source_count = len(listed)
        with self._store.transaction() as tx:
            held_live = tx.live_versions()
        missing = {
            customer: version for customer, version in held_live.items() if customer not in listed
        }
        if source_count + len(missing) > self._max_customers:
            raise self._too_many()
        gone: dict[UUID, int] = {}
        for customer_id, version in missing.items():
            found = directory.find(customer_id)
            if found is None:
                gone[customer_id] = version
            else:
                listed[customer_id] = found
        return listed, gone

    def reconcile(self, directory: CustomerDirectory) -> ReconcileReport:
        """Reconcile with ``directory``; the report of what differed."""
        started_at = self._clock()
        listed, gone = self._read_source(directory)
        source_count = len(listed)
        with self._store.transaction() as tx:
            tx.lock_rollups()
            held = tx.customers()
            newer: list[Change] = []
            repairs: list[CustomerState] = []
            for change in listed.values():
                state = change.state
                known = held.get(state.id)
                if known is None or state.version > known.version:
                    newer.append(change)
                elif state.version == known.version and not _same_values(known, state):
                    repairs.append(state)
            deleted = 0
            for customer_id, version in gone.items():
                known = held.get(customer_id)
                # Moved since it was looked up: an event said more than the 404 did.
                if known is not None and not known.deleted and known.version == version:
                    tombstone = replace(known, version=version + 1, deleted=True)
                    newer.append(Change(tombstone, occurred_at=self._clock()))
                    deleted += 1
            plan = plan_changes(held, newer)
            tx.save_customers([*plan.states.values(), *repairs])
            tx.insert_churns(plan.churns)
            dimension_drift = differences(tx.dimension_counts(), tx.recount_dimensions())
            daily_drift = differences(tx.daily_counts(), tx.recount_daily())
            tx.set_counts(
                {bucket: after for bucket, (_, after) in dimension_drift.items()},
                {key: after for key, (_, after) in daily_drift.items()},
            )
        added = sum(1 for change in newer if change.state.id not in held)
        differed = [
            (rollup, _key(value), counts) for (rollup, value), counts in dimension_drift.items()
        ]
        differed += [(metric, _key(day), counts) for (metric, day), counts in daily_drift.items()]
        drift = [
            Drift.model_validate({"rollup": rollup, "key": key, "before": before, "after": after})
            for rollup, key, (before, after) in differed
        ]
        drift.sort(key=lambda entry: (ROLLUP_ORDER[entry.rollup], entry.key or ""))
        return ReconcileReport(
            started_at=started_at,
            finished_at=self._clock(),
            source_customers=source_count,
            customers=CustomerChanges(
                added=added,
                updated=len(newer) - added - deleted,
                repaired=len(repairs),
                deleted=deleted,
            ),
            drift=drift,
        )
