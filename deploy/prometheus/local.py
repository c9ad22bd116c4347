"""`make run`'s Prometheus: write a configuration scraping every local process, then run it.

    python -m deploy.prometheus.local            # the Procfile's ``prometheus`` entry
    python -m deploy.prometheus.local --print    # show the configuration and command only

Targets follow services.toml and the same ``<NAME>_METRICS_BIND`` /
``<NAME>_<PROCESS>_METRICS_BIND`` overrides the Procfile's commands read; the
alert rules are ``deploy/prometheus/rules.yml``, read in place. The server
keeps its data under ``var/prometheus`` and listens on ``PROMETHEUS_BIND``
(``127.0.0.1:9090``); ``PROMETHEUS`` names another binary than the one on ``PATH``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy.prometheus.config import RULES, configuration, local_targets, render
from shared.services import ROOT

STORAGE = ROOT / "var" / "prometheus"
DEFAULT_BIND = "127.0.0.1:9090"
#: Local processes are few and on loopback: a short interval makes the graphs follow a demo.
SCRAPE_INTERVAL = "5s"
RETENTION = "7d"


def write_configuration(storage: Path, environ: Mapping[str, str]) -> Path:
    """Write ``prometheus.yml`` for the local processes into ``storage``; return its path."""
    storage.mkdir(parents=True, exist_ok=True)
    bind = environ.get("PROMETHEUS_BIND") or DEFAULT_BIND
    config = configuration(
        local_targets(environ),
        scrape_interval=SCRAPE_INTERVAL,
        rule_files=[str(RULES)],
        prometheus_address=bind,
    )
    path = storage / "prometheus.yml"
    path.write_text(
        "# Written by `python -m deploy.prometheus.local` at each start; edit services.toml.\n"
        + render(config)
    )
    return path


def command(binary: str, config: Path, storage: Path, bind: str) -> list[str]:
    """The ``prometheus`` command line for ``config``, keeping data under ``storage``."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={storage / 'data'}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={bind}",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Write the configuration, then replace this process with Prometheus."""
    parser = argparse.ArgumentParser(prog="python -m deploy.prometheus.local", description=__doc__)
    parser.add_argument("--storage", type=Path, default=STORAGE, help="data and configuration")
    parser.add_argument(
        "--print", action="store_true", help="print the configuration and command, start nothing"
    )
    args = parser.parse_args(argv)
    environ = os.environ
    storage: Path = args.storage.resolve()
    config = write_configuration(storage, environ)
    binary = environ.get("PROMETHEUS") or shutil.which("prometheus")
    bind = environ.get("PROMETHEUS_BIND") or DEFAULT_BIND
    if args.print:
        print(config.read_text(), end="")
        print("#", " ".join(command(binary or "prometheus", config, storage, bind)))
        return
    if binary is None:
        sys.exit(
            "prometheus is not installed: `make run-tools` installs it"
            " (Debian: apt-get install -y prometheus), or set PROMETHEUS=/path/to/prometheus"
        )
    print(f"Prometheus on http://{bind} (configuration {config})", flush=True)
    # exec: honcho's signals reach Prometheus itself, which shuts down cleanly on SIGTERM.
    os.execv(binary, command(binary, config, storage, bind))  # noqa: S606  # nosec B606 # a fixed argument list, no shell


if __name__ == "__main__":
    main()
