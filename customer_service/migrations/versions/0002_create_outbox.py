"""Create the transactional outbox the relay publishes from.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``outbox`` with the indexes the relay's claim, ordering check and pruning use."""
    op.execute(
        r"""
        -- One row per customer event, written in the transaction of the change itself.
        CREATE TABLE outbox (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id      uuid NOT NULL UNIQUE,
            event_type    text NOT NULL,
            subject       uuid NOT NULL,
            envelope      jsonb NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            published_at  timestamptz
        );

        -- The relay claims the oldest unpublished rows; this stays as small as the backlog.
        CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
        -- Per customer order: is an older row of this customer still unpublished?
        CREATE INDEX outbox_pending_subject_idx ON outbox (subject, id)
            WHERE published_at IS NULL;
        -- Pruning published rows after the retention period.
        CREATE INDEX outbox_published_idx ON outbox (published_at)
            WHERE published_at IS NOT NULL;
        """
    )


def downgrade() -> None:
    """Drop the outbox."""
    op.execute("DROP TABLE outbox;")
