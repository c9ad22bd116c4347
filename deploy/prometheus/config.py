"""Prometheus scrape configurations, from services.toml: compose's and `make run`'s.

Every process the declaration lists (web processes and workers alike) serves
``/metrics`` on its own listener; each becomes one scrape job named as in the
Procfile (``customer-relay``), its series labelled with the declared service
(``component``) and the process (``process``). Neither label is called
``service`` or ``instance``: the platform's own metrics use those names
(``http_requests_total{service=...}``), and a target label of the same name
would rename them.

    python -m deploy.prometheus.config compose > deploy/prometheus/prometheus.yml
    python -m deploy.prometheus.config local      # what `make run`'s Prometheus scrapes
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.services import Process, Service, load_services

HERE = Path(__file__).resolve().parent
#: The alert rules; compose mounts this folder at /etc/prometheus.
RULES = HERE / "rules.yml"
COMPOSE_CONFIG = HERE / "prometheus.yml"
#: Every process listens for Prometheus on this port inside its container.
COMPOSE_METRICS_PORT = 9100
COMPOSE_HEADER = (
    "# Generated from services.toml by `python -m deploy.prometheus.config compose`; do not edit.\n"
    "# Compose mounts deploy/prometheus/ at /etc/prometheus: rules.yml resolves beside this file.\n"
)


@dataclass(frozen=True)
class Target:
    """One process Prometheus scrapes: its job name, address and labels."""

    job: str
    address: str
    labels: Mapping[str, str]


def declared_processes() -> list[tuple[Service, Process]]:
    """Every process of every declared service, in declaration order."""
    return [(service, process) for service in load_services() for process in service.processes]


def target(service: Service, process: Process, address: str) -> Target:
    """The scrape target of ``process`` at ``address`` (``host:port``)."""
    return Target(
        job=process.procfile_name,
        address=address,
        labels={"component": service.name, "process": process.name},
    )


def compose_targets() -> list[Target]:
    """Every process under compose: its service name (the Procfile name), port 9100."""
    return [
        target(service, process, f"{process.procfile_name}:{COMPOSE_METRICS_PORT}")
        for service, process in declared_processes()
    ]


def scrape_address(bind: str) -> str:
    """Where to reach a listener bound to ``bind``: any-interface binds are reached on loopback."""
    host, _, port = bind.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def metrics_bind(service: Service, process: Process, environ: Mapping[str, str]) -> str:
    """Where ``make run`` binds a process's metrics listener, overrides included.

    The web process reads ``<NAME>_METRICS_BIND`` and a worker
    ``<NAME>_<PROCESS>_METRICS_BIND``, exactly as the Procfile's commands do.
    """
    if process.metrics_port is None:
        return environ.get(service.metrics_bind_variable) or f"127.0.0.1:{service.metrics_port}"
    return environ.get(process.metrics_bind_variable) or f"127.0.0.1:{process.metrics_port}"


def local_targets(environ: Mapping[str, str]) -> list[Target]:
    """Every process ``make run`` starts, where it listens for Prometheus."""
    return [
        target(service, process, scrape_address(metrics_bind(service, process, environ)))
        for service, process in declared_processes()
    ]


def configuration(
    targets: Iterable[Target],
    *,
    scrape_interval: str = "15s",
    evaluation_interval: str | None = None,
    rule_files: Sequence[str] = ("rules.yml",),
    prometheus_address: str | None = None,
) -> dict[str, Any]:
    """A whole ``prometheus.yml``: one job per target (and Prometheus itself if given)."""
    jobs = [
        {
            "job_name": each.job,
            "static_configs": [{"targets": [each.address], "labels": dict(each.labels)}],
        }
        for each in targets
    ]
    if prometheus_address is not None:
        jobs.append(
            {"job_name": "prometheus", "static_configs": [{"targets": [prometheus_address]}]}
        )
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval or scrape_interval,
        },
        "rule_files": list(rule_files),
        "scrape_configs": jobs,
    }


def compose_configuration() -> dict[str, Any]:
    """Compose's configuration: every process by its compose service name."""
    return configuration(compose_targets(), prometheus_address="localhost:9090")


def render(config: Mapping[str, Any], header: str = "") -> str:
    """``config`` as YAML, keys in the order given."""
    return header + yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def main() -> None:
    """Print compose's or ``make run``'s configuration."""
    parser = argparse.ArgumentParser(prog="python -m deploy.prometheus.config", description=__doc__)
    parser.add_argument("which", choices=("compose", "local"))
    args = parser.parse_args()
    if args.which == "compose":
        print(render(compose_configuration(), COMPOSE_HEADER), end="")
    else:
        local = configuration(local_targets(os.environ), rule_files=[str(RULES)])
        print(render(local), end="")


if __name__ == "__main__":
    main()
