"""Alembic entry point for the gateway database; the shared runner does the work."""

from shared.migrations import run_migrations

run_migrations()
