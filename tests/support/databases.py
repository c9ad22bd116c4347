"""A fresh, migrated PostgreSQL database per test run and service."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from shared.database import create_database, drop_database
from shared.migrations import upgrade

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")

#: A ``query`` fixture: ``query(sql: str, params: tuple = ()) -> list[dict]`` on a test database.
Query = Callable[..., list[dict[str, Any]]]


def database_url(service: str, worker: str = "main") -> str:
    """A unique database URL: ``clientele_test_<worker>_<random>_<service>``."""
    name = f"clientele_test_{worker}_{uuid.uuid4().hex[:8]}_{service}"
    return f"{POSTGRES}/{name}"


def migrated_database(package: str, worker: str = "main") -> str:
    """Create a unique database for ``package`` and migrate it to head."""
    url = database_url(package, worker)
    create_database(url)
    upgrade(package, url)
    return url


__all__ = ["POSTGRES", "Query", "database_url", "drop_database", "migrated_database"]
