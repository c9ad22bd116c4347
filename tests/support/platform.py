"""The one platform every e2e test shares: started once per run, whatever the xdist workers.

The first test that asks for it starts it, under a lock, and writes a manifest
(:meth:`Stack.to_manifest`: URLs, users, tokens, pids) into the run's platform
folder; every other worker reads the manifest. The process that runs the
session (the xdist controller, or pytest itself without workers) names the
folder before any worker starts and stops the platform once every test has
run (``pytest_configure`` and ``pytest_runtestloop`` in ``tests/conftest.py``),
before coverage data are combined.

Its processes read request headers and bodies with 5-second deadlines, so the
slow-client tests can wait them out on this platform too; a test client on
loopback never comes near them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from tests.support import broker
from tests.support.databases import drop_database, migrated_database
from tests.support.processes import ServiceProcess, WorkerProcess, stop_pids
from tests.support.stack import Launcher, Stack, launch_stack

#: Names the run's platform folder; set by the session's process, inherited by xdist workers.
FOLDER_VARIABLE = "CLIENTELE_TEST_PLATFORM"
HEADER_DEADLINE = 5
BODY_DEADLINE = 5
#: How long a connection may wait idle for its next request (75 s outside the tests).
IDLE_DEADLINE = 8
#: Set in every process of the platform.
PLATFORM_ENV = {
    "HEADER_READ_TIMEOUT": str(HEADER_DEADLINE),
    "BODY_READ_TIMEOUT": str(BODY_DEADLINE),
    "KEEPALIVE_IDLE_TIMEOUT": str(IDLE_DEADLINE),
}
MANIFEST = "platform.json"
FAILED = "platform.failed"


def create_folder() -> None:
    """Name a fresh platform folder for this run (in the environment workers inherit)."""
    os.environ[FOLDER_VARIABLE] = tempfile.mkdtemp(prefix="clientele-test-platform-")


def _folder() -> Path:
    folder = os.environ.get(FOLDER_VARIABLE)
    assert folder, f"{FOLDER_VARIABLE} is unset: tests/conftest.py's pytest_configure sets it"
    return Path(folder)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / "platform.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_stack() -> Stack:
    """The run's platform: started by the first caller, read from its manifest by the rest."""
    folder = _folder()
    with _locked(folder):
        if (folder / FAILED).exists():
            raise RuntimeError(
                f"the shared platform failed to start:\n{(folder / FAILED).read_text()}"
            )
        if (folder / MANIFEST).exists():
            return Stack.from_manifest(json.loads((folder / MANIFEST).read_text()))
        try:
            stack = _start(folder)
        except Exception as error:
            (folder / FAILED).write_text(repr(error))
            raise
        (folder / MANIFEST).write_text(json.dumps(stack.to_manifest()))
        return stack


def _start(folder: Path) -> Stack:
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    databases: list[str] = []
    processes: list[ServiceProcess | WorkerProcess] = []

    def make_database(package: str) -> str:
        databases.append(migrated_database(package, "platform"))
        return databases[-1]

    def start_service(package: str, env: dict[str, str], **options: int) -> ServiceProcess:
        processes.append(ServiceProcess(package, env, **options).start(logs))
        return processes[-1]  # type: ignore[return-value]

    def start_worker(module: str, env: dict[str, str], *, ready: bool = True) -> WorkerProcess:
        processes.append(WorkerProcess(module, env).start(logs, ready=ready))
        return processes[-1]  # type: ignore[return-value]

    exchange = broker.unique_exchange()
    try:
        return launch_stack(
            Launcher(make_database, start_service, start_worker), exchange, every_env=PLATFORM_ENV
        )
    except BaseException:
        for process in reversed(processes):
            process.stop()
        _remove(databases, exchange)
        raise


def stop_shared_platform() -> None:
    """Stop the run's platform if one started: its processes, databases and exchange."""
    folder = Path(os.environ.get(FOLDER_VARIABLE, ""))
    if not folder.name or not folder.is_dir():
        return
    manifest_path = folder / MANIFEST
    if manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        # Workers first (one still running would declare its queues again), then the web tier.
        stop_pids(entry["pid"] for entry in manifest["workers"].values())
        stop_pids(entry["pid"] for entry in [*manifest["services"].values(), manifest["gateway"]])
        _remove(
            [manifest["gateway_database"], *manifest["databases"].values()],
            manifest["events_exchange"],
        )
    shutil.rmtree(folder, ignore_errors=True)


def _remove(databases: list[str], exchange: str) -> None:
    for url in databases:
        with suppress(Exception):  # best effort: the run's result stands either way
            drop_database(url)
    with suppress(Exception):
        broker.delete_exchange(exchange)
