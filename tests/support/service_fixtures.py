"""What each service's fixtures build alike: its app on a test database, and SQL on it.

A service's ``conftest.py`` keeps its own fixtures (which database, which
settings, which discovery) and builds them with these: ``with serving(create_app(...))
as app: yield app`` closes the app's pool after, and ``with sql_on(url) as query:
yield query`` gives a test direct SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extras
from flask import Flask

from shared.web.resource_app import DATABASE_EXTENSION
from tests.support.databases import Query


@contextmanager
def serving(app: Flask) -> Iterator[Flask]:
    """``app`` for the length of the block; its database pool closed after."""
    try:
        yield app
    finally:
        app.extensions[DATABASE_EXTENSION].close()


@contextmanager
def sql_on(database_url: str) -> Iterator[Query]:
    """Run SQL against the database directly (autocommit); the rows as dicts."""
    connection = psycopg2.connect(database_url)
    connection.autocommit = True

    def run(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(sql, params)
            return [dict(row) for row in cursor.fetchall()] if cursor.description else []

    try:
        yield run
    finally:
        connection.close()
