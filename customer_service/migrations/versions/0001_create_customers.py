"""Create customers, notes and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables and the indexes every hot query uses."""
    op.execute(
        r"""
        CREATE TABLE customers (
            id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            email       text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
            phone       text CHECK (phone ~ '^\+?[0-9][0-9 ().-]{4,31}$'),
            company     text CHECK (char_length(company) BETWEEN 1 AND 200),
            country     text CHECK (country ~ '^[A-Z]{2}$'),
            city        text CHECK (char_length(city) BETWEEN 1 AND 120),
            segment     text CHECK (char_length(segment) BETWEEN 1 AND 64),
            status      text NOT NULL DEFAULT 'lead'
                        CHECK (status IN ('lead', 'active', 'churned')),
            tags        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 50),
            attributes  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now(),
            version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
            deleted_at  timestamptz
        );

        -- One live customer per email, whatever its case; deleted rows keep theirs.
        CREATE UNIQUE INDEX customers_live_email_key
            ON customers (lower(email)) WHERE deleted_at IS NULL;

        -- Keyset listing in each sort order, live rows only.
        CREATE INDEX customers_live_created_idx
            ON customers (created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX customers_live_name_idx
            ON customers (name, id) WHERE deleted_at IS NULL;

        -- Equality filters, ordered like the default listing so a page stops early.
        CREATE INDEX customers_live_status_idx
            ON customers (status, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX customers_live_country_idx
            ON customers (country, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX customers_live_segment_idx
            ON customers (segment, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX customers_live_tags_idx
            ON customers USING gin (tags) WHERE deleted_at IS NULL;

        CREATE TABLE notes (
            id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            customer_id  uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            author       text NOT NULL,
            body         text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
            created_at   timestamptz NOT NULL DEFAULT now()
        );

        CREATE INDEX notes_customer_created_idx ON notes (customer_id, created_at, id);

        -- A key is claimed (row inserted) in the same transaction that creates the
        -- customer; the response is filled in before that transaction commits.
        CREATE TABLE idempotency_keys (
            subject          text NOT NULL,
            key              text NOT NULL,
            fingerprint      text NOT NULL,
            response_status  integer,
            response_body    jsonb,
            created_at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (subject, key)
        );
        """
    )


def downgrade() -> None:
    """Drop everything this revision created."""
    op.execute("DROP TABLE idempotency_keys; DROP TABLE notes; DROP TABLE customers;")
