"""Exchange and queue names, and their declarations, shared by the relay and the consumers.

Each consuming service has three durable queues named after the exchange, so a
different exchange (``EVENTS_EXCHANGE``, what tests use) brings its own set:

    <exchange>.<package>          bound to every customer event; dead-letters to ...dead
    <exchange>.<package>.retry    a failed message waits here (per-message expiry), then
                                  dead-letters back to the main queue for another attempt
    <exchange>.<package>.dead     what failed validation or every attempt, kept for a human

Both sides declare them with the same arguments (RabbitMQ refuses a second
declaration that differs): the consumer when it starts, and the relay before it
publishes, for every service whose declaration has a ``consumer`` process, so no
event is published before the queues that must keep it exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.services import load_services

#: The process name (``services.toml``) that marks a service as consuming customer events.
CONSUMER_PROCESS = "consumer"
ROUTING_PATTERN = "customer.#"


@dataclass(frozen=True)
class ConsumerQueues:
    """The queue names of one consuming service on one exchange."""

    exchange: str
    package: str

    @property
    def main(self) -> str:
        """Where events arrive."""
        return f"{self.exchange}.{self.package}"

    @property
    def retry(self) -> str:
        """Where a failed event waits before its next attempt."""
        return f"{self.main}.retry"

    @property
    def dead(self) -> str:
        """Where an event that cannot be applied stays for a human to look at."""
        return f"{self.main}.dead"

    def declarations(self) -> list[tuple[str, dict[str, Any]]]:
        """Each queue with its arguments, the main queue last (its dead-letter target first)."""
        return [
            (self.dead, {}),
            (self.retry, {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.main}),
            (self.main, {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dead}),
        ]


def consuming_packages() -> tuple[str, ...]:
    """Every service package that declares a ``consumer`` process."""
    return tuple(
        service.package
        for service in load_services()
        if any(process.name == CONSUMER_PROCESS for process in service.processes)
    )


def declare_consumer_queues(channel: Any, queues: ConsumerQueues) -> None:
    """Declare the exchange and one service's three queues on a blocking pika channel."""
    channel.exchange_declare(queues.exchange, exchange_type="topic", durable=True)
    for name, arguments in queues.declarations():
        channel.queue_declare(name, durable=True, arguments=arguments)
    channel.queue_bind(queues.main, queues.exchange, routing_key=ROUTING_PATTERN)
