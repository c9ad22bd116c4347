"""The files that start and deploy the platform follow the service declaration (services.toml).

A service added to ``services.toml`` but missing from the Procfile, compose or
the Kubernetes manifests — or a process, database variable or image that
belongs to another service — fails here, with the place to fix named.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.services import Service, load_services, procfile

ROOT = Path(__file__).resolve().parents[1]
APP_TARGET = re.compile(r"([a-z_]+)\.app:create_app\(\)")
SERVICES = load_services()


def _importable(target: str) -> None:
    match = APP_TARGET.fullmatch(target)
    assert match, f"{target!r} is not '<package>.app:create_app()'"
    module = importlib.import_module(f"{match.group(1)}.app")
    assert callable(module.create_app)


def _web_target(service: Service) -> str:
    return f"{service.package}.app:create_app()"


def test_the_procfile_is_generated_from_the_declaration() -> None:
    assert (ROOT / "Procfile").read_text() == procfile(), (
        "Procfile is stale: python -m shared.services procfile > Procfile"
    )
    for service in SERVICES:
        assert (ROOT / service.package / "__init__.py").is_file(), service.package
        if any(process.name == "web" for process in service.processes):
            _importable(_web_target(service))


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def _rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (client only) is needed to render deploy/; apt-get install kubectl"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "base")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [item for item in yaml.safe_load_all(rendered) if item]


def test_env_example_lists_every_setting_of_every_service() -> None:
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)\b", (ROOT / ".env.example").read_text(), re.M))
    for service in SERVICES:
        settings = importlib.import_module(f"{service.package}.settings").Settings
        for name, field in settings.model_fields.items():
            if name == "service_name":
                continue
            aliases = field.validation_alias.choices if field.validation_alias else [name.upper()]
            assert set(map(str, aliases)) <= listed, f"{service.package}: {aliases}"
        for variable in (service.bind_variable, service.metrics_bind_variable):
            assert variable in listed, f".env.example lacks {variable}"


def test_each_service_reads_only_its_own_database_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in SERVICES:
        monkeypatch.delenv(service.database_url_variable, raising=False)
    # A shared name must not point every service at one database.
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/one_for_all")
    for service in SERVICES:
        settings = importlib.import_module(f"{service.package}.settings").Settings
        alias = settings.model_fields["database_url"].validation_alias
        assert alias is not None
        assert list(map(str, alias.choices)) == [service.database_url_variable]
        assert settings().database_url == service.local_database_url
        own = f"postgresql://127.0.0.1/{service.database}_elsewhere"
        monkeypatch.setenv(service.database_url_variable, own)
        assert settings().database_url == own


def test_every_web_service_is_found_through_consul_in_compose_and_dns_in_kubernetes() -> None:
    compose = _compose()
    (config,) = [item for item in _rendered() if item["kind"] == "ConfigMap"]
    assert (config["data"]["DISCOVERY"], config["data"]["DISCOVERY_DNS_PORT"]) == ("dns", "80")
    assert "consul" in compose
    for service in SERVICES:
        environment = compose[service.name]["environment"]
        # Registered in Consul under the name the other containers reach it by.
        assert environment["DISCOVERY"] == "consul"
        assert environment["SERVICE_ADDRESS"] == service.name
        if service.route is not None:
            # Kubernetes: the service's own Service, on port 80, is what dns resolves.
            (kube_service,) = [
                item
                for item in _rendered()
                if item["kind"] == "Service" and item["metadata"]["name"] == service.name
            ]
            assert [port["port"] for port in kube_service["spec"]["ports"]] == [80]
