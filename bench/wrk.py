"""Driving ``wrk`` from a benchmark: one run, its throughput and latency percentiles.

``wrk`` is a load generator written in C: at the concurrencies measured here it
takes a small part of the CPU the Python clients of ``bench/load.py`` would, so
on a 2-core machine the process under test keeps more of the cores. Requests
other than a plain GET (a POST with rotating bodies) are made by a Lua script
written for the run; ``--latency`` gives the percentiles, parsed from its report.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m)\s*$")


@dataclass(frozen=True)
class WrkResult:
    """What one ``wrk`` run measured."""

    requests: int
    seconds: float
    errors: int
    #: Latency percentile (50, 75, 90, 99) -> milliseconds.
    percentiles: dict[float, float]

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket string literal that nothing in it can close."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def post_script(bodies: list[str], headers: dict[str, str]) -> str:
    """A wrk script POSTing ``bodies`` in turn (each connection starting elsewhere)."""
    lines = ["wrk.method = 'POST'"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[ {lua_string(name)} ] = {lua_string(value)}")
    lines.append("local bodies = {" + ",\n".join(lua_string(body) for body in bodies) + "}")
    lines.append("local n = 0")
    lines.append("function setup(thread) n = n + 1; thread:set('offset', n * 7919) end")
    lines.append("local i = 0")
    lines.append(
        "function request() i = i + 1; "
        "return wrk.format(nil, nil, nil, bodies[((offset or 0) + i) % #bodies + 1]) end"
    )
    return "\n".join(lines) + "\n"


def parse(report: str) -> WrkResult:
    """The figures of a ``wrk --latency`` report."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", report)
    if done is None:
        raise ValueError(f"not a wrk report:\n{report}")
    seconds = float(done.group(2)) * UNITS[done.group(3)] / 1000
    errors = 0
    for match in re.finditer(r"Non-2xx or 3xx responses: (\d+)", report):
        errors += int(match.group(1))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    percentiles = {}
    for line in report.splitlines():
        found = _PERCENTILE.match(line)
        if found:
            percentiles[float(found.group(1))] = float(found.group(2)) * UNITS[found.group(3)]
    return WrkResult(int(done.group(1)), seconds, errors, percentiles)


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    bodies: list[str] | None = None,
    timeout_seconds: float = 30.0,
) -> WrkResult:
    """One closed-loop run of ``connections`` keep-alive connections for ``seconds``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: make bench installs it (scripts/ensure-tools.sh)")
    command = [
        wrk,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_seconds))}s",
        "--latency",
    ]
    with tempfile.TemporaryDirectory() as folder:
        if bodies is not None:
            script = Path(folder) / "post.lua"
            script.write_text(post_script(bodies, headers or {}))
            command += ["-s", str(script)]
        else:
            for name, value in (headers or {}).items():
                command += ["-H", f"{name}: {value}"]
        command.append(url)
        report = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    return parse(report)
