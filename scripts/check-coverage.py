"""Print statement coverage per package from coverage's JSON report; fail under the bar.

    python scripts/check-coverage.py var/coverage/coverage.json shared gateway customer_service

One line per package (statements, covered, percent). Exits 1 when a package is
under ``--fail-under`` (90 by default, the platform's bar for every service) or
has no measured file at all, and then names the files missing the most
statements. Only the standard library: it reads the file ``coverage json``
(or ``pytest --cov-report=json:...``) writes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: How many of a failing package's files to name.
WORST_FILES = 5


@dataclass
class PackageCoverage:
    """Statement counts summed over one package's files."""

    name: str
    statements: int = 0
    covered: int = 0
    #: (missed statements, path) of every file in the package.
    files: list[tuple[int, str]] = field(default_factory=list)

    @property
    def percent(self) -> float:
        """Covered statements as a percentage (100 for a package with no statement)."""
        return 100.0 * self.covered / self.statements if self.statements else 100.0


def package_of(path: str, packages: list[str]) -> str | None:
    """The package ``path`` (relative to the checkout, or absolute) belongs to."""
    file = Path(path)
    if file.is_absolute():
        try:
            file = file.relative_to(ROOT)
        except ValueError:
            return None
    top = file.parts[0] if file.parts else ""
    return top if top in packages else None


def measure(report: dict[str, object], packages: list[str]) -> dict[str, PackageCoverage]:
    """Sum the report's per-file summaries into one entry per package."""
    result = {name: PackageCoverage(name) for name in packages}
    files = report.get("files")
    if not isinstance(files, dict):
        raise ValueError("no 'files' in the report: is it coverage's JSON report?")
    for path, entry in files.items():
        name = package_of(path, packages)
        if name is None:
            continue
        summary = entry["summary"]
        package = result[name]
        package.statements += summary["num_statements"]
        package.covered += summary["covered_lines"]
        package.files.append((summary["missing_lines"], path))
    return result


def floor_one_decimal(percent: float) -> str:
    """``89.96`` shows as ``89.9``: a failing figure never prints as the bar itself."""
    return f"{math.floor(percent * 10) / 10:.1f}"


def main(argv: list[str] | None = None) -> int:
    """Print the table; 0 when every package reaches the bar, 1 when one does not."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="coverage's JSON report")
    parser.add_argument("packages", nargs="+", help="top-level packages to hold to the bar")
    parser.add_argument("--fail-under", type=float, default=90.0, metavar="PERCENT")
    arguments = parser.parse_args(argv)

    try:
        report = json.loads(arguments.report.read_text())
        packages = measure(report, arguments.packages)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"check-coverage: cannot read {arguments.report}: {error}", file=sys.stderr)
        return 2

    bar = arguments.fail_under
    print(f"coverage by package (statements; at least {bar:g}% each):")
    failing: list[PackageCoverage] = []
    for package in packages.values():
        too_low = not package.files or package.percent < bar
        verdict = "no file measured" if not package.files else ("UNDER" if too_low else "ok")
        print(
            f"  {package.name:<20} {package.statements:>6} statements"
            f" {package.covered:>6} covered {floor_one_decimal(package.percent):>6}%  {verdict}"
        )
        if too_low:
            failing.append(package)

    for package in failing:
        worst = sorted((entry for entry in package.files if entry[0]), reverse=True)
        if worst:
            named = ", ".join(f"{path} ({missed})" for missed, path in worst[:WORST_FILES])
            print(f"{package.name}: most statements missed in {named}")
    if failing:
        names = ", ".join(package.name for package in failing)
        print(f"check-coverage: under {bar:g}%: {names}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
