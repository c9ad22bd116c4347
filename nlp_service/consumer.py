"""The consumer (``python -m nlp_service.consumer``): customer events -> NLP events.

It loads the model once (``/readyz`` says "loading the model" meanwhile), then
reads the service's own durable queue on the events exchange
(``shared.events.consumer``), derives a batch's profile embeddings and note
sentiment in one forward pass (``enrich.Enricher``), publishes them on the same
exchange with publisher confirms, and acks the batch only after the broker has
confirmed every derived event. When the broker is away the batch goes back to
the queue and the runner starts again after a back-off, keeping the model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nlp_service.app import engine_options
from nlp_service.engine import Engine
from nlp_service.enrich import Enricher
from nlp_service.service import NlpService
from nlp_service.settings import Settings
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event
from shared.events.process import BROKER_AWAY
from shared.events.publisher import ConfirmingPublisher, Outgoing, PublishFailed, declare_topology
from shared.events.topology import queues_of
from shared.worker import WorkerState, run_worker

logger = logging.getLogger(__name__)
PACKAGE = "nlp_service"
#: Not the event's fault: the batch goes back to the queue, the runner tries again later.
TRANSIENT: tuple[type[BaseException], ...] = (PublishFailed, *BROKER_AWAY)


class EnrichingConsumer:
    """The consumer's work, with the model loaded once for every (re)start."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._nlp: NlpService | None = None

    def _service(self, state: WorkerState) -> NlpService:
        if self._nlp is None:
            state.not_ready("loading the model")
            settings = self._settings
            self._nlp = NlpService.from_settings(Engine(engine_options(settings)).load(), settings)
        return self._nlp

    def __call__(self, state: WorkerState) -> None:
        """Consume until ``state.stopping`` (a transient error ends it early)."""
        settings = self._settings
        nlp = self._service(state)
        # The NLP events' queues exist before the first one is published.
        declare_topology(settings.amqp_url, settings.events_exchange)
        publisher = ConfirmingPublisher(
            settings.amqp_url, settings.events_exchange, connection_name=f"{PACKAGE}.publisher"
        )

        def publish(events: Sequence[Event]) -> None:
            publisher.publish([Outgoing(event.type, event.to_json(), event.id) for event in events])

        try:
            consumer = EventConsumer(
                settings.amqp_url,
                queues_of(settings.events_exchange, PACKAGE),
                Enricher(nlp, publish).apply,
                transient=TRANSIENT,
            )
            logger.info("deriving NLP events from exchange %s", settings.events_exchange)
            consumer.run(state.stopping, on_ready=state.ready, on_tick=state.beat)
        finally:
            publisher.close()


def main() -> None:
    """Run the consumer under the shared worker runner."""
    settings = Settings()
    run_worker(
        EnrichingConsumer(settings),
        service=f"{PACKAGE}.consumer",
        metrics_bind=settings.metrics_bind,
        transient=TRANSIENT,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
