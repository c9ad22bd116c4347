"""Alembic, one history per service, driven from Python.

Each service keeps its revisions in ``<package>/migrations/versions`` and an
``env.py`` that calls :func:`run_migrations`. ``python -m shared.migrations
<package>`` creates the service's database if missing and upgrades it to head.
"""

from __future__ import annotations

import argparse
import importlib

from alembic import command, context
from alembic.config import Config
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, make_url

from shared.database import create_database


def alembic_config(package: str, database_url: str) -> Config:
    """An Alembic config for ``package``'s migrations against ``database_url``."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(package: str, database_url: str, revision: str = "head") -> None:
    """Create the database if needed and migrate it to ``revision``."""
    create_database(database_url)
    command.upgrade(alembic_config(package, database_url), revision)


def sqlalchemy_url(database_url: str) -> URL:
    """``database_url`` with the psycopg2 driver named, as the services use it."""
    url = make_url(database_url)
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which is not installed.
    return url.set(drivername="postgresql+psycopg2") if url.drivername == "postgresql" else url


def run_migrations() -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by alembic_config()"
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def main() -> None:
    """Migrate the named services' databases, each from its own settings."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("packages", nargs="+", help="service packages, e.g. customer_service")
    args = parser.parse_args()
    for package in args.packages:
        settings = importlib.import_module(f"{package}.settings").Settings()
        upgrade(package, settings.database_url)
        print(f"{package}: database migrated to head")


if __name__ == "__main__":
    main()
