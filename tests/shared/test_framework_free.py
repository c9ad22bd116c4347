"""The core knows no web framework: importing it loads neither Flask nor Werkzeug.

Each module is imported in a fresh interpreter, so what another test (or this
process) imported before cannot hide an import, and nothing can be left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("flask", "werkzeug")
FRAMEWORK_FREE = [
    "shared.errors",
    "shared.auth",
    "shared.settings",
    "shared.logs",
    "shared.database",
    "shared.migrations",
    "shared.discovery",
    "shared.contract",
    "shared.services",
    "shared.cursors",
    "shared.query_parameters",
    "shared.worker",
    "shared.events.envelope",
    "shared.events.publisher",
    "shared.events.consumer",
    "shared.events.process",
    "customer_service.service",
    "customer_service.store",
    "customer_service.schemas",
]
PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
frameworks = sys.argv[2:]
print(json.dumps(sorted(
    name for name in sys.modules
    if any(name == f or name.startswith(f + ".") for f in frameworks)
)))
"""


def frameworks_loaded_by(module: str) -> list[str]:
    """The Flask and Werkzeug modules a fresh interpreter holds after importing ``module``."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, module, *FRAMEWORKS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: list[str] = json.loads(probe.stdout)
    return loaded


@pytest.mark.parametrize("module", FRAMEWORK_FREE)
def test_importing_the_core_loads_no_web_framework(module: str) -> None:
    assert frameworks_loaded_by(module) == []


def test_the_probe_sees_a_framework_when_one_is_imported() -> None:
    # Without this, a probe that never saw anything would pass every case above.
    assert "flask" in frameworks_loaded_by("shared.web.app")
