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


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_compose_runs_every_process_of_the_service_from_its_own_image(service: Service) -> None:
    compose = _compose()
    others = {other.database_url_variable for other in SERVICES if other != service}
    entries = [process.procfile_name for process in service.processes]
    for name in [*entries, f"migrate-{service.name}"]:
        assert name in compose, f"docker-compose.yml has no {name!r} for {service.name}"
        entry = compose[name]
        build = entry["build"]
        assert build["args"]["SERVICE_PACKAGE"] == service.package, name
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).is_file(), name
        environment = entry.get("environment", {})
        assert service.database_url_variable in environment, name
        assert not others & set(environment), f"{name} sees another service's database"
    web = compose[service.name]
    assert web["command"] == [_web_target(service)]
    migrate = " ".join(compose[f"migrate-{service.name}"]["command"])
    assert f"python -m shared.migrations {service.package}" in migrate


def test_docker_compose_accepts_the_compose_file() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is needed to validate docker-compose.yml; make tools"
    checked = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def _rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (client only) is needed to render deploy/; apt-get install kubectl"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "base")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [item for item in yaml.safe_load_all(rendered) if item]


def test_kustomize_renders_every_declared_process_with_probes_and_its_own_secret() -> None:
    objects = _rendered()
    deployments = {
        item["metadata"]["name"]: item for item in objects if item["kind"] == "Deployment"
    }
    jobs = {item["metadata"]["name"]: item for item in objects if item["kind"] == "Job"}
    expected = {process.procfile_name for service in SERVICES for process in service.processes}
    assert set(deployments) == expected
    for service in SERVICES:
        for process in service.processes:
            (container,) = deployments[process.procfile_name]["spec"]["template"]["spec"][
                "containers"
            ]
            assert container["image"].startswith(f"clientele-{service.name}:")
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["resources"]["limits"]["memory"]
            secrets = {
                ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref
            }
            assert secrets == {f"{service.name}-secrets"}
            if process.name == "web":
                assert container["args"] == [_web_target(service)]
                ports = {port["name"]: port["containerPort"] for port in container["ports"]}
                assert ports == {"http": 8000, "metrics": 9100}
                annotations = deployments[process.procfile_name]["spec"]["template"]["metadata"]
                assert annotations["annotations"]["prometheus.io/port"] == "9100"
        (migrate,) = jobs[f"{service.name}-migrate"]["spec"]["template"]["spec"]["containers"]
        assert migrate["image"].startswith(f"clientele-{service.name}:")
        assert f"python -m shared.migrations {service.package}" in " ".join(migrate["command"])
    services = {item["metadata"]["name"]: item for item in objects if item["kind"] == "Service"}
    assert set(services) == {service.name for service in SERVICES}
    for service_object in services.values():
        # Only the API is reachable through a Service; metrics are scraped per pod.
        assert [port["targetPort"] for port in service_object["spec"]["ports"]] == ["http"]


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
