"""PostgreSQL connections for a service's own database (psycopg2).

One :class:`Database` per process holds a small pool; connections open lazily,
so a pool created before gunicorn forks is never shared between workers.
:meth:`Database.transaction` is the unit of work: it commits when the block
ends and rolls back on any exception, so nothing is ever half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool
from psycopg2 import sql

from shared.errors import ServiceUnavailable

psycopg2.extras.register_uuid()  # type: ignore[no-untyped-call]

Cursor = psycopg2.extras.RealDictCursor


class Database:
    """A bounded pool of connections to one PostgreSQL database."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        connect_timeout: int = 3,
        statement_timeout_ms: int = 5000,
        application_name: str = "clientele",
    ) -> None:
        self.url = url
        self._pool_size = pool_size
        self._connect_kwargs: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "application_name": application_name,
            "options": f"-c statement_timeout={statement_timeout_ms} -c TimeZone=UTC",
        }
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        # psycopg2's pool raises when exhausted; the semaphore makes callers wait instead.
        self._slots = threading.BoundedSemaphore(pool_size)

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                pool = psycopg2.pool.ThreadedConnectionPool(
                    0, self._pool_size, self.url, **self._connect_kwargs
                )
                # psycopg2 keeps a returned connection only while fewer than ``minconn``
                # are idle, so minconn=0 closes every one: open none up front, keep them all.
                pool.minconn = self._pool_size
                self._pool = pool
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A pooled connection; dropped from the pool if it broke while in use."""
        if not self._slots.acquire(timeout=30):
            raise ServiceUnavailable("Database pool exhausted")
        try:
            pool = self._get_pool()
            try:
                conn = pool.getconn()
            except psycopg2.OperationalError as error:
                raise ServiceUnavailable(f"Database unavailable: {error}".strip()) from None
            broken = False
            try:
                yield conn
            except psycopg2.OperationalError:
                broken = True
                raise
            finally:
                pool.putconn(conn, close=broken or bool(conn.closed))
        finally:
            self._slots.release()

    @contextmanager
    def transaction(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """A cursor inside one transaction: commit on success, roll back on error."""
        try:
            with self.connection() as conn:
                try:
                    with conn.cursor(cursor_factory=Cursor) as cursor:
                        yield cursor
                    conn.commit()
                except BaseException:
                    # A connection the server dropped cannot roll back; trying raises
                    # InterfaceError and hides the OperationalError that says why.
                    if not conn.closed:
                        conn.rollback()
                    raise
        except psycopg2.OperationalError as error:
            raise ServiceUnavailable(f"Database unavailable: {error}".strip()) from None

    def ping(self) -> None:
        """Raise unless the database answers ``SELECT 1``."""
        with self.transaction() as cursor:
            cursor.execute("SELECT 1")

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None


def _maintenance_url(url: str) -> tuple[str, str]:
    params = psycopg2.extensions.parse_dsn(url)
    name = params.pop("dbname")
    params["dbname"] = "postgres"
    return psycopg2.extensions.make_dsn(**params), name


def create_database(url: str) -> bool:
    """Create the database ``url`` names unless it exists; True if created."""
    maintenance, name = _maintenance_url(url)
    conn = psycopg2.connect(maintenance, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def drop_database(url: str) -> None:
    """Drop the database ``url`` names, disconnecting its sessions first."""
    maintenance, name = _maintenance_url(url)
    conn = psycopg2.connect(maintenance, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()
