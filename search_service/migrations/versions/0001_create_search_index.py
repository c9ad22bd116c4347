"""Create the search index: documents, notes, the typo vocabulary and reindex jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the extensions, the text search configuration, the tables and their indexes."""
    op.execute(
        r"""
        -- unaccent, pg_trgm and fuzzystrmatch are trusted extensions (PostgreSQL 13+): the
        -- database's owner may create them; on an older server this needs a superuser.
        CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
        CREATE EXTENSION IF NOT EXISTS fuzzystrmatch WITH SCHEMA public;

        -- unaccent() is only STABLE (its dictionary could be replaced); naming the
        -- dictionary makes this wrapper safe to declare IMMUTABLE, so indexes may use it.
        CREATE FUNCTION search_fold(value text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            RETURN lower(public.unaccent('public.unaccent'::regdictionary, value));

        -- Words without accents and in lower case, no stemming (names are not English),
        -- no stop words: "Zoë Müller" and "zoe muller" are the same lexemes.
        CREATE TEXT SEARCH CONFIGURATION clientele_search (COPY = simple);
        ALTER TEXT SEARCH CONFIGURATION clientele_search
            ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
            WITH unaccent, simple;

        -- Stamped on every change an event makes, so a reindex knows which documents
        -- changed after it started.
        CREATE SEQUENCE document_changes;

        -- One row per customer ever seen; a deleted one stays as a tombstone holding its
        -- version, so an older event cannot bring it back.
        CREATE TABLE documents (
            customer_id      uuid PRIMARY KEY,
            version          integer NOT NULL CHECK (version >= 1),
            deleted          boolean NOT NULL,
            name             text NOT NULL,
            email            text NOT NULL,
            phone            text,
            company          text,
            country          text,
            city             text,
            segment          text,
            status           text NOT NULL,
            tags             text[] NOT NULL,
            created_at       timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            deleted_at       timestamptz,
            name_key         text GENERATED ALWAYS AS (search_fold(name)) STORED,
            company_key      text GENERATED ALWAYS AS (search_fold(company)) STORED,
            email_key        text GENERATED ALWAYS AS (lower(email)) STORED,
            phone_digits     text
                GENERATED ALWAYS AS (regexp_replace(phone, '[^0-9]', '', 'g')) STORED,
            search_vector    tsvector NOT NULL DEFAULT ''::tsvector,
            change_seq       bigint NOT NULL DEFAULT nextval('document_changes'),
            seen_generation  bigint
        );

        -- GIN indexes without the pending list (fastupdate): entries not yet merged are
        -- scanned linearly by every search, which made a search 15 times slower after a
        -- burst of events (bench/search_latency.py); writes pay a little instead.
        CREATE INDEX documents_search_idx ON documents USING gin (search_vector)
            WITH (fastupdate = off) WHERE NOT deleted;
        -- Sorting by name and by creation, keyset pages.
        CREATE INDEX documents_name_idx ON documents (name_key, customer_id) WHERE NOT deleted;
        CREATE INDEX documents_created_idx ON documents (created_at, customer_id) WHERE NOT deleted;
        -- Suggestions: a name or company starting with what was typed, in byte order
        -- whatever the database's collation, so one index serves LIKE 'x%' and the order ...
        CREATE INDEX documents_name_prefix_idx
            ON documents ((name_key COLLATE "C")) WHERE NOT deleted;
        CREATE INDEX documents_company_prefix_idx
            ON documents ((company_key COLLATE "C")) WHERE NOT deleted;
        -- ... or with a later word starting so, found through trigrams.
        CREATE INDEX documents_name_trgm_idx
            ON documents USING gin (name_key gin_trgm_ops) WITH (fastupdate = off)
            WHERE NOT deleted;
        CREATE INDEX documents_company_trgm_idx
            ON documents USING gin (company_key gin_trgm_ops) WITH (fastupdate = off)
            WHERE NOT deleted;
        -- Exact email and phone matches rank first.
        CREATE INDEX documents_email_idx ON documents (email_key) WHERE NOT deleted;
        CREATE INDEX documents_phone_idx ON documents (phone_digits) WHERE NOT deleted;
        -- Filters.
        CREATE INDEX documents_tags_idx ON documents USING gin (tags) WITH (fastupdate = off)
            WHERE NOT deleted;
        CREATE INDEX documents_status_idx ON documents (status, created_at) WHERE NOT deleted;
        CREATE INDEX documents_country_idx ON documents (country, created_at) WHERE NOT deleted;
        CREATE INDEX documents_segment_idx ON documents (segment, created_at) WHERE NOT deleted;

        -- Keyed by the note's own id: a redelivered or reordered note is stored once.
        CREATE TABLE notes (
            note_id      uuid PRIMARY KEY,
            customer_id  uuid NOT NULL,
            author       text NOT NULL,
            body         text NOT NULL,
            created_at   timestamptz NOT NULL,
            body_vector  tsvector
                GENERATED ALWAYS AS (to_tsvector('clientele_search'::regconfig, body)) STORED
        );

        CREATE INDEX notes_customer_idx ON notes (customer_id, created_at DESC);

        -- Every word of every name and company: a misspelt query word is compared with
        -- the words of a close length (Levenshtein) and searched as those it is close to.
        CREATE TABLE vocabulary (
            word  text PRIMARY KEY
        );

        CREATE INDEX vocabulary_length_idx ON vocabulary (char_length(word));

        CREATE TABLE reindex_jobs (
            id             uuid PRIMARY KEY,
            generation     bigint GENERATED ALWAYS AS IDENTITY,
            status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
            started_at     timestamptz NOT NULL DEFAULT now(),
            heartbeat_at   timestamptz NOT NULL DEFAULT now(),
            finished_at    timestamptz,
            -- document_changes when the job started: documents stamped later were
            -- changed by an event meanwhile and are never removed by this job.
            start_change   bigint NOT NULL,
            seen           integer NOT NULL DEFAULT 0,
            upserted       integer NOT NULL DEFAULT 0,
            removed        integer NOT NULL DEFAULT 0,
            error          text
        );

        -- One running job at a time.
        CREATE UNIQUE INDEX reindex_jobs_one_running ON reindex_jobs ((true))
            WHERE status = 'running';
        """
    )


def downgrade() -> None:
    """Drop everything this revision created (the extensions stay: others may use them)."""
    op.execute(
        """
        DROP TABLE reindex_jobs;
        DROP TABLE vocabulary;
        DROP TABLE notes;
        DROP TABLE documents;
        DROP SEQUENCE document_changes;
        DROP TEXT SEARCH CONFIGURATION clientele_search;
        DROP FUNCTION search_fold(text);
        """
    )
