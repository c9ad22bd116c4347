"""Alembic entry point for the analytics database; the shared runner does the work."""

from shared.migrations import run_migrations

run_migrations()
