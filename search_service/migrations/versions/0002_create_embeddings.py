"""Keep the embeddings the NLP service derives: one per customer profile and one per note.

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
    """Create the embeddings table and the sequence that stamps its changes."""
    op.execute(
        """
        -- Stamped on every embedding written, so a web process refreshes its in-memory
        -- copy with what is newer than the last stamp it holds. Writers stamp under a
        -- transaction lock (vector_store.py), so stamps become visible in their order.
        CREATE SEQUENCE embedding_changes;

        CREATE TABLE embeddings (
            kind           text NOT NULL CHECK (kind IN ('profile', 'note')),
            -- The customer's id for its profile vector, the note's id for a note's.
            source_id      uuid NOT NULL,
            customer_id    uuid NOT NULL,
            -- The customer's version the vector was computed from: a profile vector is
            -- replaced only by one of a newer version; a note's is written once.
            version        integer NOT NULL CHECK (version >= 1),
            model_name     text NOT NULL,
            -- Vectors of different model versions are never compared.
            model_version  text NOT NULL,
            -- float32, little-endian, L2-normalised: 4 bytes a dimension.
            vector         bytea NOT NULL
                CHECK (octet_length(vector) BETWEEN 4 AND 16384 AND octet_length(vector) % 4 = 0),
            change_seq     bigint NOT NULL DEFAULT nextval('embedding_changes'),
            PRIMARY KEY (kind, source_id),
            CHECK (kind = 'note' OR source_id = customer_id)
        );

        -- What changed since a stamp, in stamp order.
        CREATE UNIQUE INDEX embeddings_change_idx ON embeddings (change_seq);
        """
    )


def downgrade() -> None:
    """Drop the embeddings and their sequence."""
    op.execute(
        """
        DROP TABLE embeddings;
        DROP SEQUENCE embedding_changes;
        """
    )
