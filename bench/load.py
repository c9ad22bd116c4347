"""A small closed-loop HTTP load generator: N threads, each on one keep-alive connection."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LoadResult:
    """Latency percentiles (ms) and throughput of one run."""

    label: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second of wall time."""
        return self.requests / self.seconds if self.seconds else 0.0


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def run_load(
    label: str,
    url: str,
    headers: dict[str, str],
    *,
    concurrency: int,
    duration: float,
    warmup: float = 1.0,
) -> LoadResult:
    """GET ``url`` from ``concurrency`` threads for ``duration`` seconds after a warm-up."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start_barrier = threading.Barrier(concurrency + 1)
    measure_from = 0.0
    stop_at = 0.0

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(host, parts.port, timeout=30)
        start_barrier.wait()
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, parts.port, timeout=30)
                ok = False
            ended = time.perf_counter()
            if began >= measure_from:
                if ok:
                    latencies[index].append(ended - began)
                else:
                    errors[index] += 1
        connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    measure_from = now + warmup
    stop_at = measure_from + duration
    start_barrier.wait()
    for thread in threads:
        thread.join()
    samples = sorted(value * 1000 for per_thread in latencies for value in per_thread)
    return LoadResult(
        label=label,
        concurrency=concurrency,
        requests=len(samples),
        errors=sum(errors),
        seconds=duration,
        p50_ms=statistics.median(samples) if samples else float("nan"),
        p99_ms=_percentile(samples, 0.99),
    )
