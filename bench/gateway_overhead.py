"""What the gateway adds: the same ``GET /customers/{id}`` direct and through it.

Starts a fresh customer service and gateway (real gunicorn processes on fresh
databases), creates one customer, then loads both paths at concurrency 1 and
32 and prints p50/p99 latency, requests/s, and the gateway-to-direct ratios.
Run with ``make bench``; options: ``--seconds``, ``--workers``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from bench.load import LoadResult, run_load
from tests.support.databases import drop_database, migrated_database
from tests.support.processes import ROOT, ServiceProcess, free_port


def start_stack(
    workers: int, threads: int, logs: Path
) -> tuple[ServiceProcess, ServiceProcess, list[str]]:
    """Fresh databases, a customer service and a gateway in front of it."""
    gateway_db = migrated_database("gateway", "bench")
    customer_db = migrated_database("customer_service", "bench")
    customer_port = free_port()
    # The gateway starts first, so the service finds the signing keys when it starts.
    gateway = ServiceProcess(
        "gateway",
        {
            "GATEWAY_DATABASE_URL": gateway_db,
            "DISCOVERY": "static",
            "DISCOVERY_STATIC": f"customer_service=http://127.0.0.1:{customer_port}",
            "RATE_LIMIT_API": "100000000/minute",
            "RATE_LIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "WARNING",
        },
        workers=workers,
        threads=threads,
    )
    jwks = f"{gateway.url}/.well-known/jwks.json"
    gateway.env["JWT_JWKS_URL"] = jwks
    gateway.start(logs)
    customer = ServiceProcess(
        "customer_service",
        {"CUSTOMER_DATABASE_URL": customer_db, "JWT_JWKS_URL": jwks, "LOG_LEVEL": "WARNING"},
        workers=workers,
        threads=threads,
        port=customer_port,
    ).start(logs)
    wait_until_ready(customer)
    return gateway, customer, [gateway_db, customer_db]


def wait_until_ready(service: ServiceProcess, timeout: float = 15.0) -> None:
    """Poll ``/readyz`` until it answers 200 (the service holds the gateway's keys)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(f"{service.url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{service.package} did not become ready:\n{service.output()}")


def admin_token(gateway: ServiceProcess, database_url: str) -> str:
    """Create an admin with the gateway's CLI and log in as it."""
    password = uuid.uuid4().hex
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "create-user",
            "bench-admin",
            "--role",
            "admin",
            "--password-env",
            "BENCH_PASSWORD",
        ],
        cwd=ROOT,
        env={**os.environ, "GATEWAY_DATABASE_URL": database_url, "BENCH_PASSWORD": password},
        check=True,
        capture_output=True,
    )
    response = requests.post(
        f"{gateway.url}/api/v1/auth/token",
        json={"username": "bench-admin", "password": password},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def print_table(results: list[LoadResult]) -> None:
    """Print each run's figures."""
    columns = ("conc", "requests", "errors", "p50 ms", "p99 ms", "req/s")
    print(f"{'path':<10}" + "".join(f"{column:>10}" for column in columns))
    for result in results:
        print(
            f"{result.label:<10}{result.concurrency:>10}{result.requests:>10}{result.errors:>10}"
            f"{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}{result.requests_per_second:>10.0f}"
        )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers per service")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as logs:
        gateway, customer, databases = start_stack(args.workers, args.threads, Path(logs))
        try:
            token = admin_token(gateway, databases[0])
            headers = {"Authorization": f"Bearer {token}"}
            created = requests.post(
                f"{gateway.url}/api/v1/customers",
                json={
                    "name": "Bench Customer",
                    "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                },
                headers=headers,
                timeout=10,
            )
            created.raise_for_status()
            customer_id = created.json()["id"]
            direct_url = f"{customer.url}/customers/{customer_id}"
            gateway_url = f"{gateway.url}/api/v1/customers/{customer_id}"

            # The floor: one gunicorn + Flask hop doing nothing (no token, no limit, no forward).
            results: list[LoadResult] = [
                run_load(
                    "hop-floor", f"{gateway.url}/healthz", {}, concurrency=1, duration=args.seconds
                )
            ]
            for concurrency in (1, 32):
                results.append(
                    run_load(
                        "direct",
                        direct_url,
                        headers,
                        concurrency=concurrency,
                        duration=args.seconds,
                    )
                )
                results.append(
                    run_load(
                        "gateway",
                        gateway_url,
                        headers,
                        concurrency=concurrency,
                        duration=args.seconds,
                    )
                )
        finally:
            gateway.stop()
            customer.stop()
            for database in databases:
                drop_database(database)

    print(
        f"GET /customers/{{id}}: {args.workers} workers x {args.threads} threads per service, "
        f"{args.seconds:.0f} s per run, {os.cpu_count()} CPUs"
    )
    print_table(results)
    for concurrency in (1, 32):
        direct = next(r for r in results if r.label == "direct" and r.concurrency == concurrency)
        through = next(r for r in results if r.label == "gateway" and r.concurrency == concurrency)
        added_p50 = through.p50_ms - direct.p50_ms
        added_p99 = through.p99_ms - direct.p99_ms
        throughput = through.requests_per_second / direct.requests_per_second
        print(
            f"concurrency {concurrency:>2}: gateway adds {added_p50:.2f} ms at p50 "
            f"({through.p50_ms / direct.p50_ms:.2f}x), {added_p99:.2f} ms at p99; "
            f"throughput {throughput:.0%} of direct"
        )


if __name__ == "__main__":
    main()
