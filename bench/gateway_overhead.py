"""What the gateway adds: the same ``GET /customers/{id}`` direct and through it.

Starts a fresh customer service and gateway (real gunicorn processes on fresh
databases), creates one customer, then loads both paths at concurrency 1 and
32 and prints p50/p99 latency, requests/s, and the gateway-to-direct ratios.

It does so in two CPU layouts, each a complete run of its own:

- ``shared``: every process may run on every CPU, as on a developer's laptop.
  The load generator, both services, PostgreSQL and Redis compete for the
  same cores, so the gateway's run pays for a second Python service on the
  CPUs the direct run had to itself.
- ``tiers``: the CPUs are split in two, as pods are in a cluster: the
  gateway and Redis on one half, the customer service and PostgreSQL on the
  other, the load generator free. Both paths run in this same layout, so
  the ratio says how much the gateway tier costs when it has its own CPUs.
  Pinning PostgreSQL and Redis needs the right to change their affinity
  (root here); where that is refused they stay unpinned and the output says so,
  and their affinity is restored afterwards.

Run with ``make bench``; options: ``--seconds``, ``--workers``,
``--layout``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.load import LoadResult, run_load
from tests.support.databases import drop_database, migrated_database
from tests.support.processes import ROOT, ServiceProcess, free_port

CONCURRENCIES = (1, 32)
WARMUP_SECONDS = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def start_stack(
    workers: int,
    logs: Path,
    cpus: tuple[frozenset[int], frozenset[int]] | None = None,
    log_level: str = "WARNING",
    gateway_workers: int | None = None,
) -> tuple[ServiceProcess, ServiceProcess, list[str]]:
    """Fresh databases, a customer service and a gateway in front of it.

    ``log_level`` is both services' ``LOG_LEVEL``: ``INFO`` writes the access log
    (one JSON line per request), ``WARNING`` leaves it out. The gateway has
    ``gateway_workers`` workers (default: ``workers``, as the service).
    """
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
            "RATE_LIMIT_PUBLIC": "100000000/minute",
            "RATE_LIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": log_level,
        },
        workers=gateway_workers or workers,
        cpus=cpus[0] if cpus else None,
    )
    jwks = f"{gateway.url}/.well-known/jwks.json"
    gateway.env["JWT_JWKS_URL"] = jwks
    gateway.start(logs)
    customer = ServiceProcess(
        "customer_service",
        {"CUSTOMER_DATABASE_URL": customer_db, "JWT_JWKS_URL": jwks, "LOG_LEVEL": log_level},
        workers=workers,
        port=customer_port,
        cpus=cpus[1] if cpus else None,
    ).start(logs)
    customer.wait_for("/readyz", timeout=15)  # it holds the gateway's keys
    return gateway, customer, [gateway_db, customer_db]


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


def server_pids(name: str, *, threads: bool = True) -> list[int]:
    """Every process of a running server, by program name, with their threads if asked."""
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False)
    pids = [int(value) for value in found.stdout.split()]
    if not threads:
        return pids
    tasks: list[int] = []
    for pid in pids:
        try:
            tasks.extend(int(task) for task in os.listdir(f"/proc/{pid}/task"))
        except FileNotFoundError:
            continue
    return tasks


@contextmanager
def pinned(servers: dict[str, frozenset[int]]) -> Iterator[list[str]]:
    """Pin each named server to its CPUs for the block; yields what could not be pinned."""
    everything = os.sched_getaffinity(0)
    refused: list[str] = []
    touched: list[int] = []
    for name, cpus in servers.items():
        pids = server_pids(name)
        try:
            for pid in pids:
                os.sched_setaffinity(pid, cpus)
                touched.append(pid)
        except (PermissionError, ProcessLookupError):
            refused.append(name)
        if not pids:
            refused.append(name)
    try:
        yield refused
    finally:
        for name in servers:
            for pid in server_pids(name):
                try:
                    os.sched_setaffinity(pid, everything)
                except (PermissionError, ProcessLookupError):
                    continue


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [pid] + [descendant for child in children for descendant in process_tree(int(child))]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes (all their threads) have used so far."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass
class CpuShare:
    """CPU microseconds per request each part of the platform spent during one run."""

    label: str
    concurrency: int
    per_request_us: dict[str, float]


def loaded(
    label: str,
    url: str,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    groups: dict[str, Callable[[], list[int]]],
) -> tuple[LoadResult, CpuShare]:
    """One load run, and what it cost each process group per request (warm-up included)."""
    pids = {name: find() for name, find in groups.items()}
    before = {name: cpu_seconds(found) for name, found in pids.items()}
    own_before = sum(os.times()[:2])
    result = run_load(
        label, url, headers, concurrency=concurrency, duration=seconds, warmup=WARMUP_SECONDS
    )
    own = sum(os.times()[:2]) - own_before
    # Server processes forked during the run (PostgreSQL backends) count too.
    pids = {name: sorted(set(found) | set(groups[name]())) for name, found in pids.items()}
    spent = {name: cpu_seconds(found) - before[name] for name, found in pids.items()}
    spent["load generator"] = own
    handled = max(1.0, result.requests * (seconds + WARMUP_SECONDS) / seconds)
    share = CpuShare(
        label, concurrency, {name: value / handled * 1e6 for name, value in spent.items()}
    )
    return result, share


def measure(
    gateway: ServiceProcess, customer: ServiceProcess, database: str, seconds: float
) -> tuple[list[LoadResult], list[CpuShare]]:
    """Create a customer, then load the hop floor, direct and gateway paths."""
    token = admin_token(gateway, database)
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.post(
        f"{gateway.url}/api/v1/customers",
        json={"name": "Bench Customer", "email": f"bench-{uuid.uuid4().hex[:8]}@example.com"},
        headers=headers,
        timeout=10,
    )
    created.raise_for_status()
    customer_id = created.json()["id"]
    direct_url = f"{customer.url}/customers/{customer_id}"
    gateway_url = f"{gateway.url}/api/v1/customers/{customer_id}"
    # The floor: one gunicorn + Flask hop doing nothing (no token, no limit, no forward).
    results = [run_load("hop-floor", f"{gateway.url}/healthz", {}, concurrency=1, duration=seconds)]
    shares: list[CpuShare] = []
    assert gateway.process is not None
    assert customer.process is not None
    gateway_pid, customer_pid = gateway.process.pid, customer.process.pid
    groups: dict[str, Callable[[], list[int]]] = {
        "gateway": lambda: process_tree(gateway_pid),
        "customer": lambda: process_tree(customer_pid),
        "postgres": lambda: server_pids("postgres", threads=False),
        "redis": lambda: server_pids("redis-server", threads=False),
    }
    for concurrency in CONCURRENCIES:
        for label, url in (("direct", direct_url), ("gateway", gateway_url)):
            result, share = loaded(label, url, headers, concurrency, seconds, groups)
            results.append(result)
            shares.append(share)
    return results, shares


def run_layout(layout: str, args: argparse.Namespace) -> tuple[list[LoadResult], list[CpuShare]]:
    """Start a fresh stack in ``layout``, measure, tear it down."""
    cpus = sorted(os.sched_getaffinity(0))
    tiers: tuple[frozenset[int], frozenset[int]] | None = None
    servers: dict[str, frozenset[int]] = {}
    if layout == "tiers":
        half = len(cpus) // 2
        tiers = (frozenset(cpus[:half]), frozenset(cpus[half:]))
        servers = {"redis-server": tiers[0], "postgres": tiers[1]}
    with tempfile.TemporaryDirectory() as logs, pinned(servers) as refused:
        if refused:
            print(f"[{layout}] could not pin {', '.join(refused)}; left on every CPU")
        gateway, customer, databases = start_stack(args.workers, Path(logs), tiers)
        try:
            return measure(gateway, customer, databases[0], args.seconds)
        finally:
            gateway.stop()
            customer.stop()
            for database in databases:
                drop_database(database)


def print_cpu(layout: str, shares: list[CpuShare]) -> None:
    """Print the CPU each process group spent per request in each run."""
    names = list(shares[0].per_request_us)
    print(f"{layout}: CPU per request, microseconds (all processes of each part)")
    print(f"{'path':<10}{'conc':>6}" + "".join(f"{name:>16}" for name in names) + f"{'total':>10}")
    for share in shares:
        values = share.per_request_us
        print(
            f"{share.label:<10}{share.concurrency:>6}"
            + "".join(f"{values[name]:>16.0f}" for name in names)
            + f"{sum(values.values()):>10.0f}"
        )


def print_table(layout: str, results: list[LoadResult]) -> None:
    """Print each run's figures, then the gateway-to-direct ratios."""
    columns = ("conc", "requests", "errors", "p50 ms", "p99 ms", "req/s")
    print(f"{'layout':<8}{'path':<10}" + "".join(f"{column:>10}" for column in columns))
    for result in results:
        print(
            f"{layout:<8}{result.label:<10}{result.concurrency:>10}{result.requests:>10}"
            f"{result.errors:>10}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}"
            f"{result.requests_per_second:>10.0f}"
        )
    for concurrency in CONCURRENCIES:
        direct = next(r for r in results if r.label == "direct" and r.concurrency == concurrency)
        through = next(r for r in results if r.label == "gateway" and r.concurrency == concurrency)
        throughput = through.requests_per_second / direct.requests_per_second
        print(
            f"{layout}, concurrency {concurrency:>2}: gateway adds "
            f"{through.p50_ms - direct.p50_ms:.2f} ms at p50 "
            f"({through.p50_ms / direct.p50_ms:.2f}x), "
            f"{through.p99_ms - direct.p99_ms:.2f} ms at p99; "
            f"throughput {throughput:.0%} of direct"
        )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers per service")
    parser.add_argument(
        "--layout", choices=("both", "shared", "tiers"), default="both", help="CPU layout(s)"
    )
    args = parser.parse_args()
    layouts = ("shared", "tiers") if args.layout == "both" else (args.layout,)
    if "tiers" in layouts and len(os.sched_getaffinity(0)) < 2:
        print("tiers layout needs at least 2 CPUs; running shared only")
        layouts = ("shared",)

    print(
        f"GET /customers/{{id}}: {args.workers} gevent workers per service, "
        f"{args.seconds:.0f} s per run, {len(os.sched_getaffinity(0))} CPUs"
    )
    for layout in layouts:
        results, shares = run_layout(layout, args)
        print_table(layout, results)
        print_cpu(layout, shares)


if __name__ == "__main__":
    main()
