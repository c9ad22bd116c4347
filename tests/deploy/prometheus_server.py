"""A real Prometheus server for a test: its own folder and port, our rules, stopped after."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

from deploy.prometheus.config import RULES, Target, configuration, render
from tests.support.processes import free_port

#: Grafana's global variables the dashboards use, as a test's queries run them.
GRAFANA_VARIABLES = {"$__rate_interval": "30s"}


def as_query(expression: str) -> str:
    """A dashboard expression with Grafana's variables replaced, ready for Prometheus."""
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


class PrometheusServer:
    """``prometheus`` scraping ``targets`` every second and evaluating ``rules.yml``."""

    def __init__(self, targets: Iterable[Target]) -> None:
        self.targets = list(targets)
        self.folder = Path(tempfile.mkdtemp(prefix="clientele-test-prometheus-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        """Write the configuration, start the server, wait until it is ready."""
        binary = shutil.which("prometheus")
        assert binary, "prometheus is needed (Debian package prometheus): make run-tools"
        config = self.folder / "prometheus.yml"
        config.write_text(
            render(
                configuration(
                    self.targets,
                    scrape_interval="1s",
                    evaluation_interval="1s",
                    rule_files=[str(RULES)],
                )
            )
        )
        log = (self.folder / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"Prometheus not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        """What the server printed."""
        path = self.folder / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def api(self, path: str, **params: Any) -> Any:
        """``GET /api/v1/<path>``'s data; fails the test with Prometheus's error if any."""
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector ``expression`` gives now (Grafana's variables replaced)."""
        data = self.api("query", query=as_query(expression))
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def query_range(self, expression: str, start: float, end: float, step: float) -> list[Any]:
        """The series ``expression`` gives from ``start`` to ``end`` (Unix seconds)."""
        data = self.api("query_range", query=as_query(expression), start=start, end=end, step=step)
        return list(data["result"])

    def wait_for_targets(self, timeout: float = 30.0) -> None:
        """Wait until every target has been scraped successfully."""
        deadline = time.monotonic() + timeout
        down: list[str] = [target.job for target in self.targets]
        while time.monotonic() < deadline:
            active = self.api("targets", state="active")["activeTargets"]
            down = [
                f"{target['labels']['job']}: {target['lastError'] or target['health']}"
                for target in active
                if target["health"] != "up"
            ]
            if len(active) == len(self.targets) and not down:
                return
            time.sleep(0.5)
        raise AssertionError(f"targets not scraped after {timeout} s: {down}")
