"""The files that start the platform name things that exist and are well formed."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
APP_TARGET = re.compile(r"([a-z_]+)\.app:create_app\(\)")


def _importable(target: str) -> None:
    match = APP_TARGET.fullmatch(target)
    assert match, f"{target!r} is not '<package>.app:create_app()'"
    module = importlib.import_module(f"{match.group(1)}.app")
    assert callable(module.create_app)


def test_procfile_starts_every_service_from_an_importable_factory() -> None:
    entries = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert set(entries) == {"gateway", "customer"}
    for command in entries.values():
        targets = APP_TARGET.findall(command)
        assert len(targets) == 1, command
        _importable(f"{targets[0]}.app:create_app()")
        assert "shared/gunicorn_conf.py" in command


def test_compose_services_build_from_existing_files_and_start_real_apps() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "gateway", "customer_service"} <= set(services)
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = ROOT / build["context"]
            assert context.is_dir(), name
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for target in service.get("command", []):
            if APP_TARGET.fullmatch(target):
                _importable(target)
    for package in ("shared", "gateway", "customer_service"):
        assert f"COPY {package}/ {package}/" in (ROOT / "Dockerfile").read_text()


def test_docker_compose_accepts_the_compose_file() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is needed to validate docker-compose.yml; make tools"
    checked = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_kustomize_renders_deployments_with_probes_and_resources() -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (client only) is needed to render deploy/; apt-get install kubectl"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "base")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    objects = [item for item in yaml.safe_load_all(rendered) if item]
    deployments = {
        item["metadata"]["name"]: item for item in objects if item["kind"] == "Deployment"
    }
    assert set(deployments) == {"gateway", "customer-service"}
    for deployment in deployments.values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["limits"]["memory"]
        _importable(container["args"][0])
    services = {item["metadata"]["name"] for item in objects if item["kind"] == "Service"}
    assert services == set(deployments)


def test_env_example_lists_every_setting() -> None:
    from customer_service.settings import Settings as CustomerSettings
    from gateway.settings import Settings as GatewaySettings

    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)\b", (ROOT / ".env.example").read_text(), re.M))
    for settings in (GatewaySettings, CustomerSettings):
        for name, field in settings.model_fields.items():
            if name == "service_name":
                continue
            aliases = field.validation_alias.choices if field.validation_alias else [name.upper()]
            assert set(map(str, aliases)) <= listed, f"{settings.__module__}: {aliases}"
