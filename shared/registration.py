"""Announcing a gunicorn process group in discovery while it serves (the master's hooks).

Under ``DISCOVERY=consul`` gunicorn's master, not each worker, registers the
group once it listens (``when_ready``) and deregisters it on the way out
(``on_exit``: SIGTERM, SIGINT, SIGQUIT). The registration carries a unique
instance id, the advertised address and port, tags, the version as meta, and an
HTTP check on ``/healthz`` with ``deregister_critical_service_after``, so an
instance that dies without deregistering (``kill -9``, a lost machine) first
drops out of the passing set, then out of the catalogue. The ``static`` and
``dns`` backends have nothing to register.

The master talks to Consul through a short-lived child,
``python -m shared.registration register|deregister``: an HTTP client imported
into the master would leave ssl unpatched in the gevent workers it forks. The
registering child keeps trying (doubling its pause up to 30 s) until the agent
accepts, so a service started before Consul still appears.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import logging
import os
import secrets
import socket
import subprocess  # nosec B404 # the master registers through a child of its own
import sys
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from shared.discovery import Discovery, Registration, discovery_from_settings, http_url
from shared.services import ROOT, service_named
from shared.settings import DiscoverySettings

#: Variable naming the service package when gunicorn's app argument does not (images set it).
PACKAGE_VARIABLE = "SERVICE_PACKAGE"
#: Longest the master waits for the deregistering child as it stops.
DEREGISTER_TIMEOUT_SECONDS = 15.0

logger = logging.getLogger(__name__)


class Log(Protocol):
    """The part of a logger registration uses (gunicorn's ``server.log`` or ``logging``)."""

    def info(self, msg: str, *args: Any) -> None: ...

    def warning(self, msg: str, *args: Any) -> None: ...


def package_of(app_uri: str | None) -> str | None:
    """The package of ``SERVICE_PACKAGE``, else of gunicorn's app (``customer_service.app:...``)."""
    configured = os.environ.get(PACKAGE_VARIABLE, "").strip()
    if configured:
        return configured
    if not app_uri:
        return None
    return app_uri.partition(":")[0].partition(".")[0].strip() or None


def binds_every_interface(host: str) -> bool:
    """Whether a bind on ``host`` listens on every interface (no address to call back)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return not host


def advertised_address(bind_host: str, configured: str | None = None) -> str:
    """Where others reach this instance: ``configured``, else the bound host, else (a bind
    on every interface) the machine's hostname."""
    if configured:
        return configured
    if binds_every_interface(bind_host):
        return socket.gethostname()
    return bind_host.strip("[]")


def bound_address(listeners: Sequence[Any], binds: Sequence[Any]) -> tuple[str, int] | None:
    """Host and port of the first TCP listener (its real port, if the bind asked for 0),
    else of the first TCP bind (with ``reuse_port`` the workers bind, not the master)."""
    for listener in listeners:
        if listener.family in (socket.AF_INET, socket.AF_INET6):
            host, port = listener.getsockname()[:2]
            return str(host), int(port)
    for bind in binds:
        if isinstance(bind, tuple):
            return str(bind[0]), int(bind[1])
    return None


def new_instance_id(package: str, address: str, port: int) -> str:
    """Unique per start: two starts on one address and port are two instances."""
    return f"{package}-{address}-{port}-{secrets.token_hex(3)}"


def registration_for(
    package: str, address: str, port: int, settings: DiscoverySettings
) -> Registration:
    """What a process group of ``package`` serving at ``address:port`` announces."""
    try:
        tags: tuple[str, ...] = ("clientele", service_named(package).name)
    except KeyError:
        tags = ("clientele",)
    return Registration(
        service=package,
        instance_id=new_instance_id(package, address, port),
        address=address,
        port=port,
        tags=tags,
        meta={"version": settings.service_version},
        health_url=f"{http_url(address, port)}/healthz",
    )


def register_until_accepted(
    discovery: Discovery,
    registration: Registration,
    log: Log,
    *,
    stop: threading.Event | None = None,
    retry_initial_seconds: float = 1.0,
    retry_max_seconds: float = 30.0,
) -> bool:
    """Register, trying again with a growing pause while it fails; False if ``stop`` came first."""
    stop = stop or threading.Event()
    delay = retry_initial_seconds
    while not stop.is_set():
        try:
            discovery.register(registration)
        except Exception as error:  # the registry may be away or refuse for now: try again
            log.warning(
                "could not register %s in discovery (%s: %s); trying again in %.0f s",
                registration.instance_id,
                type(error).__name__,
                error,
                delay,
            )
            if stop.wait(delay):
                break
            delay = min(delay * 2, retry_max_seconds)
            continue
        log.info(
            "registered %s (%s at %s:%d, health %s)",
            registration.instance_id,
            registration.service,
            registration.address,
            registration.port,
            registration.health_url,
        )
        return True
    return False


def _child(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "shared.registration", *arguments]


class MasterRegistration:
    """The registration of one gunicorn master's process group, made through children."""

    def __init__(self, registration: Registration, log: Log) -> None:
        self.registration = registration
        self._log = log
        self._registering: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the registering child; it exits once the registry has accepted."""
        payload = json.dumps(dataclasses.asdict(self.registration))
        self._registering = subprocess.Popen(  # noqa: S603  # nosec B603 # our own module, no shell
            _child("register", payload), cwd=ROOT
        )

    def stop(self) -> None:
        """Stop any registering still under way, then deregister and wait for it."""
        if self._registering is not None and self._registering.poll() is None:
            self._registering.terminate()
            try:
                self._registering.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._registering.kill()
        try:
            subprocess.run(  # noqa: S603  # nosec B603 # our own module, no shell
                _child("deregister", self.registration.instance_id),
                cwd=ROOT,
                timeout=DEREGISTER_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self._log.warning(
                "deregistering %s took too long; the registry drops it once its health "
                "check has failed long enough",
                self.registration.instance_id,
            )


def register_process_group(
    server: Any, settings: DiscoverySettings | None = None
) -> MasterRegistration | None:
    """Register the process group of gunicorn's master ``server`` (``consul`` only)."""
    settings = settings or DiscoverySettings()
    if settings.discovery != "consul":
        return None
    package = package_of(getattr(server.app, "app_uri", None))
    bound = bound_address(server.LISTENERS, server.address)
    if package is None or bound is None:
        server.log.warning(
            "not registering in discovery: no service package (set %s) or no TCP bind",
            PACKAGE_VARIABLE,
        )
        return None
    host, port = bound
    address = advertised_address(host, settings.service_address)
    registration = MasterRegistration(
        registration_for(package, address, port, settings), server.log
    )
    registration.start()
    return registration


def main(argv: Sequence[str] | None = None) -> int:
    """``register <json>`` (until accepted) or ``deregister <instance id>``, against the
    discovery the environment configures."""
    parser = argparse.ArgumentParser(prog="python -m shared.registration", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("register").add_argument("registration", help="the Registration, JSON")
    commands.add_parser("deregister").add_argument("instance_id")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
    )
    discovery = discovery_from_settings(DiscoverySettings())
    if arguments.command == "register":
        fields = json.loads(arguments.registration)
        registration = Registration(**{**fields, "tags": tuple(fields["tags"])})
        return 0 if register_until_accepted(discovery, registration, logger) else 1
    try:
        discovery.deregister(arguments.instance_id)
    except Exception as error:  # reported; the health check's deregister_after cleans up
        logger.warning(
            "could not deregister %s (%s: %s); the registry drops it once its health check "
            "has failed long enough",
            arguments.instance_id,
            type(error).__name__,
            error,
        )
        return 1
    logger.info("deregistered %s", arguments.instance_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
