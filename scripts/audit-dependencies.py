"""Audit every lock for known vulnerabilities with pip-audit; a network failure only warns.

    python scripts/audit-dependencies.py requirements/dev.txt requirements/gateway.txt ...

Each lock is audited exactly as pinned (``--require-hashes --disable-pip``:
nothing is resolved or installed). A known vulnerability fails the run and
prints its advisory id, aliases and the fixed versions. When the vulnerability
service (PyPI's JSON API) cannot be reached, the run warns that the locks were
NOT audited and passes, so `make test` still works offline. A machine behind a
proxy that answers "not found" for every package counts as unreachable too:
pip-audit itself would then report "no known vulnerabilities" having checked
nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What pip-audit's traceback says when the service is out of reach.
NETWORK_ERRORS = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "NameResolutionError",
    "Max retries exceeded",
    "SSLError",
    "ProxyError",
    "Network is unreachable",
    "Temporary failure in name resolution",
)


@dataclass
class Outcome:
    """What auditing one lock found."""

    lock: Path
    packages: int = 0
    #: One line per vulnerability: package, version, advisory, fixed versions.
    vulnerabilities: list[str] = field(default_factory=list)
    #: Packages the service could not judge, with its reason.
    skipped: list[str] = field(default_factory=list)
    #: Set when the service was not reached: the lock was not audited.
    unreachable: str | None = None
    #: Set when pip-audit failed for another reason (a malformed lock...).
    error: str | None = None


def describe(dependency: dict[str, Any], vulnerability: dict[str, Any]) -> str:
    """``flask 2.0.0: PYSEC-2023-62 (CVE-2023-30861), fixed in 2.2.5, 2.3.2``."""
    aliases = vulnerability.get("aliases") or []
    fixes = vulnerability.get("fix_versions") or []
    return (
        f"{dependency['name']} {dependency.get('version', '?')}: {vulnerability['id']}"
        + (f" ({', '.join(aliases)})" if aliases else "")
        + (f", fixed in {', '.join(fixes)}" if fixes else ", no fixed release yet")
    )


def judge(lock: Path, report: dict[str, Any] | None, returncode: int, stderr: str) -> Outcome:
    """Turn pip-audit's JSON report (None when it wrote none) and its errors into an outcome."""
    outcome = Outcome(lock)
    if report is None:
        last_line = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {returncode}"
        if any(marker in stderr for marker in NETWORK_ERRORS):
            outcome.unreachable = last_line
        else:
            outcome.error = last_line
        return outcome
    dependencies = report.get("dependencies", [])
    outcome.packages = len(dependencies)
    for dependency in dependencies:
        for vulnerability in dependency.get("vulns") or []:
            outcome.vulnerabilities.append(describe(dependency, vulnerability))
        if "skip_reason" in dependency:
            outcome.skipped.append(f"{dependency['name']}: {dependency['skip_reason']}")
    if dependencies and len(outcome.skipped) == len(dependencies):
        outcome.unreachable = (
            f"the service judged none of the {len(dependencies)} packages ({outcome.skipped[0]})"
        )
    elif returncode != 0 and not outcome.vulnerabilities:
        outcome.error = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {returncode}"
    return outcome


def audit(lock: Path, timeout: int) -> Outcome:
    """Run pip-audit over one lock, as pinned, and judge its report."""
    with tempfile.TemporaryDirectory(prefix="clientele-audit-") as folder:
        output = Path(folder) / "audit.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "--requirement",
                str(lock),
                "--require-hashes",
                "--disable-pip",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--aliases",
                "on",
                "--desc",
                "off",
                "--timeout",
                str(timeout),
                "--output",
                str(output),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            report = json.loads(output.read_text())
        except (OSError, ValueError):
            report = None
    return judge(lock, report, done.returncode, done.stderr)


def main(argv: list[str] | None = None) -> int:
    """Audit each lock; 1 on a known vulnerability or a failed audit, 0 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locks", nargs="+", type=Path, help="hashed requirement files")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per request")
    arguments = parser.parse_args(argv)

    failed = False
    for index, lock in enumerate(arguments.locks):
        outcome = audit(lock, arguments.timeout)
        if outcome.unreachable is not None:
            not_audited = ", ".join(str(path) for path in arguments.locks[index:])
            print(
                "audit: WARNING: the vulnerability service (PyPI's JSON API) could not be"
                f" reached: {outcome.unreachable}.\n"
                f"audit: WARNING: NOT audited: {not_audited}."
                " Run `make audit` where pypi.org is reachable.",
                file=sys.stderr,
            )
            break
        if outcome.error is not None:
            print(f"audit: {lock}: pip-audit failed: {outcome.error}", file=sys.stderr)
            failed = True
            continue
        if outcome.vulnerabilities:
            failed = True
            count = len(outcome.vulnerabilities)
            print(f"audit: {lock}: {count} known vulnerabilit{'y' if count == 1 else 'ies'}:")
            for line in outcome.vulnerabilities:
                print(f"  {line}")
        else:
            print(f"audit: {lock}: {outcome.packages} packages, no known vulnerability")
        if outcome.skipped:
            print(f"audit: {lock}: WARNING: not judged: {'; '.join(outcome.skipped)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
