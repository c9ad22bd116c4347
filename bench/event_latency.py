"""Write -> searchable: how long a customer created through the gateway takes to be found by search.

Starts the gateway, the customer service with its outbox relay, and the search
service with its consumer (real processes, fresh databases, an exchange of
their own), then, one at a time, creates a customer with a unique name through
``POST /api/v1/customers`` and polls ``GET /api/v1/search?q=<name>`` until it
is found. The latency runs from sending the create to the first search that
finds it: outbox commit, NOTIFY, relay, broker confirm, consumer batch,
index commit, and the gateway twice. Baselines in the same run: the create
alone, and reading the new customer back from the customer service through
the gateway (read-your-write on the system of record).

Run with ``python -m bench.event_latency [--samples N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import requests

from bench.gateway_overhead import admin_token
from shared.services import service_named
from tests.support import broker
from tests.support.databases import drop_database, migrated_database
from tests.support.processes import ServiceProcess, WorkerProcess, free_port


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def letters(text: str) -> str:
    """Digits as letters, so the name is one searchable word."""
    return text.translate(str.maketrans("0123456789", "ghijklmnop"))


def main() -> None:
    """Start the pieces, measure, print p50/p95 of each path."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    exchange = broker.unique_exchange()
    databases = {
        name: migrated_database(service_named(name).package, "bench")
        for name in ("gateway", "customer", "search")
    }
    started: list[ServiceProcess | WorkerProcess] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            logs = Path(folder)
            customer_port, search_port = free_port(), free_port()
            gateway = ServiceProcess(
                "gateway",
                {
                    "GATEWAY_DATABASE_URL": databases["gateway"],
                    "DISCOVERY": "static",
                    "DISCOVERY_STATIC": f"customer_service=http://127.0.0.1:{customer_port},"
                    f"search_service=http://127.0.0.1:{search_port}",
                    "RATE_LIMIT_API": "100000000/minute",
                    "RATE_LIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
                    "LOG_LEVEL": "WARNING",
                },
            )
            jwks = f"{gateway.url}/.well-known/jwks.json"
            gateway.env["JWT_JWKS_URL"] = jwks
            started.append(gateway.start(logs))
            common = {
                "JWT_JWKS_URL": jwks,
                "AMQP_URL": broker.AMQP_URL,
                "EVENTS_EXCHANGE": exchange,
                "LOG_LEVEL": "WARNING",
            }
            customer_env = {**common, "CUSTOMER_DATABASE_URL": databases["customer"]}
            search_env = {**common, "SEARCH_DATABASE_URL": databases["search"]}
            started.append(
                ServiceProcess("customer_service", customer_env, port=customer_port).start(logs)
            )
            started.append(
                ServiceProcess("search_service", search_env, port=search_port).start(logs)
            )
            started.append(WorkerProcess("search_service.consumer", search_env).start(logs))
            started.append(WorkerProcess("customer_service.relay", customer_env).start(logs))
            for process in started[1:3]:
                assert isinstance(process, ServiceProcess)
                process.wait_for("/readyz", timeout=20)
            headers = {"Authorization": f"Bearer {admin_token(gateway, databases['gateway'])}"}
            api = f"{gateway.url}/api/v1"
            session = requests.Session()
            creates, reads, searchable = [], [], []
            for _ in range(args.samples):
                name = "Latency" + letters(uuid.uuid4().hex[:10])
                began = time.perf_counter()
                created = session.post(
                    f"{api}/customers",
                    json={"name": name, "email": f"{name.lower()}@example.com"},
                    headers=headers,
                    timeout=10,
                )
                creates.append(time.perf_counter() - began)
                created.raise_for_status()
                read_began = time.perf_counter()
                session.get(
                    f"{api}/customers/{created.json()['id']}", headers=headers, timeout=10
                ).raise_for_status()
                reads.append(time.perf_counter() - read_began)
                while True:
                    found = session.get(
                        f"{api}/search", params={"q": name}, headers=headers, timeout=10
                    )
                    if found.status_code == 200 and found.json()["items"]:
                        break
                    if time.perf_counter() - began > 10:
                        raise RuntimeError(f"{name} not searchable after 10 s")
                searchable.append(time.perf_counter() - began)
    finally:
        for process in reversed(started):
            process.stop()
        broker.delete_exchange(exchange)
        for url in databases.values():
            drop_database(url)
    print(f"{args.samples} customers, one at a time, everything on this machine")
    print("| path | p50 ms | p95 ms | mean ms |")
    print("|---|---|---|---|")
    for label, values in (
        ("create (POST /api/v1/customers)", creates),
        ("read it back (GET /api/v1/customers/{id})", reads),
        ("write -> searchable (create until search finds it)", searchable),
    ):
        print(
            f"| {label} | {percentile(values, 0.5) * 1000:.1f} | "
            f"{percentile(values, 0.95) * 1000:.1f} | {statistics.fmean(values) * 1000:.1f} |"
        )
    p95 = percentile(searchable, 0.95) * 1000
    verdict = "met" if p95 < 100 else "MISSED"
    print(f"write -> searchable p95 target < 100 ms: {verdict} ({p95:.1f} ms)")


if __name__ == "__main__":
    main()
