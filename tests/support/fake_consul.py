"""A fake Consul agent in this process: the few HTTP API endpoints Clientele's discovery calls.

No Consul agent can be installed on these machines (it is in neither Debian,
PyPI nor npm), so the ``consul`` backend is tested against this server, written
from Consul's HTTP API documentation, not from its code:

- ``PUT /v1/agent/service/register``
  (https://developer.hashicorp.com/consul/api-docs/agent/service#register-service):
  the service definition as py-consul sends it (field names in any case, as
  Consul's decoder accepts them), with ``Checks`` of the HTTP kind (``HTTP``,
  ``Interval``, ``Timeout``, ``DeregisterCriticalServiceAfter``, ``Status``).
  Registering an existing ID replaces it.
- ``PUT /v1/agent/service/deregister/:service_id``
  (https://developer.hashicorp.com/consul/api-docs/agent/service#deregister-service):
  the service and its checks go; an unknown ID is 404.
- ``GET /v1/health/service/:service``
  (https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service):
  ``[{"Node", "Service", "Checks"}]``; ``passing`` keeps only entries whose
  every check (the node's ``serfHealth`` included) passes.
- Blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking):
  every answer carries ``X-Consul-Index``; with ``index`` above 0 the answer
  waits until the service's index moves past it or ``wait`` (default 5 m, at
  most 10 m, plus up to wait/16 of jitter) runs out.
- HTTP checks (https://developer.hashicorp.com/consul/docs/services/usage/checks#http-checks):
  really run, a ``GET`` of the URL every ``Interval`` (the first after a random
  stagger within it) with ``Timeout`` (default 10 s); 2xx is ``passing``, 429
  ``warning``, anything else or no answer ``critical``; a new check starts
  ``critical`` unless its ``Status`` says otherwise. A service whose check has
  been critical for ``DeregisterCriticalServiceAfter`` is deregistered.
- ACLs, when the fake is given a token: a request without it gets 403.

Simplified on purpose: one node (``fake-node``); the index is a counter moved
by registrations, deregistrations and check status changes; Consul's reaper
runs every 30 s and never deregisters before 1 m, the fake's honours the
configured time within a tenth of a second, so tests need not wait minutes.

:meth:`FakeConsul.stop` and :meth:`FakeConsul.start` take the agent away and
bring it back on the same port, keeping what was registered (an agent keeps
its services in its data directory); queries blocked at the time are cut off,
and checks do not run while it is away.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

NODE = "fake-node"
NODE_ADDRESS = "127.0.0.1"
DATACENTER = "dc1"
#: Consul's default and longest blocking wait.
DEFAULT_WAIT_SECONDS = 300.0
MAX_WAIT_SECONDS = 600.0
#: An HTTP check's timeout when its definition gives none.
DEFAULT_CHECK_TIMEOUT_SECONDS = 10.0
#: How much of a check's answer is kept as its output (Consul keeps 4 KiB).
OUTPUT_LIMIT = 4096
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """A Go duration (``10s``, ``1m30s``, ``250ms``) in seconds; ValueError if it is not one."""
    parts = _DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"time: invalid duration {text!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def _folded(document: dict[str, Any]) -> dict[str, Any]:
    """Keys in one case without underscores: Consul reads ``Name``, ``name`` and ``NAME`` alike,
    and ``deregister_critical_service_after`` as ``DeregisterCriticalServiceAfter``."""
    return {key.lower().replace("_", ""): value for key, value in document.items()}


class BadRequest(ValueError):
    """A definition Consul would refuse with 400."""


@dataclass
class _Check:
    check_id: str
    name: str
    http: str
    interval: float
    timeout: float
    deregister_after: float | None
    status: str
    output: str = ""
    critical_since: float | None = None
    runner: threading.Event | None = None


@dataclass
class _Service:
    id: str
    name: str
    address: str
    port: int
    tags: list[str]
    meta: dict[str, str]
    checks: list[_Check]
    definition: dict[str, Any]
    create_index: int
    modify_index: int = 0


@dataclass
class _State:
    services: dict[str, _Service] = field(default_factory=dict)
    #: The last index at which something about a service name changed.
    service_index: dict[str, int] = field(default_factory=dict)
    index: int = 1


class FakeConsul:
    """A Consul agent's register, deregister and health endpoints, with real HTTP checks."""

    def __init__(self, *, port: int = 0, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self._state = _State()
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._running = threading.Event()
        self._reaper: threading.Event | None = None
        self._connections: set[socket.socket] = set()

    # -- life --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: ``CONSUL_HTTP_ADDR`` for this agent."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeConsul:
        """Listen (on the same port as before, after :meth:`stop`) and run the checks."""
        fake = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def process_request(self, request: Any, client_address: Any) -> None:
                with fake._changed:
                    fake._connections.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with fake._changed:
                    fake._connections.discard(request)
                super().shutdown_request(request)

        class Handler(_Handler):
            consul = fake

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._running.set()
        threading.Thread(target=self._server.serve_forever, name="fake-consul", daemon=True).start()
        with self._changed:
            for service in self._state.services.values():
                for check in service.checks:
                    self._run_check(service, check)
        self._reaper = threading.Event()
        threading.Thread(target=self._reap, args=(self._reaper,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Go away: refuse connections, cut off blocked queries, pause the checks."""
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._changed:
            if self._reaper is not None:
                self._reaper.set()
            for service in self._state.services.values():
                for check in service.checks:
                    if check.runner is not None:
                        check.runner.set()
                        check.runner = None
            for connection in list(self._connections):
                with contextlib.suppress(OSError):  # already closed by its handler
                    connection.shutdown(socket.SHUT_RDWR)
            self._changed.notify_all()

    def __enter__(self) -> FakeConsul:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests look at ------------------------------------------------------------

    def entries(self, name: str, *, passing: bool = False) -> list[dict[str, Any]]:
        """What ``GET /v1/health/service/<name>`` answers now."""
        with self._changed:
            return self._entries(name, passing)

    def definition(self, service_id: str) -> dict[str, Any] | None:
        """The JSON body a service was registered with, as received; None if not registered."""
        with self._changed:
            service = self._state.services.get(service_id)
            return None if service is None else service.definition

    def service_ids(self, name: str | None = None) -> list[str]:
        """IDs of the registered services (of ``name`` only, if given)."""
        with self._changed:
            return sorted(
                service.id
                for service in self._state.services.values()
                if name is None or service.name == name
            )

    # -- the agent ---------------------------------------------------------------------

    def _bump(self, name: str) -> None:
        """Something about ``name`` changed: a new index, and blocked queries wake up."""
        self._state.index += 1
        self._state.service_index[name] = self._state.index
        self._changed.notify_all()

    def register(self, definition: dict[str, Any]) -> None:
        """``PUT /v1/agent/service/register``."""
        fields = _folded(definition)
        name = str(fields.get("name") or "")
        if not name:
            raise BadRequest("Missing service name")
        service_id = str(fields.get("id") or name)
        try:
            port = int(fields.get("port") or 0)
        except (TypeError, ValueError) as error:
            raise BadRequest(f"Request decode failed: {error}") from error
        check_definitions = list(fields.get("checks") or [])
        if fields.get("check"):
            check_definitions.insert(0, fields["check"])
        checks = [
            self._check(service_id, name, _folded(check), number, len(check_definitions))
            for number, check in enumerate(check_definitions, start=1)
        ]
        with self._changed:
            self._drop(service_id)
            service = _Service(
                id=service_id,
                name=name,
                address=str(fields.get("address") or ""),
                port=port,
                tags=[str(tag) for tag in fields.get("tags") or []],
                meta={str(key): str(value) for key, value in (fields.get("meta") or {}).items()},
                checks=checks,
                definition=definition,
                create_index=self._state.index + 1,
            )
            self._state.services[service_id] = service
            self._bump(name)
            service.modify_index = self._state.index
            now = time.monotonic()
            for check in checks:
                if check.status == "critical":
                    check.critical_since = now
                if self._running.is_set():
                    self._run_check(service, check)

    @staticmethod
    def _check(
        service_id: str, name: str, fields: dict[str, Any], number: int, count: int
    ) -> _Check:
        url = fields.get("http")
        if not url:
            raise BadRequest("Invalid check: only HTTP checks are supported by this fake")
        try:
            interval = parse_duration(str(fields.get("interval") or ""))
            timeout = (
                parse_duration(str(fields["timeout"]))
                if fields.get("timeout")
                else DEFAULT_CHECK_TIMEOUT_SECONDS
            )
            after = fields.get("deregistercriticalserviceafter")
            deregister_after = parse_duration(str(after)) if after else None
        except ValueError as error:
            raise BadRequest(f"Invalid check: {error}") from error
        check_id = str(
            fields.get("checkid")
            or fields.get("id")
            or (f"service:{service_id}" if count == 1 else f"service:{service_id}:{number}")
        )
        status = str(fields.get("status") or "critical")
        if status not in ("passing", "warning", "critical"):
            raise BadRequest(f"Invalid check status {status!r}")
        return _Check(
            check_id=check_id,
            name=str(fields.get("name") or f"Service '{name}' check"),
            http=str(url),
            interval=interval,
            timeout=timeout,
            deregister_after=deregister_after,
            status=status,
        )

    def deregister(self, service_id: str) -> bool:
        """``PUT /v1/agent/service/deregister/<id>``: False if no such service."""
        with self._changed:
            return self._drop(service_id)

    def _drop(self, service_id: str) -> bool:
        service = self._state.services.pop(service_id, None)
        if service is None:
            return False
        for check in service.checks:
            if check.runner is not None:
                check.runner.set()
        self._bump(service.name)
        return True

    def _run_check(self, service: _Service, check: _Check) -> None:
        check.runner = threading.Event()
        threading.Thread(
            target=self._check_loop, args=(service, check, check.runner), daemon=True
        ).start()

    def _check_loop(self, service: _Service, check: _Check, stop: threading.Event) -> None:
        pause = random.uniform(0, check.interval)  # Consul's first-run stagger
        while not stop.wait(pause):
            status, output = self._probe(check)
            with self._changed:
                if stop.is_set():
                    return
                check.output = output
                if status != check.status:
                    check.status = status
                    check.critical_since = time.monotonic() if status == "critical" else None
                    self._bump(service.name)
            pause = check.interval

    @staticmethod
    def _probe(check: _Check) -> tuple[str, str]:
        request = urllib.request.Request(  # noqa: S310 # the URL a test registered
            check.http,
            headers={"User-Agent": "Consul Health Check", "Accept": "text/plain, text/*, */*"},
        )
        try:
            with urllib.request.urlopen(request, timeout=check.timeout) as answer:  # noqa: S310
                code, reason, body = answer.status, answer.reason, answer.read(OUTPUT_LIMIT)
        except urllib.error.HTTPError as error:
            code, reason, body = error.code, error.reason, error.read(OUTPUT_LIMIT)
        except (OSError, ValueError) as error:
            return "critical", f'Get "{check.http}": {error}'
        status = "passing" if 200 <= code < 300 else "warning" if code == 429 else "critical"
        text = body.decode(errors="replace")
        return status, f"HTTP GET {check.http}: {code} {reason} Output: {text}"

    def _reap(self, stop: threading.Event) -> None:
        while not stop.wait(0.1):
            now = time.monotonic()
            with self._changed:
                overdue = [
                    service.id
                    for service in self._state.services.values()
                    for check in service.checks
                    if check.deregister_after is not None
                    and check.critical_since is not None
                    and now - check.critical_since >= check.deregister_after
                ]
                for service_id in overdue:
                    self._drop(service_id)

    # -- health ------------------------------------------------------------------------

    def _current_index(self, name: str) -> int:
        return self._state.service_index.get(name) or self._state.index

    def _entries(self, name: str, passing: bool) -> list[dict[str, Any]]:
        entries = []
        for service in sorted(self._state.services.values(), key=lambda s: s.create_index):
            if service.name != name:
                continue
            checks = [_node_check(), *(_check_json(service, check) for check in service.checks)]
            if passing and any(check["Status"] != "passing" for check in checks):
                continue
            entries.append(
                {"Node": _node_json(), "Service": _service_json(service), "Checks": checks}
            )
        return entries

    def health(self, name: str, *, passing: bool, index: int, wait: float) -> tuple[int, Any]:
        """``GET /v1/health/service/<name>``: (X-Consul-Index, entries); None if cut off."""
        deadline = time.monotonic() + wait + random.uniform(0, wait / 16)  # Consul's jitter
        with self._changed:
            while index > 0 and self._state.service_index.get(name, 0) <= index:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._running.is_set():
                    break
                self._changed.wait(remaining)
            if not self._running.is_set():
                return 0, None
            return self._current_index(name), self._entries(name, passing)


def _node_json() -> dict[str, Any]:
    return {
        "ID": "00000000-0000-0000-0000-000000000001",
        "Node": NODE,
        "Address": NODE_ADDRESS,
        "Datacenter": DATACENTER,
        "TaggedAddresses": {"lan": NODE_ADDRESS, "wan": NODE_ADDRESS},
        "Meta": {},
        "CreateIndex": 1,
        "ModifyIndex": 1,
    }


def _node_check() -> dict[str, Any]:
    return {
        "Node": NODE,
        "CheckID": "serfHealth",
        "Name": "Serf Health Status",
        "Status": "passing",
        "Notes": "",
        "Output": "Agent alive and reachable",
        "ServiceID": "",
        "ServiceName": "",
        "ServiceTags": [],
        "Type": "",
    }


def _service_json(service: _Service) -> dict[str, Any]:
    return {
        "ID": service.id,
        "Service": service.name,
        "Tags": list(service.tags),
        "Address": service.address,
        "Meta": dict(service.meta),
        "Port": service.port,
        "Weights": {"Passing": 1, "Warning": 1},
        "EnableTagOverride": False,
        "CreateIndex": service.create_index,
        "ModifyIndex": service.modify_index,
    }


def _check_json(service: _Service, check: _Check) -> dict[str, Any]:
    return {
        "Node": NODE,
        "CheckID": check.check_id,
        "Name": check.name,
        "Status": check.status,
        "Notes": "",
        "Output": check.output,
        "ServiceID": service.id,
        "ServiceName": service.name,
        "ServiceTags": list(service.tags),
        "Type": "http",
        "Definition": {
            "HTTP": check.http,
            "Interval": f"{check.interval:g}s",
            "Timeout": f"{check.timeout:g}s",
            "DeregisterCriticalServiceAfter": (
                f"{check.deregister_after:g}s" if check.deregister_after is not None else "0s"
            ),
        },
    }


class _Handler(BaseHTTPRequestHandler):
    """The HTTP face of :class:`FakeConsul` (one request per connection, as HTTP/1.0)."""

    consul: FakeConsul

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the fake's state, not its access log."""

    def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else (json.dumps(body) if not isinstance(body, str) else body)
        payload = data.encode() if isinstance(data, str) else data
        self.send_response(status)
        content_type = "text/plain; charset=utf-8" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _authorised(self, query: dict[str, list[str]]) -> bool:
        token = self.consul.token
        if token is None:
            return True
        given = self.headers.get("X-Consul-Token") or (query.get("token") or [""])[0]
        if given == token:
            return True
        self._reply(HTTPStatus.FORBIDDEN, "ACL not found")
        return False

    def do_PUT(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorised(query):
            return
        if parts.path == "/v1/agent/service/register":
            try:
                definition = json.loads(raw or b"{}")
                if not isinstance(definition, dict):
                    raise BadRequest("Request decode failed: not an object")
                self.consul.register(definition)
            except (json.JSONDecodeError, BadRequest) as error:
                self._reply(HTTPStatus.BAD_REQUEST, str(error))
                return
            self._reply(HTTPStatus.OK)
        elif parts.path.startswith("/v1/agent/service/deregister/"):
            service_id = unquote(parts.path.removeprefix("/v1/agent/service/deregister/"))
            if self.consul.deregister(service_id):
                self._reply(HTTPStatus.OK)
            else:
                self._reply(HTTPStatus.NOT_FOUND, f'Unknown service ID "{service_id}"')
        elif parts.path.startswith("/v1/health/service/"):
            self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "method PUT not allowed")
        else:
            self._reply(HTTPStatus.NOT_FOUND, "404 page not found")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if not self._authorised(query):
            return
        if not parts.path.startswith("/v1/health/service/"):
            if parts.path.startswith("/v1/agent/service/"):
                self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "method GET not allowed")
            else:
                self._reply(HTTPStatus.NOT_FOUND, "404 page not found")
            return
        name = unquote(parts.path.removeprefix("/v1/health/service/"))
        passing = "passing" in query and query["passing"][0].lower() not in ("0", "false")
        try:
            index = int((query.get("index") or ["0"])[0] or 0)
            wait_text = (query.get("wait") or [""])[0]
            wait = min(parse_duration(wait_text), MAX_WAIT_SECONDS) if wait_text else None
        except ValueError as error:
            self._reply(HTTPStatus.BAD_REQUEST, f"Invalid query: {error}")
            return
        current, entries = self.consul.health(
            name, passing=passing, index=index, wait=DEFAULT_WAIT_SECONDS if wait is None else wait
        )
        if entries is None:
            # The agent went away mid-query: the connection drops with no answer.
            self.close_connection = True
            return
        self._reply(
            HTTPStatus.OK,
            entries,
            {
                "X-Consul-Index": str(current),
                "X-Consul-KnownLeader": "true",
                "X-Consul-LastContact": "0",
            },
        )
