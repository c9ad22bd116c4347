"""The consumer (``python -m search_service.consumer``): customer events -> the search index.

It reads the service's own durable queue on the events exchange
(``shared.events.process``), applies each batch in one transaction
(``events.EventIndexer``) and acks it only after the commit. A message that is
not a valid event goes to the dead-letter queue; when the database is away the
batch goes back to the queue and the runner starts again after a back-off.
"""

from __future__ import annotations

from search_service.events import EventIndexer
from search_service.settings import Settings
from search_service.store import SearchStore
from shared.events.process import run_consumer

PACKAGE = "search_service"


def main() -> None:
    """Run the consumer under the shared worker runner."""
    settings = Settings()
    run_consumer(
        settings,
        package=PACKAGE,
        database_url=settings.database_url,
        make_apply=lambda database: EventIndexer(SearchStore(database)).apply,
    )


if __name__ == "__main__":
    main()
