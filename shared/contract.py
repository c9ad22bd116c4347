"""A service's OpenAPI contract as data: its operations and the scope each one needs.

The contract (``<package>/openapi.yaml``) is the single source of who may call
what. Each operation names its scope in an OAuth 2 security requirement
(``security: [{oauth2: [customers:read]}]``); ``security: []`` declares it
public. The gateway checks the scope before it forwards, and the service checks
it again, both through :meth:`Contract.match` — no framework involved.

Two extensions set an operation's limits: ``x-rate-limit: <name>`` picks the
gateway's named rate limit its calls count against, and ``x-max-body-bytes:
<int>`` the largest request body it takes, instead of the service's
``MAX_BODY_BYTES`` (``shared.web.app``), at the gateway and at the service.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAMETER = re.compile(r"\{[^{}/]+\}")


class ContractError(Exception):
    """The contract is not usable: an operation without a scope, or a malformed path."""


@dataclass(frozen=True)
class Operation:
    """One method on one path template, and what calling it takes."""

    method: str
    path: str
    #: The scope a caller must hold; None for a public operation.
    scope: str | None
    operation_id: str
    pattern: re.Pattern[str]
    #: The operation's ``x-rate-limit``: which named limit counts its calls, if not the default.
    rate_limit: str | None = None
    #: The operation's ``x-max-body-bytes``: its largest request body, if not the service's.
    max_body_bytes: int | None = None

    @property
    def public(self) -> bool:
        """Whether anyone may call it without credentials."""
        return self.scope is None


class _ContractLoader(yaml.CSafeLoader):
    """SafeLoader that leaves dates as the strings the contract wrote."""


_ContractLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def load_document(path: Path) -> dict[str, Any]:
    """The OpenAPI document at ``path``, as JSON-ready data: a new copy at each call.

    Parsed once per version of the file (a process that builds several apps, as
    the gateway's public document and the tests do, reads each contract once);
    copied from JSON, ten times faster than parsing the YAML again.
    """
    document: dict[str, Any] = json.loads(_document_json(file_version(path)))
    return document


FileVersion = tuple[str, int, int]


def file_version(path: Path) -> FileVersion:
    """What keys a cache of what a file holds: its resolved path, modification time and size."""
    status = path.stat()
    return str(path.resolve()), status.st_mtime_ns, status.st_size


@functools.lru_cache(maxsize=64)
def _document_json(version: FileVersion) -> str:
    """The document of the file at ``version`` as JSON."""
    # A SafeLoader subclass: plain data, never arbitrary objects.
    text = Path(version[0]).read_text()
    document = yaml.load(text, Loader=_ContractLoader)  # noqa: S506  # nosec B506
    return json.dumps(document)


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = _PARAMETER.split(template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def _scope_of(requirements: Any, where: str) -> str | None:
    if requirements == []:
        return None
    flat = {
        scope
        for requirement in requirements or []
        for scopes in requirement.values()
        for scope in scopes
    }
    if len(flat) != 1:
        raise ContractError(f"{where} must name exactly one scope (or security: []), has {flat}")
    return str(flat.pop())


def _max_body_bytes_of(operation: dict[str, Any], where: str) -> int | None:
    value = operation.get("x-max-body-bytes")
    if value is None:
        return None
    # bool is an int to Python; "true" is no size.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ContractError(f"{where}: x-max-body-bytes must be a positive integer, is {value!r}")
    return value


class Contract:
    """The operations of one OpenAPI document, matchable by method and concrete path."""

    def __init__(self, document: dict[str, Any], *, name: str = "contract") -> None:
        self.document = document
        self.name = name
        default_security = document.get("security")
        operations: list[Operation] = []
        for path, item in (document.get("paths") or {}).items():
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    continue
                where = f"{name}: {method.upper()} {path}"
                requirements = operation.get("security", default_security)
                operations.append(
                    Operation(
                        method=method.upper(),
                        path=path,
                        scope=_scope_of(requirements, where),
                        operation_id=str(operation.get("operationId", where)),
                        pattern=_path_pattern(path),
                        rate_limit=operation.get("x-rate-limit"),
                        max_body_bytes=_max_body_bytes_of(operation, where),
                    )
                )
        # Literal paths before templated ones: /customers/export wins over /customers/{id}.
        operations.sort(key=lambda op: (op.path.count("{"), op.path))
        self.operations: tuple[Operation, ...] = tuple(operations)

    def with_paths(self, paths: dict[str, Any]) -> Contract:
        """This contract plus ``paths`` (path items added to its own, e.g. public pages)."""
        document = dict(self.document)
        document["paths"] = {**(document.get("paths") or {}), **paths}
        return Contract(document, name=self.name)

    @classmethod
    @functools.cache
    def load(cls, path: Path) -> Contract:
        """The contract in the YAML file at ``path`` (read once per process)."""
        return cls(load_document(path), name=path.parent.name)

    def match(self, method: str, path: str) -> Operation | None:
        """The operation serving ``method path``; ``HEAD`` is served by ``GET``."""
        method = method.upper()
        fallback = "GET" if method == "HEAD" else None
        found: Operation | None = None
        for operation in self.operations:
            if not operation.pattern.fullmatch(path):
                continue
            if operation.method == method:
                return operation
            if operation.method == fallback and found is None:
                found = operation
        return found

    def has_path(self, path: str) -> bool:
        """Whether any operation is declared for ``path`` (405 rather than 404)."""
        return any(operation.pattern.fullmatch(path) for operation in self.operations)

    def scopes(self) -> dict[str, str]:
        """Every scope the contract's OAuth 2 scheme defines, with its description."""
        schemes = (self.document.get("components") or {}).get("securitySchemes") or {}
        defined: dict[str, str] = {}
        for scheme in schemes.values():
            for flow in (scheme.get("flows") or {}).values():
                defined.update(flow.get("scopes") or {})
        return defined
