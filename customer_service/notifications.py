"""Waking a worker when a transaction commits: a connection that LISTENs on one channel.

The relay listens for new outbox rows, the importer for queued jobs. Either
still looks on its own every few seconds, in case a notification was missed
while it was reconnecting.
"""

from __future__ import annotations

import select

import psycopg2
import psycopg2.extensions
from psycopg2 import sql


class ChannelListener:
    """A connection that LISTENs on ``channel``."""

    def __init__(self, url: str, connect_timeout: int, channel: str) -> None:
        self._connection = psycopg2.connect(url, connect_timeout=connect_timeout)
        self._connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with self._connection.cursor() as cursor:
            cursor.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a notification; True if one (or more) came."""
        readable, _, _ = select.select([self._connection], [], [], seconds)
        if not readable:
            return False
        self._connection.poll()
        woken = bool(self._connection.notifies)
        self._connection.notifies.clear()
        return woken

    def close(self) -> None:
        """Close the listening connection."""
        self._connection.close()
