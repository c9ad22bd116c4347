"""Publishing a batch of events with publisher confirms, pipelined.

pika's ``BlockingChannel`` waits for each confirm before the next publish,
which holds a relay to under a thousand persistent messages a second here. This
publisher drives pika's ``SelectConnection`` instead: it sends a whole batch,
then runs the connection's I/O loop until the broker has confirmed every
message (``multiple`` acks included), nacked one, returned one as unroutable,
or the time is up. The batch counts as published only if every message was
acked; otherwise :class:`PublishFailed` is raised, the connection is dropped,
and the caller publishes the same rows again later (consumers are idempotent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
import pika.spec
from pika.adapters.select_connection import SelectConnection

from shared.events.topology import consumer_queues, declare_consumer_queues

logger = logging.getLogger(__name__)
PERSISTENT = pika.DeliveryMode.Persistent


class PublishFailed(Exception):
    """The broker did not confirm every message of a batch (nack, return, closed, timeout)."""


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: routing key, body and the event id as ``message_id``."""

    routing_key: str
    body: bytes
    message_id: str


def declare_topology(url: str, exchange: str, consumers: Iterable[str] | None = None) -> None:
    """Declare the exchange and the consuming services' queues, so nothing is unroutable.

    ``consumers`` names the packages (every declared consumer when None).
    """
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        for queues in consumer_queues(exchange):
            if consumers is None or queues.package in consumers:
                declare_consumer_queues(channel, queues)
    finally:
        connection.close()


class ConfirmingPublisher:
    """One connection to the broker, publishing batches that the broker confirms."""

    def __init__(
        self,
        url: str,
        exchange: str,
        *,
        confirm_timeout_seconds: float = 10.0,
        connection_name: str = "clientele-publisher",
    ) -> None:
        self._parameters = pika.URLParameters(url)
        self._parameters.client_properties = {"connection_name": connection_name}
        self._exchange = exchange
        self._timeout = confirm_timeout_seconds
        self._connection: SelectConnection | None = None
        self._channel: Any = None
        self._ready = False
        self._failure: str | None = None
        self._next_tag = 0
        self._unconfirmed: set[int] = set()

    # -- the I/O loop's callbacks -------------------------------------------------------

    def _stop_loop(self) -> None:
        if self._connection is not None:
            self._connection.ioloop.stop()

    def _fail(self, reason: str) -> None:
        self._failure = self._failure or reason
        self._stop_loop()

    def _on_connection_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_connection_error(self, _connection: Any, error: BaseException) -> None:
        self._fail(f"cannot connect to the broker: {error!r}")

    def _on_connection_closed(self, _connection: Any, reason: BaseException) -> None:
        self._ready = False
        self._fail(f"broker connection closed: {reason!r}")

    def _on_channel_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirming)

    def _on_confirming(self, _frame: Any) -> None:
        self._ready = True
        self._next_tag = 0
        self._stop_loop()

    def _on_channel_closed(self, _channel: Any, reason: BaseException) -> None:
        self._ready = False
        self._fail(f"broker channel closed: {reason!r}")

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        # mandatory=True: a message no queue took comes back before its ack.
        self._fail(f"event {properties.message_id} was unroutable on {self._exchange!r}")

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self._fail(f"the broker refused delivery tag {method.delivery_tag}")
            return
        if method.multiple:
            self._unconfirmed = {tag for tag in self._unconfirmed if tag > method.delivery_tag}
        else:
            self._unconfirmed.discard(method.delivery_tag)
        if not self._unconfirmed:
            self._stop_loop()

    # -- what callers use ---------------------------------------------------------------

    def _run_loop(self, seconds: float) -> None:
        assert self._connection is not None
        timer = self._connection.ioloop.call_later(seconds, lambda: self._fail("timed out"))
        self._connection.ioloop.start()
        self._connection.ioloop.remove_timeout(timer)

    def connect(self) -> None:
        """Open the connection and a confirming channel, unless already open."""
        if self._ready:
            return
        self.close()
        self._failure = None
        self._connection = SelectConnection(
            self._parameters,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_error,
            on_close_callback=self._on_connection_closed,
        )
        self._run_loop(self._timeout)
        if not self._ready:
            failure = self._failure or "not ready"
            self.close()
            raise PublishFailed(failure)

    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Publish every message and return once the broker has confirmed them all."""
        if not messages:
            return
        self.connect()
        self._failure = None
        started = time.monotonic()
        for message in messages:
            self._channel.basic_publish(
                self._exchange,
                message.routing_key,
                message.body,
                pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=PERSISTENT,
                    message_id=message.message_id,
                    type=message.routing_key,
                ),
                mandatory=True,
            )
            self._next_tag += 1
            self._unconfirmed.add(self._next_tag)
        self._run_loop(self._timeout)
        if self._failure or self._unconfirmed:
            failure = self._failure or f"{len(self._unconfirmed)} messages unconfirmed"
            self._unconfirmed.clear()
            self.close()
            raise PublishFailed(failure)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("published %d events in %.1f ms", len(messages), elapsed_ms)

    def close(self) -> None:
        """Close the connection (a no-op if none is open)."""
        connection, self._connection = self._connection, None
        self._ready = False
        self._channel = None
        if connection is None or connection.is_closed:
            return
        try:
            if not connection.is_closing:
                connection.close()
            # Let the close handshake finish; it stops the loop through _on_connection_closed.
            self._connection = connection
            self._run_loop(2.0)
        except pika.exceptions.AMQPError:
            logger.debug("broker connection was already gone")
        finally:
            self._connection = None
            self._ready = False
