"""Start any Clientele service as a real gunicorn process on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "shared" / "gunicorn_conf.py"
#: What a process prints when a port it was given is bound by another.
PORT_TAKEN = "Address already in use"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _running(pid: int) -> bool:
    """Whether ``pid`` is still running (reaped here when it is a child that ended)."""
    try:
        ended, _ = os.waitpid(pid, os.WNOHANG)
        return ended == 0
    except ChildProcessError:
        pass  # not a child of this process: its parent, or init, reaps it
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_pids(pids: Iterable[int], timeout: float = 15.0) -> None:
    """SIGTERM every process in ``pids`` at once, wait for them all, SIGKILL any left at the end.

    For processes another test process started (the shared platform), which
    only their pids reach.
    """
    remaining = set(pids)
    for pid in remaining:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        remaining = {pid for pid in remaining if _running(pid)}
        time.sleep(0.05)
    for pid in remaining:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


Started = TypeVar("Started", "ServiceProcess", "WorkerProcess")


def _on_a_free_metrics_port(process: Started, start: Callable[[], Started]) -> Started:
    """``start()``; if another process bound its metrics port first, again on another (twice)."""
    for attempt in range(3):
        try:
            return start()
        except RuntimeError:
            if attempt == 2 or PORT_TAKEN not in process.output():
                raise
            process.metrics_port = free_port()
    raise AssertionError("unreachable")


@dataclass
class ServiceProcess:
    """A service under gunicorn, its URL and its captured output."""

    package: str
    env: dict[str, str]
    workers: int = 2
    port: int = field(default_factory=free_port)
    #: Where the master serves every worker's metrics (apart from the API).
    metrics_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    #: CPUs the process and its workers may run on (all when None).
    cpus: frozenset[int] | None = None

    @property
    def url(self) -> str:
        """Base URL of the running process."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Where its Prometheus metrics are served."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self, log_dir: Path, timeout: float = 90.0) -> ServiceProcess:
        """Launch and wait until ``/healthz`` answers (a process that exits fails at once).

        The NLP service imports torch and transformers before it listens: on a
        loaded 2-core machine that has taken over 30 s.

        :func:`free_port` only finds a port free at that moment: another process of
        the suite may bind it first. A metrics port lost that way is picked again
        (twice at most); the API port stays, as others may already know it.
        """
        return _on_a_free_metrics_port(self, lambda: self._start(log_dir, timeout))

    def _start(self, log_dir: Path, timeout: float) -> ServiceProcess:
        self.log_path = log_dir / f"{self.package}-{self.port}.log"
        environment = {
            **os.environ,
            "WEB_CONCURRENCY": str(self.workers),
            # Many stacks share one PostgreSQL (100 connections) while the suite runs in
            # parallel; a gevent worker may fill its whole pool, so tests keep pools small.
            "DATABASE_POOL_SIZE": os.environ.get("TEST_DATABASE_POOL_SIZE", "2"),
            "PYTHONUNBUFFERED": "1",
            # The NLP service's torch: one thread, as the suite runs many processes at once.
            "NLP_TORCH_THREADS": os.environ.get("TEST_NLP_TORCH_THREADS", "1"),
            "PROMETHEUS_MULTIPROC_DIR": str(log_dir / f"metrics-{self.package}-{self.port}"),
            "METRICS_BIND": f"127.0.0.1:{self.metrics_port}",
            **self.env,
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(GUNICORN_CONF),
            "--bind",
            f"127.0.0.1:{self.port}",
            f"{self.package}.app:create_app()",
        ]
        log = self.log_path.open("wb")
        cpus = self.cpus
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Set in the child before gunicorn starts, so every worker inherits it.
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        try:
            self.wait_for("/healthz", timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def wait_for(self, path: str, timeout: float = 30.0) -> None:
        """Poll ``path`` until it answers 200 (``/healthz``: up; ``/readyz``: ready)."""
        assert self.process is not None, "start() the process first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.package} exited at start:\n{self.output()}")
            try:
                if requests.get(f"{self.url}{path}", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet, or workers still booting
            time.sleep(0.1)
        raise RuntimeError(f"{self.package}: {path} did not answer 200:\n{self.output()}")

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then kill if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """``kill -9`` the master and its workers at once, as a dying machine would."""
        assert self.process is not None, "start() the process first"
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        workers = (
            [int(child) for child in children.read_text().split()] if children.exists() else []
        )
        for target in [pid, *workers]:
            with suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        self.process.wait()

    def restart(self, timeout: float = 30.0) -> ServiceProcess:
        """Start it again (after :meth:`kill` or :meth:`stop`) on the same port."""
        assert self.log_path is not None, "start() the process first"
        return self.start(self.log_path.parent, timeout)


@dataclass
class WorkerProcess:
    """A worker (``python -m <module>``: relay, consumer) with its probe listener on a free port."""

    module: str
    env: dict[str, str]
    metrics_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _ready_path: str = "/readyz"

    @property
    def url(self) -> str:
        """Base URL of its ``/metrics``, ``/healthz`` and ``/readyz`` listener."""
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def metrics_url(self) -> str:
        """Where its Prometheus metrics are served."""
        return f"{self.url}/metrics"

    def start(self, log_dir: Path, *, ready: bool = True, timeout: float = 30.0) -> WorkerProcess:
        """Launch; wait until ``/readyz`` (or, with ``ready=False``, ``/healthz``) answers 200.

        A probe port another process bound first is picked again, as for services.
        """
        return _on_a_free_metrics_port(
            self, lambda: self._start(log_dir, ready=ready, timeout=timeout)
        )

    def _start(self, log_dir: Path, *, ready: bool, timeout: float) -> WorkerProcess:
        self.log_path = log_dir / f"{self.module}-{self.metrics_port}.log"
        self._ready_path = "/readyz" if ready else "/healthz"
        environment = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "METRICS_BIND": f"127.0.0.1:{self.metrics_port}",
            **self.env,
        }
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.wait_for("/readyz" if ready else "/healthz", timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def restart(self, timeout: float = 30.0) -> WorkerProcess:
        """Start it again (after :meth:`kill` or :meth:`stop`), same port, same log."""
        assert self.log_path is not None, "start() the process first"
        return self.start(
            self.log_path.parent, ready=self._ready_path == "/readyz", timeout=timeout
        )

    def probe(self, path: str) -> int:
        """The status ``path`` answers with, or 0 if nothing listens."""
        try:
            return requests.get(f"{self.url}{path}", timeout=2).status_code
        except requests.RequestException:
            return 0

    def wait_for(self, path: str, timeout: float = 30.0) -> None:
        """Poll ``path`` until it answers 200."""
        assert self.process is not None, "start() the process first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited:\n{self.output()}")
            if self.probe(path) == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.module}: {path} did not answer 200:\n{self.output()}")

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """``kill -9``: no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then kill if it lingers; the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
