"""The consumer (``python -m customer_service.consumer``): note sentiment -> the notes.

It reads the service's own durable queue on the events exchange, bound to
``nlp.note_analysed`` only (``services.toml``), applies each batch in one
transaction (``note_sentiment.NoteSentiments``) and acks it after the commit,
under the shared worker runner (``shared.events.process``).
"""

from __future__ import annotations

from customer_service.note_sentiment import NoteSentiments
from customer_service.settings import Settings
from customer_service.store import CustomerStore
from shared.events.process import run_consumer

PACKAGE = "customer_service"


def main() -> None:
    """Run the consumer under the shared worker runner."""
    settings = Settings()
    run_consumer(
        settings,
        package=PACKAGE,
        database_url=settings.database_url,
        make_apply=lambda database: NoteSentiments(CustomerStore(database)).apply,
    )


if __name__ == "__main__":
    main()
