"""CSV imports: the jobs, each row's outcome, and which customer each imported row made.

- ``import_jobs``: one per uploaded file, with the CSV as sent and its column
  mapping; the importer claims queued jobs (and running ones whose worker
  stopped beating) and commits its progress counters after every chunk.
- ``import_rows``: one per data row processed, by line number in the file:
  ``created``, ``existing`` or ``failed`` with the reasons creating it through
  the API would give.
- ``imported_rows``: the idempotency of imports. A row's key is the SHA-256 of
  the customer it describes (the create body after validation); it is inserted
  in the transaction that creates the customer, so a row seen again, in this
  file or any later one, reports the customer it made instead of a second one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the import tables and the indexes the importer's claim and the reports use."""
    op.execute(
        r"""
        CREATE TABLE import_jobs (
            id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            filename      text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
            mapping       jsonb NOT NULL CHECK (jsonb_typeof(mapping) = 'object'),
            content       text NOT NULL,
            submitted_by  text NOT NULL,
            status        text NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
            total         integer NOT NULL CHECK (total >= 0),
            processed     integer NOT NULL DEFAULT 0 CHECK (processed BETWEEN 0 AND total),
            created       integer NOT NULL DEFAULT 0 CHECK (created >= 0),
            existing      integer NOT NULL DEFAULT 0 CHECK (existing >= 0),
            failed        integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
            error         text,
            -- The worker holding the job, and when it last showed it was alive.
            claimed_by    text,
            heartbeat_at  timestamptz,
            created_at    timestamptz NOT NULL DEFAULT now(),
            started_at    timestamptz,
            finished_at   timestamptz,
            CHECK (processed = created + existing + failed)
        );

        -- The importer's claim: the oldest unfinished jobs; as small as the queue.
        CREATE INDEX import_jobs_unfinished_idx ON import_jobs (created_at, id)
            WHERE status IN ('queued', 'running');

        CREATE TABLE import_rows (
            job_id       uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
            line         integer NOT NULL CHECK (line >= 2),
            outcome      text NOT NULL CHECK (outcome IN ('created', 'existing', 'failed')),
            customer_id  uuid,
            errors       jsonb NOT NULL DEFAULT '[]',
            PRIMARY KEY (job_id, line),
            CHECK ((outcome = 'failed') = (customer_id IS NULL))
        );

        -- A job's rows of one outcome, in line order (keyset pages of the report).
        CREATE INDEX import_rows_outcome_idx ON import_rows (job_id, outcome, line);

        CREATE TABLE imported_rows (
            row_key      text PRIMARY KEY,
            customer_id  uuid NOT NULL,
            job_id       uuid NOT NULL,
            line         integer NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    """Drop the import tables."""
    op.execute("DROP TABLE imported_rows; DROP TABLE import_rows; DROP TABLE import_jobs;")
