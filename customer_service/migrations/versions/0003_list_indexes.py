"""Index the customer list for every filter and sort: covering walks, a GIN over tags for all.

The list (``CustomerTransaction.list_customers``) either walks a sort-ordered
index, entries only, or collects the matches through the filter indexes; these
indexes make both cheap whatever the filters (bench/customer_list.py):

- one covering index per sort key, and one per sort key for each equality
  filter (status, country, segment) with that filter first, so a walk reads
  only the entries of the filtered value, in order, and checks every other
  filter on the entry itself (they are INCLUDEd) without reading the table;
- the GIN index over tags again, over deleted rows too: PostgreSQL never ANDs
  the bitmaps of two partial indexes with the same predicate, and a probe ANDs
  the tags' bitmap with a created range, or with an equality filter's. Without
  a pending list, so a burst of writes never makes every list read it first;
- MCV statistics over status, country and segment, so the planner's estimates
  (which choose between the two ways) hold for values that come together.

They replace the list indexes of 0001. Built and dropped concurrently: a live
table keeps taking writes while this runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LIVE = "WHERE deleted_at IS NULL"
FILTERS = ("status", "country", "segment")


def _walk_indexes() -> dict[str, tuple[str, str]]:
    """Index name -> (key columns, INCLUDEd columns): every column a list filters or sorts on."""
    indexes = {
        "customers_list_created_idx": ("created_at, id", "status, country, segment, tags"),
        "customers_list_name_idx": ("name, id", "created_at, status, country, segment, tags"),
    }
    for first in FILTERS:
        others = ", ".join(name for name in FILTERS if name != first)
        indexes[f"customers_list_{first}_created_idx"] = (
            f"{first}, created_at, id",
            f"{others}, tags",
        )
        indexes[f"customers_list_{first}_name_idx"] = (
            f"{first}, name, id",
            f"created_at, {others}, tags",
        )
    return indexes


WALK_INDEXES = _walk_indexes()
TAGS_GIN = "customers_list_tags_idx"
STATISTICS = "customers_list_filters_stats"

#: The list indexes of 0001, as they were.
OLD_INDEXES: dict[str, str] = {
    "customers_live_created_idx": "(created_at, id)",
    "customers_live_name_idx": "(name, id)",
    "customers_live_status_idx": "(status, created_at, id)",
    "customers_live_country_idx": "(country, created_at, id)",
    "customers_live_segment_idx": "(segment, created_at, id)",
    "customers_live_tags_idx": "USING gin (tags)",
}


def upgrade() -> None:
    """Create the list indexes and statistics, then drop the ones they replace."""
    with op.get_context().autocommit_block():
        for name, (keys, included) in WALK_INDEXES.items():
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON customers ({keys})"
                f" INCLUDE ({included}) {LIVE}"
            )
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TAGS_GIN} ON customers"
            " USING gin (tags) WITH (fastupdate = off)"
        )
        for name in OLD_INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    op.execute(
        f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} (mcv)"
        " ON status, country, segment FROM customers"
    )
    op.execute("ANALYZE customers")


def downgrade() -> None:
    """Put back the list indexes of 0001 and drop what ``upgrade`` created."""
    with op.get_context().autocommit_block():
        for name, definition in OLD_INDEXES.items():
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON customers {definition} {LIVE}"
            )
        for name in [*WALK_INDEXES, TAGS_GIN]:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
