"""Keep each note's sentiment, as the NLP service scores it, once per note id.

A table of its own rather than columns on ``notes``: a note's sentiment
(``nlp.note_analysed``) and the note itself (``customer.note_added``) come from
two producers in any order, and ``notes`` counts a note the first time its
``customer.note_added`` is seen. The customer is not joined here: a sentiment
may arrive before anything about its customer, and a customer's segment
changes; both are read from ``customers`` when the figures are asked for.

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
    """Create ``note_sentiments`` and the indexes its readers use."""
    op.execute(
        r"""
        CREATE TABLE note_sentiments (
            note_id        uuid PRIMARY KEY,
            customer_id    uuid NOT NULL,
            -- When the note was written: the day the date filters compare.
            created_at     timestamptz NOT NULL,
            label          text NOT NULL CHECK (label IN ('positive', 'negative', 'neutral')),
            -- The confidence in the label.
            score          double precision NOT NULL CHECK (score >= 0 AND score <= 1),
            method         text NOT NULL,
            model_name     text NOT NULL,
            model_version  text NOT NULL
        );

        -- One customer's notes (customer_id filter, per-customer figures), by date.
        CREATE INDEX note_sentiments_customer_idx
            ON note_sentiments (customer_id, created_at) INCLUDE (label, score);
        -- Every customer's notes over a span of days.
        CREATE INDEX note_sentiments_created_idx
            ON note_sentiments (created_at) INCLUDE (customer_id, label, score);
        """
    )


def downgrade() -> None:
    """Drop what this revision created."""
    op.execute("DROP TABLE note_sentiments")
