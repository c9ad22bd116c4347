"""A stopping worker ends its idle kept-alive connections at once, however the stop lands."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from shared.gunicorn_worker import IdleConnections


@pytest.fixture
def idle_socket() -> Iterator[socket.socket]:
    """One end of a connection nobody writes to."""
    ours, theirs = socket.socketpair()
    yield ours
    ours.close()
    theirs.close()


def test_a_wait_ends_at_once_when_the_worker_stops(idle_socket: socket.socket) -> None:
    idle = IdleConnections()
    waiter = gevent.spawn(idle.wait, idle_socket.fileno(), 30.0)
    gevent.sleep(0.05)
    assert not waiter.dead  # waiting for a byte that does not come

    idle.close_all()
    waiter.join(timeout=2)

    assert waiter.dead
    assert isinstance(waiter.exception, StopIteration)


def test_a_wait_begun_after_the_stop_ends_at_once(idle_socket: socket.socket) -> None:
    idle = IdleConnections()
    idle.close_all()

    waiter = gevent.spawn(idle.wait, idle_socket.fileno(), 30.0)
    waiter.join(timeout=2)

    assert isinstance(waiter.exception, StopIteration)


def test_a_stop_landing_between_the_check_and_the_wait_still_ends_it(
    idle_socket: socket.socket,
) -> None:
    """A signal handler runs inside whichever greenlet is running; here, the waiting one."""
    idle = IdleConnections()

    class StopLandsOnAdd(set[Any]):
        def add(self, element: Any) -> None:
            idle.close_all()  # the SIGTERM handler, after the check, before the wait
            super().add(element)

    idle._waiting = StopLandsOnAdd()  # type: ignore[assignment]
    waiter = gevent.spawn(idle.wait, idle_socket.fileno(), 30.0)
    waiter.join(timeout=2)

    assert waiter.dead, "the wait outlived the stop"
    assert isinstance(waiter.exception, StopIteration)


def test_a_byte_arriving_ends_the_wait_without_a_stop(idle_socket: socket.socket) -> None:
    idle = IdleConnections()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        waiter = gevent.spawn(idle.wait, ours.fileno(), 30.0)
        gevent.sleep(0.05)
        theirs.send(b"G")
        waiter.join(timeout=2)

    assert waiter.successful()
    assert not idle.stopping
