"""The Procfile ``shared.services.procfile`` writes: every declared process, then Prometheus."""

from __future__ import annotations

import subprocess
import sys

from shared.services import ROOT, load_services, procfile


def _entries() -> dict[str, str]:
    lines = [line for line in procfile().splitlines() if line and not line.startswith("#")]
    return dict(line.split(": ", 1) for line in lines)


def test_every_declared_process_has_its_entry_and_prometheus_comes_last() -> None:
    entries = _entries()
    declared = [process.procfile_name for s in load_services() for process in s.processes]
    assert list(entries) == [*declared, "prometheus"]
    assert entries["prometheus"] == "python -m deploy.prometheus.local"


def test_the_prometheus_entry_runs_the_local_prometheus_module() -> None:
    command = _entries()["prometheus"].split()
    assert command[:2] == ["python", "-m"]
    printed = subprocess.run(
        [sys.executable, "-m", command[2], "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert "PROMETHEUS_BIND" in printed.stdout
