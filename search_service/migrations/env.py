"""Alembic entry point for the search database; the shared runner does the work."""

from shared.migrations import run_migrations

run_migrations()
