"""The event consumer (``python -m analytics_service.consumer``): events -> rollups, sentiment.

It reads this service's own durable queue on the events exchange
(``shared.events.process``), bound to the customer events and to
``nlp.note_analysed`` (``services.toml``), and applies each batch of events in
one transaction of the analytics database (``AnalyticsService.apply``), acking
the batch only after that transaction has committed. Applying is idempotent and
order-proof, so a redelivered or reordered event changes nothing it should not.
"""

from __future__ import annotations

from collections.abc import Sequence

from analytics_service.events import batch_of
from analytics_service.service import AnalyticsService, utc_now
from analytics_service.settings import Settings
from analytics_service.store import AnalyticsStore
from shared.database import Database
from shared.events.consumer import Apply
from shared.events.envelope import Event
from shared.events.process import run_consumer

PACKAGE = "analytics_service"


def applier(database: Database) -> Apply:
    """Apply a batch of events (changes and note sentiments) in one transaction of ``database``."""
    service = AnalyticsService(AnalyticsStore(database), clock=utc_now)

    def apply(events: Sequence[Event]) -> int:
        batch = batch_of(events)
        return service.apply(batch.changes, batch.sentiments)

    return apply


def main() -> None:
    """Run the consumer under the shared worker runner."""
    settings = Settings()
    run_consumer(settings, package=PACKAGE, database_url=settings.database_url, make_apply=applier)


if __name__ == "__main__":
    main()
