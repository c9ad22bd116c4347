"""Suggest by a later word from an index that stops at the limit; count facets from an index.

Until now a suggestion by a later word ("mu" for "Anna Müller") read every name
with a word starting so through the trigram index, then sorted them all: at a
million customers a short prefix meant half a second. Each name and company now
also keeps its *tails* (the text from its second word on, from its third word
on, ...) in ``suggest_tails``, kept by a trigger on ``documents``; ``tail LIKE
'mu%'`` in ``(field, tail, key)`` order is an index range read that stops after
the first few distinct texts. The trigram indexes served nothing else and go.

A search with filters and no words (the list people page through) counted its
facets from the table's rows; ``documents_facets_idx`` holds every column those
counts read, so they come from an index-only scan.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tails, their trigger and the facet index; fill the tails; drop trigram indexes."""
    op.execute(
        """
        -- One row per live customer, field and later word of its name or company.
        CREATE TABLE suggest_tails (
            customer_id  uuid NOT NULL,
            field        text NOT NULL CHECK (field IN ('name', 'company')),
            -- The folded text from one of its later words to its end ...
            tail         text COLLATE "C" NOT NULL,
            -- ... the whole folded text (the suggestion's identity and second order) ...
            key          text COLLATE "C" NOT NULL,
            -- ... and the text as the customer wrote it, which is suggested.
            text         text NOT NULL
        );

        CREATE INDEX suggest_tails_prefix_idx ON suggest_tails (field, tail, key);
        CREATE INDEX suggest_tails_customer_idx ON suggest_tails (customer_id);

        -- The tails of a folded text: from its second word on, from its third, ...
        CREATE FUNCTION search_tails(key text) RETURNS SETOF text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $$
                SELECT array_to_string(split.words[n:], ' ')
                FROM (SELECT string_to_array(key, ' ') AS words) split,
                     generate_subscripts(split.words, 1) AS n
                WHERE n > 1 AND split.words[n] <> ''
            $$;

        -- Rewrites a customer's tails when its name, company or deletion changes.
        CREATE FUNCTION keep_suggest_tails() RETURNS trigger
            LANGUAGE plpgsql
            AS $$
            BEGIN
                IF TG_OP = 'UPDATE'
                   AND OLD.name_key IS NOT DISTINCT FROM NEW.name_key
                   AND OLD.company_key IS NOT DISTINCT FROM NEW.company_key
                   AND OLD.name IS NOT DISTINCT FROM NEW.name
                   AND OLD.company IS NOT DISTINCT FROM NEW.company
                   AND OLD.deleted = NEW.deleted THEN
                    RETURN NULL;
                END IF;
                IF TG_OP <> 'INSERT' THEN
                    DELETE FROM suggest_tails WHERE customer_id = OLD.customer_id;
                END IF;
                IF TG_OP <> 'DELETE' AND NOT NEW.deleted THEN
                    INSERT INTO suggest_tails (customer_id, field, tail, key, text)
                    SELECT NEW.customer_id, 'name', tail, NEW.name_key, NEW.name
                    FROM search_tails(NEW.name_key) AS tail
                    UNION ALL
                    SELECT NEW.customer_id, 'company', tail, NEW.company_key, NEW.company
                    FROM search_tails(NEW.company_key) AS tail;
                END IF;
                RETURN NULL;
            END
            $$;

        CREATE TRIGGER documents_suggest_tails
            AFTER INSERT OR UPDATE OR DELETE ON documents
            FOR EACH ROW EXECUTE FUNCTION keep_suggest_tails();

        INSERT INTO suggest_tails (customer_id, field, tail, key, text)
        SELECT d.customer_id, 'name', tail, d.name_key, d.name
        FROM documents d, search_tails(d.name_key) AS tail WHERE NOT d.deleted
        UNION ALL
        SELECT d.customer_id, 'company', tail, d.company_key, d.company
        FROM documents d, search_tails(d.company_key) AS tail WHERE NOT d.deleted;

        DROP INDEX documents_name_trgm_idx;
        DROP INDEX documents_company_trgm_idx;

        CREATE INDEX documents_facets_idx ON documents (status, country, segment)
            INCLUDE (tags) WHERE NOT deleted;
        """
    )


def downgrade() -> None:
    """Back to trigram suggestions and facets counted from the table."""
    op.execute(
        """
        DROP INDEX documents_facets_idx;
        DROP TRIGGER documents_suggest_tails ON documents;
        DROP FUNCTION keep_suggest_tails();
        DROP FUNCTION search_tails(text);
        DROP TABLE suggest_tails;
        CREATE INDEX documents_name_trgm_idx
            ON documents USING gin (name_key gin_trgm_ops) WITH (fastupdate = off)
            WHERE NOT deleted;
        CREATE INDEX documents_company_trgm_idx
            ON documents USING gin (company_key gin_trgm_ops) WITH (fastupdate = off)
            WHERE NOT deleted;
        """
    )
