"""Create the per-customer state, the note and churn logs, and the rollups.

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
    """Create the tables and the indexes the filtered breakdowns use."""
    op.execute(
        r"""
        -- Each customer's last applied state: what its next event moves counts away from.
        -- A deleted customer stays as a tombstone, so an older event cannot bring it back.
        CREATE TABLE customers (
            id          uuid PRIMARY KEY,
            version     integer NOT NULL CHECK (version >= 1),
            status      text NOT NULL,
            country     text,
            segment     text,
            tags        text[] NOT NULL DEFAULT '{}',
            deleted     boolean NOT NULL,
            created_at  timestamptz NOT NULL
        );

        -- Breakdowns filtered by a dimension count live rows matching the filter.
        CREATE INDEX customers_live_status_idx ON customers (status) WHERE NOT deleted;
        CREATE INDEX customers_live_country_idx ON customers (country) WHERE NOT deleted;
        CREATE INDEX customers_live_segment_idx ON customers (segment) WHERE NOT deleted;
        CREATE INDEX customers_live_tags_idx ON customers USING gin (tags) WHERE NOT deleted;

        -- Every note counted, once per note id whatever the order its events came in.
        CREATE TABLE notes (
            id           uuid PRIMARY KEY,
            customer_id  uuid NOT NULL,
            created_at   timestamptz NOT NULL
        );

        -- Every applied change into "churned": the source keeps no status history.
        CREATE TABLE churns (
            customer_id  uuid NOT NULL,
            version      integer NOT NULL,
            occurred_at  timestamptz NOT NULL,
            PRIMARY KEY (customer_id, version)
        );

        -- Live customers per bucket: dimension status, country, segment or tag; value ''
        -- is "none" (no country, no segment, no tag), which no real value can be.
        CREATE TABLE dimension_counts (
            dimension  text NOT NULL CHECK (dimension IN ('status', 'country', 'segment', 'tag')),
            value      text NOT NULL,
            count      bigint NOT NULL,
            PRIMARY KEY (dimension, value)
        );

        -- Signups, churns and notes per UTC day.
        CREATE TABLE daily_counts (
            metric  text NOT NULL CHECK (metric IN ('signups', 'churns', 'notes')),
            day     date NOT NULL,
            count   bigint NOT NULL,
            PRIMARY KEY (metric, day)
        );
        """
    )


def downgrade() -> None:
    """Drop everything this revision created."""
    op.execute(
        "DROP TABLE daily_counts; DROP TABLE dimension_counts; DROP TABLE churns;"
        " DROP TABLE notes; DROP TABLE customers;"
    )
