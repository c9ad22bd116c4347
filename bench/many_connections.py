"""Ten thousand keep-alive connections through the gateway: ``python -m bench.many_connections``.

Opens ``--connections`` keep-alive connections to the gateway (a few thousand a
second), then, for ``--seconds``, sends ``GET /api/v1/customers/{id}`` at a
modest fixed total rate (``--rate`` requests/s, spread over the connections:
each one asks every connections/rate seconds, from a random start). Prints how
many connections were held, the requests, errors and latency percentiles.
Target: 10,000 connections, 0 errors, p99 under 1 s.

The client is asyncio with raw HTTP/1.1 on the standard library: one process,
one coroutine per connection, so ten thousand of them cost little CPU at a few
hundred requests a second. The gateway runs with enough gevent connections per
worker (``WORKER_CONNECTIONS``) for them all; both services write their access logs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.gateway_overhead import admin_token, start_stack
from tests.support.databases import drop_database


@dataclass
class Tally:
    """What the connections saw."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    opened: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def connection(
    host: str, port: int, request: bytes, every: float, until: float, tally: Tally
) -> None:
    """One keep-alive connection asking every ``every`` seconds until ``until``."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        tally.error(f"connect: {type(error).__name__}")
        return
    tally.opened += 1
    try:
        await asyncio.sleep(random.uniform(0, every))  # nosec B311 # spread, not a secret
        while time.monotonic() < until:
            started = time.monotonic()
            writer.write(request)
            await writer.drain()
            status = await asyncio.wait_for(read_response(reader), timeout=30)
            tally.latencies.append(time.monotonic() - started)
            if status != 200:
                tally.error(f"status {status}")
            await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
        tally.error(f"connection: {type(error).__name__}")
    finally:
        writer.close()


async def load(
    host: str, port: int, path: str, token: str, connections: int, rate: float, seconds: float
) -> Tally:
    """Open the connections, load them for ``seconds``, and tally."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    tally = Tally()
    every = connections / rate
    opening = connections / 2000
    until = time.monotonic() + opening + seconds
    tasks = []
    for index in range(connections):
        tasks.append(asyncio.create_task(connection(host, port, request, every, until, tally)))
        if index % 200 == 199:
            await asyncio.sleep(0.1)
    await asyncio.gather(*tasks)
    return tally


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` (seconds)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def main() -> None:
    """Start the stack, hold the connections, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500.0, help="total requests/s")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2, help="gateway gevent workers")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 1024
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    # Every gevent worker of the gateway may hold all of them (the kernel spreads them).
    os.environ["WORKER_CONNECTIONS"] = str(args.connections + 100)
    with tempfile.TemporaryDirectory() as logs:
        gateway, customer, databases = start_stack(args.workers, Path(logs), log_level="INFO")
        try:
            token = admin_token(gateway, databases[0])
            created = requests.post(
                f"{gateway.url}/api/v1/customers",
                json={"name": "Held", "email": f"held-{uuid.uuid4().hex[:8]}@example.com"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            created.raise_for_status()
            path = f"/api/v1/customers/{created.json()['id']}"
            tally = asyncio.run(
                load(
                    "127.0.0.1",
                    gateway.port,
                    path,
                    token,
                    args.connections,
                    args.rate,
                    args.seconds,
                )
            )
        finally:
            gateway.stop()
            customer.stop()
            for database in databases:
                drop_database(database)
    latencies = tally.latencies
    print(
        f"{tally.opened:,} of {args.connections:,} keep-alive connections opened to the gateway,"
        f" {args.rate:.0f} requests/s for {args.seconds:.0f} s: {len(latencies):,} requests,"
        f" errors {sum(tally.errors.values())} {tally.errors or ''}"
    )
    if latencies:
        print(
            f"latency p50 {statistics.median(latencies) * 1000:.1f} ms,"
            f" p99 {percentile(latencies, 0.99) * 1000:.1f} ms,"
            f" max {max(latencies) * 1000:.1f} ms (target: 0 errors, p99 under 1 s)"
        )


if __name__ == "__main__":
    main()
