"""The Kubernetes manifests (``deploy/k8s``) follow services.toml, validate and wall processes in.

The base and every overlay are rendered with ``kubectl kustomize`` and every
object is validated offline, strictly, against the Kubernetes 1.32 schemas
(``kubernetes-validate``). Then: every declared process runs as a locked-down
Deployment with probes, resources and only its own Secret; every service has one
migration Job; the Secrets are templates a service refuses to start on; the
autoscalers and disruption budgets point at real pods; and the network policies,
evaluated as Kubernetes evaluates them, allow exactly the paths in the table
below, which is read from the code (who calls whom) and nothing more.
"""

from __future__ import annotations

import base64
import functools
import importlib
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from shared.services import WEB, Service, load_services, routed_services

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("overlays/dev", "overlays/prod")
TARGETS = ("base", *OVERLAYS)
KUBERNETES_VERSION = "1.32.0"
NAMESPACE = "clientele"
SERVICES = load_services()
PROCESSES = {
    process.procfile_name: (service, process)
    for service in SERVICES
    for process in service.processes
}
API_PORT = 8000
METRICS_PORT = 9100
APP_USER = 10001
#: What every Secret value is, or every URL's password is left as, in the templates.
PLACEHOLDER = "replace-me"
#: Variables only the gateway may see.
GATEWAY_ONLY = frozenset({"JWT_KEY_PASSPHRASE", "ADMIN_PASSWORD"})

#: Who calls whom over HTTP, read from the code: the Ingress controller reaches the gateway;
#: the gateway forwards to every routed service (services.toml); each service's web process
#: fetches the gateway's signing keys (JWT_JWKS_URL, shared/web/resource_app.py); search
#: reads the customer service to rebuild its index (search_service/source.py) and the NLP
#: service to embed queries (search_service/embedder.py); analytics reads the customer
#: service to reconcile (analytics_service/source.py). Workers call no one over HTTP.
HTTP_CALLS: dict[str, set[str]] = {
    "ingress-controller": {"gateway"},
    "gateway": {service.name for service in routed_services()},
    "customer": {"gateway"},
    "search": {"gateway", "customer", "nlp"},
    "analytics": {"gateway", "customer"},
    "nlp": {"gateway"},
}
#: The data services each process talks to: its database (all), the broker (what publishes,
#: consumes or queues Celery jobs), Redis (the gateway's rate limits, the NLP cache).
DATA_SERVICES: dict[str, set[str]] = {
    "gateway": {"postgresql", "redis"},
    "customer": {"postgresql"},
    "customer-relay": {"postgresql", "rabbitmq"},
    "customer-consumer": {"postgresql", "rabbitmq"},
    # Claims its jobs from the database and writes outbox rows; the relay publishes them.
    "customer-importer": {"postgresql"},
    "search": {"postgresql"},
    "search-consumer": {"postgresql", "rabbitmq"},
    "analytics": {"postgresql"},
    "analytics-consumer": {"postgresql", "rabbitmq"},
    "nlp": {"postgresql", "rabbitmq", "redis"},
    "nlp-worker": {"postgresql", "rabbitmq", "redis"},
    "nlp-consumer": {"postgresql", "rabbitmq", "redis"},
    **{f"{service.name}-migrate": {"postgresql"} for service in SERVICES},
}
DATA_PORTS = {"postgresql": 5432, "rabbitmq": 5672, "redis": 6379}


@functools.cache
def render(target: str) -> tuple[dict[str, Any], ...]:
    """Every object ``kubectl kustomize deploy/k8s/<target>`` renders."""
    return _kustomize(K8S / target)


def _kustomize(folder: Path) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (client only) renders deploy/k8s; apt-get install kubectl"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    return tuple(item for item in yaml.safe_load_all(rendered.stdout) if item)


def _of_kind(target: str, kind: str) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in render(target) if item["kind"] == kind}


def _container(workload: Mapping[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _secret_values(secret: Mapping[str, Any]) -> dict[str, str]:
    values = {
        key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()
    }
    values.update(secret.get("stringData", {}))
    return values


def _environment(target: str, workload: Mapping[str, Any]) -> dict[str, str]:
    """The variables the workload's container starts with: its ConfigMaps, Secrets, env."""
    config_maps, secrets = _of_kind(target, "ConfigMap"), _of_kind(target, "Secret")
    container = _container(workload)
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(config_maps[source["configMapRef"]["name"]]["data"])
        if "secretRef" in source:
            environment.update(_secret_values(secrets[source["secretRef"]["name"]]))
    for variable in container.get("env", []):
        environment[variable["name"]] = variable["value"]
    return environment


def _image(container: Mapping[str, Any]) -> tuple[str, str]:
    """The image's name (its last path segment) and tag."""
    reference, _, tag = container["image"].rpartition(":")
    return reference.rsplit("/", 1)[-1], tag


def _quantity(value: str | int) -> float:
    """A Kubernetes quantity (``250m``, ``2``, ``768Mi``, ``1Gi``) as a number."""
    text = str(value)
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _minimum_replicas(target: str, deployment: str) -> int:
    """Pods a Deployment runs at least: its autoscaler's minimum, else its replicas."""
    for autoscaler in _of_kind(target, "HorizontalPodAutoscaler").values():
        if autoscaler["spec"]["scaleTargetRef"]["name"] == deployment:
            return int(autoscaler["spec"]["minReplicas"])
    return int(_of_kind(target, "Deployment")[deployment]["spec"].get("replicas", 1))


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects these labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        matches = {
            "In": key in labels and labels[key] in (values or ()),
            "NotIn": labels.get(key) not in (values or ()),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matches:
            return False
    return True


# --- every object -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_every_object_is_valid_kubernetes_1_32(target: str) -> None:
    invalid = []
    for item in render(target):
        try:
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
        except (
            kubernetes_validate.ValidationError,
            kubernetes_validate.SchemaNotFoundError,
        ) as error:
            invalid.append(f"{item['kind']}/{item['metadata']['name']}: {error}")
        if item["kind"] != "Namespace":
            assert item["metadata"]["namespace"] == NAMESPACE, item["metadata"]["name"]
    assert invalid == []


def test_the_validation_refuses_a_field_kubernetes_does_not_know() -> None:
    deployment = dict(_of_kind("base", "Deployment")["gateway"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_every_variable_set_is_one_the_platform_reads(target: str) -> None:
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)\b", (ROOT / ".env.example").read_text(), re.M))
    for workload in [*_of_kind(target, "Deployment").values(), *_of_kind(target, "Job").values()]:
        unknown = set(_environment(target, workload)) - listed
        assert unknown == set(), f"{workload['metadata']['name']} sets what nothing reads"


# --- processes --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_every_declared_process_runs_as_a_deployment_with_probes_and_its_own_secret(
    target: str,
) -> None:
    deployments = _of_kind(target, "Deployment")
    assert set(deployments) == set(PROCESSES)
    for name, (service, process) in PROCESSES.items():
        deployment = deployments[name]
        container = _container(deployment)
        assert _image(container)[0] == f"clientele-{service.name}", name
        template = deployment["spec"]["template"]
        assert _selects(deployment["spec"]["selector"], template["metadata"]["labels"]), name
        if process.name == WEB:
            assert container["args"] == [f"{service.package}.app:create_app()"], name
            ports = {"http": API_PORT, "metrics": METRICS_PORT}
            probed = "http"
        else:
            assert container["command"] == ["python", "-m", process.target], name
            ports = {"metrics": METRICS_PORT}
            probed = "metrics"
        assert {port["name"]: port["containerPort"] for port in container["ports"]} == ports
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": probed}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": probed}
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            request, limit = resources["requests"][resource], resources["limits"][resource]
            assert 0 < _quantity(request) <= _quantity(limit), f"{name}: {resource}"
        assert template["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics",
        }, name
        secrets = {ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref}
        assert secrets == {f"{service.name}-secrets"}, name
        assert not any("valueFrom" in variable for variable in container.get("env", [])), name
        environment = _environment(target, deployment)
        assert environment["DISCOVERY"] == "dns", name
        assert environment["METRICS_BIND"] == f"0.0.0.0:{METRICS_PORT}", name
        if service.web_workers and process.name == WEB:
            assert environment["WEB_CONCURRENCY"] == str(service.web_workers), name


@pytest.mark.parametrize("target", TARGETS)
def test_every_pod_runs_unprivileged_on_a_read_only_root(target: str) -> None:
    workloads = [*_of_kind(target, "Deployment").values(), *_of_kind(target, "Job").values()]
    for workload in workloads:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        container = _container(workload)
        effective = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        assert effective["runAsNonRoot"] is True, name
        assert effective["runAsUser"] == APP_USER, name
        assert effective["readOnlyRootFilesystem"] is True, name
        assert effective["allowPrivilegeEscalation"] is False, name
        assert effective["capabilities"] == {"drop": ["ALL"]}, name
        assert effective["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert mounts.get("/tmp") in empty_dirs  # noqa: S108 (a path in the pod), f"{name}: /tmp is not an emptyDir"
        # The image sets PROMETHEUS_MULTIPROC_DIR=/tmp/metrics; prometheus_client writes there
        # from the first sample, and only gunicorn creates the folder.
        if workload["kind"] == "Deployment" and "args" not in container:
            assert mounts.get("/tmp/metrics") in empty_dirs, name  # noqa: S108 (in the pod)


@pytest.mark.parametrize("target", TARGETS)
def test_every_service_has_one_migration_job(target: str) -> None:
    jobs = _of_kind(target, "Job")
    assert set(jobs) == {f"{service.name}-migrate" for service in SERVICES}
    for service in SERVICES:
        job = jobs[f"{service.name}-migrate"]
        container = _container(job)
        assert _image(container)[0] == f"clientele-{service.name}"
        assert f"python -m shared.migrations {service.package}" in " ".join(container["command"])
        secrets = {ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref}
        assert secrets == {f"{service.name}-secrets"}
        assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


@pytest.mark.parametrize("target", TARGETS)
def test_only_web_processes_have_a_service_and_only_for_their_api(target: str) -> None:
    services = _of_kind(target, "Service")
    deployments = _of_kind(target, "Deployment")
    assert set(services) == {service.name for service in SERVICES}
    for name, service_object in services.items():
        # Only the API is reachable through a Service; metrics are scraped per pod.
        assert service_object["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert [(port["port"], port["targetPort"]) for port in service_object["spec"]["ports"]] == [
            (80, "http")
        ]
        selected = [
            deployment
            for deployment, item in deployments.items()
            if _selects(
                {"matchLabels": service_object["spec"]["selector"]},
                item["spec"]["template"]["metadata"]["labels"],
            )
        ]
        assert selected == [name]


@pytest.mark.parametrize("target", TARGETS)
def test_only_the_gateway_is_exposed_through_the_ingress(target: str) -> None:
    (ingress,) = _of_kind(target, "Ingress").values()
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    backends = {
        (path["backend"]["service"]["name"], path["backend"]["service"]["port"]["name"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {("gateway", "http")}
    assert hosts <= {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
    # The controller passes every body some operation accepts; the gateway refuses the rest.
    cap = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    size = re.fullmatch(r"(\d+)([kmg]?)", cap.lower())
    assert size, cap
    number, unit = size.groups()
    largest = max(
        _max_body_bytes(yaml.safe_load(service.contract_path.read_text())) for service in SERVICES
    )
    assert int(number) * 1024 ** " kmg".index(unit or " ") >= largest


def _max_body_bytes(document: Any) -> int:
    """The largest ``x-max-body-bytes`` anywhere in a contract (0 if none)."""
    if isinstance(document, dict):
        own = int(document.get("x-max-body-bytes", 0))
        return max([own, *(_max_body_bytes(value) for value in document.values())])
    if isinstance(document, list):
        return max([0, *(_max_body_bytes(value) for value in document)])
    return 0


# --- secrets and settings ----------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_each_secret_is_a_template_of_its_own_service_only(target: str) -> None:
    secrets = _of_kind(target, "Secret")
    assert set(secrets) == {f"{service.name}-secrets" for service in SERVICES}
    for service in SERVICES:
        values = _secret_values(secrets[f"{service.name}-secrets"])
        others = {other.database_url_variable for other in SERVICES if other != service}
        assert service.database_url_variable in values
        assert not others & set(values), f"{service.name} sees another service's database"
        if service.name != "gateway":
            assert not GATEWAY_ONLY & set(values), f"{service.name} sees the gateway's secrets"
        for variable, value in values.items():
            parts = urlsplit(value)
            if parts.scheme:
                # A URL names its user and host, and leaves the password out.
                assert parts.username, variable
                assert parts.hostname, variable
                assert not parts.password, f"{service.name}-secrets {variable} holds a password"
            else:
                assert value == PLACEHOLDER, f"{service.name}-secrets {variable} looks real"
    for config_map in _of_kind(target, "ConfigMap").values():
        secret_variables = {key for secret in secrets.values() for key in _secret_values(secret)}
        assert not secret_variables & set(config_map["data"])
        assert not any("@" in value for value in config_map["data"].values())


def _fill_in(value: str) -> str:
    """The value an operator would write where the template has a placeholder."""
    if value == PLACEHOLDER:
        return "x7Tq-filled-in-by-the-operator-2026"
    parts = urlsplit(value)
    return value.replace(f"{parts.username}:@", f"{parts.username}:x7Tq-filled-in@", 1)


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_no_service_starts_on_its_unfilled_secret(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = _of_kind("overlays/prod", "Deployment")[service.name]
    environment = _environment("overlays/prod", deployment)
    settings = importlib.import_module(f"{service.package}.settings").Settings
    secret = _secret_values(_of_kind("overlays/prod", "Secret")[f"{service.name}-secrets"])
    for variable in [*environment, *(name for name in os.environ if name.endswith("_URL"))]:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match="refuses to start"):
        settings()
    # Filled in, the same settings start: the placeholders were what it refused.
    for variable, value in secret.items():
        monkeypatch.setenv(variable, _fill_in(value))
    assert settings().clientele_env == "production"


def test_the_secrets_are_filled_in_by_an_overlay_kept_outside_the_repository() -> None:
    """What deploy/k8s/README.md prescribes: secretGenerator, behavior replace, over prod."""
    with tempfile.TemporaryDirectory(prefix="clientele-secrets-") as folder:
        private = Path(folder)
        generators = []
        filled: dict[str, dict[str, str]] = {}
        for name, secret in _of_kind("overlays/prod", "Secret").items():
            filled[name] = {key: _fill_in(value) for key, value in _secret_values(secret).items()}
            lines = (f"{key}={value}\n" for key, value in filled[name].items())
            (private / f"{name}.env").write_text("".join(lines))
            generators.append({"name": name, "behavior": "replace", "envs": [f"{name}.env"]})
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(K8S / "overlays" / "prod", private)],
            "secretGenerator": generators,
        }
        (private / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        objects = _kustomize(private)
    secrets = {item["metadata"]["name"]: item for item in objects if item["kind"] == "Secret"}
    assert {name: _secret_values(secret) for name, secret in secrets.items()} == filled
    deployments = [item for item in objects if item["kind"] == "Deployment"]
    assert {_container(item)["envFrom"][1]["secretRef"]["name"] for item in deployments} <= set(
        secrets
    )


# --- scaling and disruptions ----------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_autoscalers_target_existing_deployments_on_cpu_or_queue_depth(target: str) -> None:
    deployments = _of_kind(target, "Deployment")
    autoscalers = _of_kind(target, "HorizontalPodAutoscaler")
    targets = {item["spec"]["scaleTargetRef"]["name"]: item for item in autoscalers.values()}
    web = {name for name, (_, process) in PROCESSES.items() if process.name == WEB}
    assert set(targets) == web | {"nlp-worker"}
    jobs_queue = importlib.import_module("nlp_service.settings").Settings().nlp_jobs_queue
    for name, autoscaler in targets.items():
        reference = autoscaler["spec"]["scaleTargetRef"]
        assert (reference["apiVersion"], reference["kind"]) == ("apps/v1", "Deployment")
        assert name in deployments
        # The autoscaler owns the count: an apply must not reset it.
        assert "replicas" not in deployments[name]["spec"], name
        assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
        (metric,) = autoscaler["spec"]["metrics"]
        if name in web:
            assert metric["type"] == "Resource"
            assert metric["resource"]["name"] == "cpu"
            assert metric["resource"]["target"]["type"] == "Utilization"
        else:
            assert metric["type"] == "External"
            assert metric["external"]["metric"] == {
                "name": "rabbitmq_queue_messages_ready",
                "selector": {"matchLabels": {"queue": jobs_queue}},
            }


@pytest.mark.parametrize("target", TARGETS)
def test_disruption_budgets_select_each_deployments_pods_and_let_nodes_drain(target: str) -> None:
    deployments = _of_kind(target, "Deployment")
    pods = {
        name: item["spec"]["template"]["metadata"]["labels"]
        for name, item in [*deployments.items(), *_of_kind(target, "Job").items()]
    }
    budgets = _of_kind(target, "PodDisruptionBudget")
    covered = []
    for name, budget in budgets.items():
        selected = [
            pod for pod, labels in pods.items() if _selects(budget["spec"]["selector"], labels)
        ]
        assert len(selected) == 1, f"{name} selects {selected}"
        assert selected[0] in deployments, f"{name} selects {selected}"
        covered.append(selected[0])
        assert _disruptions_allowed(budget, _minimum_replicas(target, selected[0])) >= 1, (
            f"{name} would block every node drain"
        )
    assert sorted(covered) == sorted(deployments)


def _disruptions_allowed(budget: Mapping[str, Any], replicas: int) -> int:
    spec = budget["spec"]
    assert isinstance(spec.get("minAvailable", spec.get("maxUnavailable")), int)
    if "minAvailable" in spec:
        return replicas - int(spec["minAvailable"])
    return int(spec["maxUnavailable"])


def test_prod_keeps_web_processes_serving_through_drains_and_dev_stays_small() -> None:
    budgets = {
        budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: budget
        for budget in _of_kind("overlays/prod", "PodDisruptionBudget").values()
    }
    for name, (_, process) in PROCESSES.items():
        prod, dev = (
            _minimum_replicas("overlays/prod", name),
            _minimum_replicas("overlays/dev", name),
        )
        assert dev == 1, name
        if process.name == WEB:
            assert prod >= 2, name
            # However the drain goes, a web process keeps serving (the gateway and the
            # lighter services two pods at least, the NLP service, one model-heavy pod).
            kept = prod - _disruptions_allowed(budgets[name], prod)
            assert kept >= (1 if name == "nlp" else 2), name
    dev_images = {
        _image(_container(item)) for item in _of_kind("overlays/dev", "Deployment").values()
    }
    prod_images = {
        _image(_container(item)) for item in _of_kind("overlays/prod", "Deployment").values()
    }
    assert {tag for _, tag in dev_images} == {"dev"}
    assert not {tag for _, tag in prod_images} & {"latest", "dev"}
    for name in PROCESSES:
        dev_resources = _container(_of_kind("overlays/dev", "Deployment")[name])["resources"]
        prod_resources = _container(_of_kind("overlays/prod", "Deployment")[name])["resources"]
        assert _quantity(prod_resources["requests"]["cpu"]) > _quantity(
            dev_resources["requests"]["cpu"]
        ), name
    dev_hosts = {
        rule["host"]
        for item in _of_kind("overlays/dev", "Ingress").values()
        for rule in item["spec"]["rules"]
    }
    prod_hosts = {
        rule["host"]
        for item in _of_kind("overlays/prod", "Ingress").values()
        for rule in item["spec"]["rules"]
    }
    assert dev_hosts.isdisjoint(prod_hosts)


# --- network policies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    """A port an endpoint listens on."""

    name: str | None
    number: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Endpoint:
    """A pod (or an address outside the cluster) that may send or receive connections."""

    name: str
    namespace: str | None
    labels: Mapping[str, str]
    ports: tuple[Port, ...] = ()
    #: Only for an address outside the cluster (matched by ipBlock peers).
    address: str | None = None
    namespace_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Namespaces carry their name as a label, as Kubernetes sets it."""
        if self.namespace is not None:
            object.__setattr__(
                self, "namespace_labels", {"kubernetes.io/metadata.name": self.namespace}
            )


#: What lives around the namespace: the Ingress controller, Prometheus, cluster DNS, the data
#: services, and strangers that must reach nothing.
OUTSIDERS = (
    Endpoint(
        "ingress-controller",
        "ingress-nginx",
        {"app.kubernetes.io/name": "ingress-nginx"},
        (Port("http", 80), Port("https", 443)),
    ),
    Endpoint(
        "prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}, (Port("web", 9090),)
    ),
    Endpoint(
        "kube-dns",
        "kube-system",
        {"k8s-app": "kube-dns"},
        (Port("dns", 53, "UDP"), Port("dns-tcp", 53, "TCP")),
    ),
    *(
        Endpoint(name, "clientele-data", {"app.kubernetes.io/name": name}, (Port("tcp", port),))
        for name, port in DATA_PORTS.items()
    ),
    # Other pods of those namespaces: a peer is the namespace and the pod, not either.
    Endpoint(
        "ingress-admission",
        "ingress-nginx",
        {"app.kubernetes.io/name": "ingress-nginx-admission"},
        (Port("webhook", 8443),),
    ),
    Endpoint("grafana", "monitoring", {"app.kubernetes.io/name": "grafana"}, (Port("http", 3000),)),
    Endpoint(
        "pgadmin", "clientele-data", {"app.kubernetes.io/name": "pgadmin"}, (Port("http", 80),)
    ),
    # Another application's pod wearing the gateway's and Prometheus' labels: selectors
    # without a namespace selector must not reach across namespaces.
    Endpoint(
        "stranger",
        "default",
        {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/component": "web"},
        (Port("http", API_PORT),),
    ),
    Endpoint(
        "other-prometheus",
        "default",
        {"app.kubernetes.io/name": "prometheus"},
        (Port("web", 9090),),
    ),
    Endpoint("internet", None, {}, (Port("https", 443),), address="203.0.113.7"),
)


def _pods(target: str) -> list[Endpoint]:
    workloads = [*_of_kind(target, "Deployment").values(), *_of_kind(target, "Job").values()]
    return [
        Endpoint(
            item["metadata"]["name"],
            item["metadata"]["namespace"],
            item["spec"]["template"]["metadata"]["labels"],
            tuple(
                Port(port.get("name"), port["containerPort"], port.get("protocol", "TCP"))
                for port in _container(item).get("ports", [])
            ),
        )
        for item in workloads
    ]


def _peer_matches(peer: Mapping[str, Any], namespace: str, endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        if endpoint.address is None:
            return False
        address = ipaddress.ip_address(endpoint.address)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(excluded) for excluded in block.get("except", [])
        )
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], endpoint.namespace_labels):
            return False
    elif endpoint.namespace != namespace:
        return False
    return _selects(peer.get("podSelector", {}), endpoint.labels)


def _port_matches(allowed: Iterable[Mapping[str, Any]] | None, port: Port) -> bool:
    if not allowed:
        return True
    for entry in allowed:
        if entry.get("protocol", "TCP") != port.protocol:
            continue
        wanted = entry.get("port")
        if wanted is None or wanted == port.name:
            return True
        if isinstance(wanted, int) and wanted <= port.number <= entry.get("endPort", wanted):
            return True
    return False


def _policy_types(policy: Mapping[str, Any]) -> set[str]:
    spec = policy["spec"]
    return set(spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])])


def _admits(
    policies: Iterable[Mapping[str, Any]], pod: Endpoint, peer: Endpoint, port: Port, direction: str
) -> bool:
    """Whether ``pod``'s policies let a connection with ``peer`` to ``port`` in or out.

    As Kubernetes: a pod no policy selects for the direction is open; a selected pod
    admits what at least one rule of one selecting policy allows (rules add up).
    """
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        policy
        for policy in policies
        if policy["metadata"]["namespace"] == pod.namespace
        and direction in _policy_types(policy)
        and _selects(policy["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    return any(
        _port_matches(rule.get("ports"), port)
        and (
            not rule.get(peers_key)
            or any(
                _peer_matches(candidate, policy["metadata"]["namespace"], peer)
                for candidate in rule[peers_key]
            )
        )
        for policy in selecting
        for rule in policy["spec"].get(rules_key) or []
    )


def reachable(target: str) -> set[tuple[str, str, int, str]]:
    """Every (from, to, port, protocol) the rendered policies allow, to or from our pods."""
    policies = list(_of_kind(target, "NetworkPolicy").values())
    pods = _pods(target)
    ours = {pod.name for pod in pods}
    endpoints = [*pods, *OUTSIDERS]
    return {
        (source.name, destination.name, port.number, port.protocol)
        for source in endpoints
        for destination in endpoints
        if source.name in ours or destination.name in ours
        for port in destination.ports
        if _admits(policies, source, destination, port, "Egress")
        and _admits(policies, destination, source, port, "Ingress")
    }


def expected_paths(target: str) -> set[tuple[str, str, int, str]]:
    """The reachability table: HTTP calls, data services, DNS and Prometheus, nothing else."""
    pods = _pods(target)
    deployments = _of_kind(target, "Deployment")
    paths = {
        (source, destination, API_PORT, "TCP")
        for source, destinations in HTTP_CALLS.items()
        for destination in destinations
    }
    for pod in pods:
        paths |= {(pod.name, "kube-dns", 53, "UDP"), (pod.name, "kube-dns", 53, "TCP")}
        assert pod.name in DATA_SERVICES, f"the table says nothing of {pod.name}'s data services"
        paths |= {(pod.name, data, DATA_PORTS[data], "TCP") for data in DATA_SERVICES[pod.name]}
        if pod.name in deployments:
            paths.add(("prometheus", pod.name, METRICS_PORT, "TCP"))
    return paths


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_allow_exactly_the_reachability_table(target: str) -> None:
    allowed, expected = reachable(target), expected_paths(target)
    assert sorted(allowed - expected) == [], "allowed, though nothing needs it"
    assert sorted(expected - allowed) == [], "needed, but refused"
