"""Count a filtered search's facets from kept counts instead of its hits.

A search with filters and no words counted its facets over every hit: with
``status`` and ``country`` at a million customers that is tens of thousands of
rows read five times per request. ``facet_cells`` holds one row per combination
of status, country, segment and set of tags among live documents, with how many
documents have it; statement triggers on ``documents`` move the counts in the
writer's own transaction. Any mix of those four filters then reads the cells it
matches (a few thousand rows at most for realistic data) instead of the hits.

Each statement applies its net change per cell (+1 for each new live row, -1 for
each old one) in one ``INSERT ... ON CONFLICT`` in cell order, so two writers
take the rows they share in the same order; a statement that changes no cell
(the vector refresh, a reindex marking what it saw) touches none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the cells, fill them from the live documents, keep them by triggers."""
    op.execute(
        """
        -- A document's tags as a cell holds them: distinct, in order.
        CREATE FUNCTION facet_tags(tags text[]) RETURNS text[]
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $$ SELECT coalesce(array_agg(DISTINCT tag ORDER BY tag), '{}')
                  FROM unnest(tags) AS tag $$;

        -- Live documents per status, country, segment and set of tags ('' for no
        -- country or segment, so the four columns make a key).
        CREATE TABLE facet_cells (
            status   text NOT NULL,
            country  text NOT NULL,
            segment  text NOT NULL,
            tags     text[] NOT NULL,
            count    bigint NOT NULL,
            PRIMARY KEY (status, country, segment, tags)
        );
        CREATE INDEX facet_cells_country_idx ON facet_cells (country);
        CREATE INDEX facet_cells_tags_idx ON facet_cells USING gin (tags);

        -- One document's cell, and what a statement changed there.
        CREATE TYPE facet_change AS
            (status text, country text, segment text, tags text[], change integer);
        CREATE FUNCTION facet_change(d documents, change integer) RETURNS facet_change
            LANGUAGE sql IMMUTABLE
            AS $$ SELECT d.status, coalesce(d.country, ''), coalesce(d.segment, ''),
                         facet_tags(d.tags), change $$;

        CREATE FUNCTION count_facets() RETURNS trigger
            LANGUAGE plpgsql
            AS $$
            DECLARE
                changes facet_change[] := '{}';
            BEGIN
                IF TG_OP <> 'DELETE' THEN
                    changes := changes || ARRAY(
                        SELECT facet_change(n, 1) FROM new_rows n WHERE NOT n.deleted);
                END IF;
                IF TG_OP <> 'INSERT' THEN
                    changes := changes || ARRAY(
                        SELECT facet_change(o, -1) FROM old_rows o WHERE NOT o.deleted);
                END IF;
                INSERT INTO facet_cells AS cell (status, country, segment, tags, count)
                SELECT c.status, c.country, c.segment, c.tags, sum(c.change)
                FROM unnest(changes) AS c
                GROUP BY c.status, c.country, c.segment, c.tags
                HAVING sum(c.change) <> 0
                ORDER BY c.status, c.country, c.segment, c.tags
                ON CONFLICT (status, country, segment, tags)
                    DO UPDATE SET count = cell.count + EXCLUDED.count;
                RETURN NULL;
            END
            $$;

        CREATE TRIGGER documents_facets_inserted AFTER INSERT ON documents
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION count_facets();
        CREATE TRIGGER documents_facets_updated AFTER UPDATE ON documents
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION count_facets();
        CREATE TRIGGER documents_facets_deleted AFTER DELETE ON documents
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION count_facets();

        INSERT INTO facet_cells (status, country, segment, tags, count)
        SELECT status, coalesce(country, ''), coalesce(segment, ''), facet_tags(tags), count(*)
        FROM documents WHERE NOT deleted
        GROUP BY 1, 2, 3, 4;
        """
    )


def downgrade() -> None:
    """Back to counting every hit."""
    op.execute(
        """
        DROP TRIGGER documents_facets_inserted ON documents;
        DROP TRIGGER documents_facets_updated ON documents;
        DROP TRIGGER documents_facets_deleted ON documents;
        DROP FUNCTION count_facets();
        DROP FUNCTION facet_change(documents, integer);
        DROP TYPE facet_change;
        DROP TABLE facet_cells;
        DROP FUNCTION facet_tags(text[]);
        """
    )
