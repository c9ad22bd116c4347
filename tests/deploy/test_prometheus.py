"""Prometheus's files: promtool accepts them, they follow services.toml, every alert is tested.

``promtool check config`` and ``check rules`` validate compose's configuration and
the rules; ``promtool test rules`` runs ``deploy/prometheus/tests/*.yml``, where
each alert fires on a synthetic series and stays quiet on a healthy one. The
live side (every rule evaluated by a real server over the running platform) is
``test_dashboards.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.prometheus import local
from deploy.prometheus.config import (
    COMPOSE_CONFIG,
    COMPOSE_HEADER,
    RULES,
    compose_configuration,
    local_targets,
    render,
)
from shared.services import ROOT, load_services

UNIT_TESTS = sorted((RULES.parent / "tests").glob("*.yml"))
ANNOTATIONS = ("summary", "description", "runbook")


def _promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian package prometheus): make run-tools"
    return subprocess.run([promtool, *arguments], capture_output=True, text=True, timeout=120)


def _rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_promtool_accepts_the_compose_configuration_and_its_rules() -> None:
    checked = _promtool("check", "config", str(COMPOSE_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout


def test_promtool_accepts_the_rules() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_passes_its_promtool_unit_tests() -> None:
    tested = _promtool("test", "rules", *map(str, UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_stays_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in _rules()}
    assert alerts - fires == set(), "alerts never seen firing"
    assert alerts - quiet == set(), "alerts never seen quiet"


def test_every_alert_says_what_it_means_and_what_to_do() -> None:
    for rule in _rules():
        annotations = rule.get("annotations", {})
        missing = [name for name in ANNOTATIONS if not str(annotations.get(name, "")).strip()]
        assert missing == [], f"{rule['alert']} lacks {missing}"
        assert rule.get("labels", {}).get("severity") in ("page", "ticket"), rule["alert"]


def test_the_compose_configuration_is_generated_from_the_declaration() -> None:
    assert COMPOSE_CONFIG.read_text() == render(compose_configuration(), COMPOSE_HEADER), (
        "deploy/prometheus/prometheus.yml is stale:"
        " python -m deploy.prometheus.config compose > deploy/prometheus/prometheus.yml"
    )


def test_compose_scrapes_every_declared_process_on_port_9100() -> None:
    config = yaml.safe_load(COMPOSE_CONFIG.read_text())
    scraped = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    for service in load_services():
        for process in service.processes:
            name = process.procfile_name
            assert scraped.get(name) == [f"{name}:9100"], f"prometheus.yml does not scrape {name}"
    assert config["rule_files"] == ["rules.yml"]


def test_make_run_scrapes_each_process_where_it_listens_overrides_included() -> None:
    environ = {"CUSTOMER_METRICS_BIND": "0.0.0.0:19101", "SEARCH_CONSUMER_METRICS_BIND": ":19112"}
    addresses = {target.job: target.address for target in local_targets(environ)}
    assert addresses["customer"] == "127.0.0.1:19101"
    assert addresses["search-consumer"] == "127.0.0.1:19112"
    for service in load_services():
        if service.name != "customer":
            assert addresses[service.name] == f"127.0.0.1:{service.metrics_port}"
        for process in service.workers:
            if process.procfile_name != "search-consumer":
                expected = f"127.0.0.1:{process.metrics_port}"
                assert addresses[process.procfile_name] == expected


def test_make_run_writes_a_configuration_promtool_accepts(tmp_path: Path) -> None:
    config = local.write_configuration(tmp_path, {"PROMETHEUS_BIND": "127.0.0.1:19090"})
    checked = _promtool("check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    written = yaml.safe_load(config.read_text())
    assert written["rule_files"] == [str(RULES)]
    jobs = {job["job_name"] for job in written["scrape_configs"]}
    assert jobs == {
        process.procfile_name for service in load_services() for process in service.processes
    } | {"prometheus"}
    command = local.command("prometheus", config, tmp_path, "127.0.0.1:19090")
    assert f"--storage.tsdb.path={tmp_path / 'data'}" in command
    assert "--web.listen-address=127.0.0.1:19090" in command


@pytest.mark.parametrize("bind", ["", "127.0.0.1:19095"])
def test_make_run_prometheus_listens_where_prometheus_bind_says(tmp_path: Path, bind: str) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "deploy.prometheus.local", "--print", "--storage", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PROMETHEUS_BIND": bind},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert f"--web.listen-address={bind or local.DEFAULT_BIND}" in printed.stdout
    assert (tmp_path / "prometheus.yml").is_file()
