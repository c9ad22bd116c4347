"""Load generated customers into the local platform: ``python -m bench.seed --customers N``.

Writes into the customer database ``make run`` uses (``CUSTOMER_DATABASE_URL``, as
the service reads it; migrated first if needed) the customers of
``bench.seed_data``, with one ``customer.created`` outbox row each, in the same
transactions, exactly as the service writes a create. The relay publishes them,
and the search and analytics consumers index them the way every event arrives.
Each run adds new customers (their emails carry a tag of the run), so it can be
run again.
"""

from __future__ import annotations

import argparse
import secrets
import time
from datetime import UTC, datetime

import psycopg2

from bench.seed_data import generate_customers, load_customers
from customer_service.settings import Settings
from shared.migrations import upgrade


def seed(url: str, count: int, *, seed: int | None = None, batch: int = 5_000) -> int:
    """Add ``count`` customers and their created events to the database at ``url``."""
    upgrade("customer_service", url)
    email_tag = secrets.token_hex(3)
    customers = generate_customers(
        count,
        seed=seed if seed is not None else secrets.randbits(32),
        until=datetime.now(UTC),
        email_tag=f"{email_tag}-",
    )
    started = time.perf_counter()

    def progress(written: int) -> None:
        if written % (20 * batch) == 0 or written == count:
            print(f"  {written:>9,} customers, {time.perf_counter() - started:6.1f} s", flush=True)

    connection = psycopg2.connect(url)
    try:
        return load_customers(connection, customers, batch=batch, outbox=True, progress=progress)
    finally:
        connection.close()


def main() -> None:
    """Seed the local customer database from the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000, help="how many to add")
    parser.add_argument("--seed", type=int, help="the same number gives the same customers")
    parser.add_argument("--batch", type=int, default=5_000, help="customers per transaction")
    args = parser.parse_args()
    url = Settings().database_url
    started = time.perf_counter()
    written = seed(url, args.customers, seed=args.seed, batch=args.batch)
    elapsed = time.perf_counter() - started
    print(
        f"added {written:,} customers and their customer.created events in {elapsed:.0f} s;"
        " the relay publishes them to search and analytics"
    )


if __name__ == "__main__":
    main()
