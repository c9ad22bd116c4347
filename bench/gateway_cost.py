"""The gateway's own cost next to a plain reverse proxy: ``python -m bench.gateway_cost``.

One run, three paths to the same ``GET /customers/{id}`` of one customer service
(gunicorn, gevent workers, its own database):

- **direct**: to the customer service itself;
- **nginx**: through nginx from Debian as a plain keep-alive reverse proxy (the
  floor: what putting any proxy in front costs);
- **gateway**: through the gateway, with its token check, rate limit, contract
  match, resilience layer and access log.

Both services run at ``LOG_LEVEL=INFO``, so each writes its JSON access log line
per request (to the run's log folder), as in production.

Each path is loaded with ``wrk`` (``bench/wrk.py``) for ``--seconds`` at each
concurrency, everything sharing the machine's cores, and the table gives the
throughput ratios against direct and the latency the proxy adds. Targets (issue
"gateway cost"): gateway/direct >= 0.60 at concurrency 32; added p50 <= 1 ms at
concurrency 1; 0 errors and p99 within 1.5x of direct at 1,000 connections.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import requests

from bench.gateway_overhead import admin_token, start_stack
from bench.wrk import WrkResult, run_wrk
from tests.support.databases import drop_database
from tests.support.processes import free_port

CONCURRENCIES = (1, 32, 256, 1000)
HEADER = (
    "| concurrency / path | req/s | vs direct | p50 ms | added p50 ms | p99 ms | errors |\n"
    "|---|---|---|---|---|---|---|"
)

NGINX_CONF = """\
worker_processes auto;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream customer {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://customer;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def start_nginx(folder: Path, upstream: int) -> tuple[subprocess.Popen[bytes], str]:
    """nginx proxying to ``upstream`` on a free port; the process and its base URL."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, upstream=upstream, port=port))
    process = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return process, url
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"nginx did not start: {(folder / 'error.log').read_text()}")


def row(label: str, result: WrkResult, direct: WrkResult) -> str:
    """One line of the table."""
    p50, p99 = result.percentiles.get(50.0, 0.0), result.percentiles.get(99.0, 0.0)
    return (
        f"| {label} | {result.requests_per_second:,.0f} | "
        f"{result.requests_per_second / direct.requests_per_second:.2f} | {p50:.2f} | "
        f"{p50 - direct.percentiles.get(50.0, 0.0):+.2f} | {p99:.1f} | {result.errors} |"
    )


def main() -> None:
    """Start the stack and nginx, load the three paths, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per point")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per service")
    parser.add_argument(
        "--gateway-workers", type=int, help="the gateway's gunicorn workers (default: --workers)"
    )
    parser.add_argument(
        "--concurrency", type=int, nargs="*", default=list(CONCURRENCIES), help="connections"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs:
        folder = Path(logs)
        gateway, customer, databases = start_stack(
            args.workers, folder, log_level="INFO", gateway_workers=args.gateway_workers
        )
        nginx: subprocess.Popen[bytes] | None = None
        try:
            nginx, nginx_url = start_nginx(folder, customer.port)
            token = admin_token(gateway, databases[0])
            headers = {"Authorization": f"Bearer {token}"}
            created = requests.post(
                f"{gateway.url}/api/v1/customers",
                json={"name": "Bench Customer", "email": f"b-{uuid.uuid4().hex[:8]}@example.com"},
                headers=headers,
                timeout=10,
            )
            created.raise_for_status()
            customer_id = created.json()["id"]
            paths = {
                "direct": f"{customer.url}/customers/{customer_id}",
                "nginx": f"{nginx_url}/customers/{customer_id}",
                "gateway": f"{gateway.url}/api/v1/customers/{customer_id}",
            }
            print(
                f"GET /customers/{{id}}, wrk, {args.seconds:.0f} s per point, gevent workers:"
                f" {args.workers} for the service, {args.gateway_workers or args.workers} for"
                " the gateway; access logs on, all on the same cores"
            )
            print(HEADER)
            for connections in args.concurrency:
                results = {
                    label: run_wrk(
                        url,
                        connections=connections,
                        threads=2 if connections > 1 else 1,
                        seconds=args.seconds,
                        headers=headers,
                    )
                    for label, url in paths.items()
                }
                for label, result in results.items():
                    print(row(f"{connections} {label}", result, results["direct"]), flush=True)
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait(10)
            gateway.stop()
            customer.stop()
            for database in databases:
                drop_database(database)


if __name__ == "__main__":
    main()
