"""Create the batch jobs and their rows.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A job (who owns it, its task, status and progress) and one row per text it reads."""
    op.execute(
        """
        CREATE TABLE nlp_jobs (
            id uuid PRIMARY KEY,
            owner text NOT NULL,
            task text NOT NULL CHECK (task IN ('sentiment', 'classify')),
            status text NOT NULL
                CHECK (status IN ('accepted', 'queued', 'running', 'ready', 'error', 'cancelled')),
            labels jsonb,
            total integer NOT NULL DEFAULT 0 CHECK (total >= 0),
            done integer NOT NULL DEFAULT 0 CHECK (done >= 0),
            failed integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
            attempts integer NOT NULL DEFAULT 0,
            statistics jsonb,
            error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX nlp_jobs_owner ON nlp_jobs (owner, created_at DESC);

        CREATE TABLE nlp_job_rows (
            job_id uuid NOT NULL REFERENCES nlp_jobs (id) ON DELETE CASCADE,
            line integer NOT NULL,
            text text NOT NULL,
            result jsonb,
            error text,
            PRIMARY KEY (job_id, line)
        );
        """
    )


def downgrade() -> None:
    """Drop both tables."""
    op.execute("DROP TABLE nlp_job_rows; DROP TABLE nlp_jobs;")
