"""Alembic entry point for the NLP database (batch jobs); the shared runner does the work."""

from shared.migrations import run_migrations

run_migrations()
