"""What micro-batching buys the NLP service: ``python -m bench.nlp_throughput``.

Starts the NLP service under gunicorn as ``make run`` does (one gevent worker,
its own database, a JWKS served from here for the tokens), with the prediction
cache off so every text costs a forward pass, and sends ``POST /nlp/sentiment``
with one text per request:

- one by one: one connection, request after request (texts/s, and the latency
  of a lone request: p50 and p95);
- concurrency 16: sixteen connections at once (texts/s).

Both with micro-batching on and off (``NLP_BATCHING``), in the same run, so the
ratios compare like with like. Also prints the worker's peak RSS (``VmHWM``).
Texts are the held-out customer messages (``bench/nlp_data``), 20 words or so.

The texts/s figures come from ``wrk`` (``bench/wrk.py``), a load generator in C
that leaves the 2 cores to the service; the lone request's percentiles from one
Python client. The same comparison is also made in this process without HTTP
(``Engine.encode`` from 1 and from 16 threads, the batcher doing what it does in
the worker).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import requests

from bench.wrk import run_wrk
from nlp_service.app import engine_options
from nlp_service.engine import Engine
from nlp_service.settings import Settings
from nlp_service.training.data import read_examples
from tests.support.databases import drop_database, migrated_database
from tests.support.processes import ServiceProcess, free_port
from tests.support.tokens import TestIssuer

HELD_OUT = Path(__file__).with_name("nlp_data")


def serve_jwks(issuer: TestIssuer) -> tuple[ThreadingHTTPServer, str]:
    """The issuer's public key as a JWKS, where the service fetches the gateway's."""
    key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.public_key))
    body = json.dumps({"keys": [{**key, "kid": issuer.kid, "use": "sig", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/jwks.json"


def worker_peak_rss_mb(service: ServiceProcess) -> float:
    """The largest ``VmHWM`` among the gunicorn master's children (the worker)."""
    assert service.process is not None
    peak = 0
    children = Path(f"/proc/{service.process.pid}/task/{service.process.pid}/children")
    for pid in children.read_text().split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def run(
    service: ServiceProcess, headers: dict[str, str], texts: list[str], clients: int, seconds: float
) -> tuple[float, list[float]]:
    """Texts/s and every request's latency (s), ``clients`` at once for ``seconds``."""
    url = f"{service.url}/nlp/sentiment"
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def client(index: int) -> int:
        session = requests.Session()
        done, own = 0, []
        while time.perf_counter() < stop:
            text = texts[(index * 7919 + done) % len(texts)]
            started = time.perf_counter()
            response = session.post(url, json={"texts": [text]}, headers=headers, timeout=60)
            own.append(time.perf_counter() - started)
            response.raise_for_status()
            done += 1
        with lock:
            latencies.extend(own)
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(client, range(clients)))
    return total / (time.perf_counter() - started), latencies


def in_process(seconds: float, concurrency: int, texts: list[str]) -> dict[str, float]:
    """Texts/s through the engine's batcher, one caller and ``concurrency`` callers."""
    engine = Engine(engine_options(Settings(NLP_CACHE_TTL_SECONDS=0))).load()
    figures = {}
    for name, callers in (("alone", 1), ("together", concurrency)):
        stop = time.perf_counter() + seconds

        def caller(index: int, stop: float = stop) -> int:
            done = 0
            while time.perf_counter() < stop:
                engine.encode([texts[(index * 7919 + done) % len(texts)]])
                done += 1
            return done

        started = time.perf_counter()
        with ThreadPoolExecutor(callers) as pool:
            total = sum(pool.map(caller, range(callers)))
        figures[name] = total / (time.perf_counter() - started)
    return figures


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    texts = [e.text for e in read_examples(sorted(HELD_OUT.glob("sentiment-holdout-*.jsonl")))]
    issuer = TestIssuer()
    server, jwks = serve_jwks(issuer)
    database = migrated_database("nlp_service", "bench")
    headers = issuer.headers("viewer")
    bodies = [json.dumps({"texts": [text]}) for text in texts]
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as logs:
            for batching in ("true", "false"):
                env = {
                    "NLP_DATABASE_URL": database,
                    "JWT_JWKS_URL": jwks,
                    "NLP_BATCHING": batching,
                    "NLP_CACHE_TTL_SECONDS": "0",
                    "NLP_TORCH_THREADS": "0",  # torch's own choice, as in production
                    "LOG_LEVEL": "WARNING",
                }
                service = ServiceProcess("nlp_service", env, workers=1).start(Path(logs))
                try:
                    service.wait_for("/readyz", timeout=120)
                    run(service, headers, texts, 4, 2.0)  # warm the connections and the pool
                    _, latencies = run(service, headers, texts, 1, args.seconds / 2)
                    url = f"{service.url}/nlp/sentiment"
                    alone_run, together_run = (
                        run_wrk(
                            url,
                            connections=connections,
                            threads=2,
                            seconds=args.seconds,
                            headers=headers,
                            bodies=bodies,
                        )
                        for connections in (1, args.concurrency)
                    )
                    if alone_run.errors or together_run.errors:
                        raise RuntimeError(f"failed requests: {alone_run}, {together_run}")
                    alone = alone_run.requests_per_second
                    together = together_run.requests_per_second
                    results[batching] = {
                        "alone": alone,
                        "together": together,
                        "p50": statistics.median(latencies) * 1000,
                        "p95": percentile(latencies, 0.95) * 1000,
                        "rss": worker_peak_rss_mb(service),
                    }
                finally:
                    service.stop()
    finally:
        server.shutdown()
        drop_database(database)

    print(f"POST /nlp/sentiment, one text per request, cache off, {args.seconds:.0f} s per run")
    for batching, name in (("true", "micro-batching on"), ("false", "micro-batching off")):
        row = results[batching]
        print(
            f"  {name:<19} one by one {row['alone']:6.1f} texts/s (lone request p50 "
            f"{row['p50']:.1f} ms, p95 {row['p95']:.1f} ms); concurrency {args.concurrency} "
            f"{row['together']:6.1f} texts/s; worker peak RSS {row['rss']:.0f} MB"
        )
    on, off = results["true"], results["false"]
    core = in_process(args.seconds, args.concurrency, texts)
    print(
        f"  concurrency {args.concurrency} with batching / one by one: "
        f"{on['together'] / on['alone']:.2f}x (target 3x); "
        f"batching on / off at concurrency {args.concurrency}: "
        f"{on['together'] / off['together']:.2f}x"
    )
    print(
        f"  in process, no HTTP: one by one {core['alone']:.1f} texts/s, concurrency "
        f"{args.concurrency} {core['together']:.1f} texts/s: "
        f"{core['together'] / core['alone']:.2f}x"
    )


if __name__ == "__main__":
    main()
