"""Spell a query word's prefix out as the words it starts; index emails by their parts.

A query word matches the words it starts. The index's own prefix match reads
every document of every such word before it can combine the words of a query:
"ada holsul" read the 35,000 documents of "ada" to find 34 (20 ms at a million
customers). ``lexicon`` holds every indexed word in byte order, so the service
first looks up the words a query word starts (an index range read) and, when
there are at most 64, asks for those whole words; the index then skips through
a common word's documents to the ones the rarer words share (1-2 ms). A word
that starts more is still matched as a prefix.

For that, every document's vector loses its whole email, a word no other
document shares (35,000 of the words starting "ada" were emails): the email is
indexed by its parts (split at ``@ . + _ -``), and a ``q`` that is an email, or
starts like one, matches by ``email_key`` (``documents_email_prefix_idx``).
``document_vector`` is now the one definition of a document's vector, used by
the service to refresh documents and here to rebuild every vector.

A typo on a word's first letter counts as two, as in Meilisearch: a word of 5
to 8 letters must keep its first letter, and one of 9 or more may change it
only if the rest is exact. The close words of a query word are then read per
first letter and length (``vocabulary_first_letter_idx``) and, for the second
case, by everything after the first letter (``vocabulary_rest_idx``).

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
    """Define the vector once, rebuild every vector, and re-index the vocabulary and emails."""
    op.execute(
        """
        -- A document's weighted words: name A; email parts and company B; city and
        -- tags C; the newest notes (up to 100,000 characters) D.
        CREATE FUNCTION document_vector(d documents) RETURNS tsvector
            LANGUAGE sql STABLE
            AS $$
                SELECT setweight(to_tsvector('clientele_search', d.name), 'A')
                    || setweight(to_tsvector('clientele_search', concat_ws(' ',
                           translate(d.email, '@.+_-', '     '), d.company)), 'B')
                    || setweight(to_tsvector('clientele_search', concat_ws(' ',
                           d.city, array_to_string(d.tags, ' '))), 'C')
                    || setweight(to_tsvector('clientele_search', coalesce((
                           SELECT left(string_agg(n.body, ' '
                                                  ORDER BY n.created_at DESC, n.note_id),
                                       100000)
                           FROM notes n WHERE n.customer_id = d.customer_id), '')), 'D')
            $$;

        -- Only the vectors change: the facet cells and the suggestion tails stay as they are.
        ALTER TABLE documents DISABLE TRIGGER documents_facets_updated;
        ALTER TABLE documents DISABLE TRIGGER documents_suggest_tails;
        UPDATE documents d SET search_vector = document_vector(d);
        ALTER TABLE documents ENABLE TRIGGER documents_facets_updated;
        ALTER TABLE documents ENABLE TRIGGER documents_suggest_tails;

        -- Every word of every vector, in byte order: the words a query word starts.
        CREATE TABLE lexicon (word text COLLATE "C" PRIMARY KEY);
        INSERT INTO lexicon (word)
        SELECT DISTINCT word FROM documents, unnest(tsvector_to_array(search_vector)) AS word;

        CREATE INDEX documents_email_prefix_idx ON documents ((email_key COLLATE "C"))
            WHERE NOT deleted;

        DROP INDEX vocabulary_length_idx;
        CREATE INDEX vocabulary_first_letter_idx
            ON vocabulary (left(word, 1), char_length(word));
        CREATE INDEX vocabulary_rest_idx ON vocabulary (substr(word, 2));
        """
    )


def downgrade() -> None:
    """Back to whole emails in the vectors and typo look-ups by length alone."""
    op.execute(
        """
        DROP INDEX vocabulary_rest_idx;
        DROP INDEX vocabulary_first_letter_idx;
        CREATE INDEX vocabulary_length_idx ON vocabulary (char_length(word));
        DROP INDEX documents_email_prefix_idx;
        DROP TABLE lexicon;

        ALTER TABLE documents DISABLE TRIGGER documents_facets_updated;
        ALTER TABLE documents DISABLE TRIGGER documents_suggest_tails;
        UPDATE documents d SET search_vector =
               setweight(to_tsvector('clientele_search', d.name), 'A')
            || setweight(to_tsvector('clientele_search', concat_ws(' ',
                   d.email, translate(d.email, '@.+_-', '     '), d.company)), 'B')
            || setweight(to_tsvector('clientele_search', concat_ws(' ',
                   d.city, array_to_string(d.tags, ' '))), 'C')
            || setweight(to_tsvector('clientele_search', coalesce((
                   SELECT left(string_agg(n.body, ' ' ORDER BY n.created_at DESC, n.note_id),
                               100000)
                   FROM notes n WHERE n.customer_id = d.customer_id), '')), 'D');
        ALTER TABLE documents ENABLE TRIGGER documents_facets_updated;
        ALTER TABLE documents ENABLE TRIGGER documents_suggest_tails;
        DROP FUNCTION document_vector(documents);
        """
    )
