"""Keep each note's sentiment, as the NLP service scores it, on the note.

A nullable ``jsonb`` column (``{"label", "score", "method"}``): null until the
``nlp.note_analysed`` event of the note arrives. Adding a nullable column
without a default rewrites nothing, so a live table keeps taking writes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``notes.sentiment``."""
    op.execute("ALTER TABLE notes ADD COLUMN sentiment jsonb")


def downgrade() -> None:
    """Drop ``notes.sentiment``."""
    op.execute("ALTER TABLE notes DROP COLUMN sentiment")
