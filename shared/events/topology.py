"""Exchange and queue names, and their declarations, shared by the publishers and the consumers.

Every event goes through one durable topic exchange (``customer.events``; tests
use their own, ``EVENTS_EXCHANGE``): the customer changes (``customer.*``, from
the customer service's relay) and what the NLP service derives from them
(``nlp.*``). Each consuming service has three durable queues named after the
exchange, so a different exchange brings its own set:

    <exchange>.<package>          bound to the patterns its declaration lists (``events``
                                  of its ``consumer`` process); dead-letters to ...dead
    <exchange>.<package>.retry    a failed message waits here (per-message expiry), then
                                  dead-letters back to the main queue for another attempt
    <exchange>.<package>.dead     what failed validation or every attempt, kept for a human

Both sides declare them with the same arguments (RabbitMQ refuses a second
declaration that differs): the consumer when it starts, and every publisher
before it publishes, for every declared consumer, so no event is published
before the queues that must keep it exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.services import load_services

#: The process name (``services.toml``) that marks a service as consuming events.
CONSUMER_PROCESS = "consumer"
#: Every customer change.
ROUTING_PATTERN = "customer.#"


@dataclass(frozen=True)
class ConsumerQueues:
    """The queue names of one consuming service on one exchange, and what its queue takes."""

    exchange: str
    package: str
    patterns: tuple[str, ...] = (ROUTING_PATTERN,)

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

    def takes(self, routing_key: str) -> bool:
        """Whether an event published with ``routing_key`` reaches this queue."""
        return any(topic_matches(pattern, routing_key) for pattern in self.patterns)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""

    def match(words: list[str], keys: list[str]) -> bool:
        if not words:
            return not keys
        if words[0] == "#":
            return any(match(words[1:], keys[start:]) for start in range(len(keys) + 1))
        return bool(keys) and words[0] in ("*", keys[0]) and match(words[1:], keys[1:])

    return match(pattern.split("."), routing_key.split("."))


def consumer_queues(exchange: str) -> tuple[ConsumerQueues, ...]:
    """The queues of every declared consumer on ``exchange``."""
    return tuple(
        ConsumerQueues(exchange, service.package, process.events or (ROUTING_PATTERN,))
        for service in load_services()
        for process in service.processes
        if process.name == CONSUMER_PROCESS
    )


def queues_of(exchange: str, package: str) -> ConsumerQueues:
    """The queues of ``package``'s consumer on ``exchange``."""
    for queues in consumer_queues(exchange):
        if queues.package == package:
            return queues
    raise KeyError(f"{package} declares no consumer process")


def consuming_packages(routing_key: str | None = None) -> tuple[str, ...]:
    """Every package with a consumer; with ``routing_key``, those whose queue takes it."""
    return tuple(
        queues.package
        for queues in consumer_queues("-")
        if routing_key is None or queues.takes(routing_key)
    )


def declare_consumer_queues(channel: Any, queues: ConsumerQueues) -> None:
    """Declare the exchange and one service's three queues on a blocking pika channel."""
    channel.exchange_declare(queues.exchange, exchange_type="topic", durable=True)
    for name, arguments in queues.declarations():
        channel.queue_declare(name, durable=True, arguments=arguments)
    for pattern in queues.patterns:
        channel.queue_bind(queues.main, queues.exchange, routing_key=pattern)
