"""The public API's one OpenAPI document, built from every declared service's own contract.

Each service behind the gateway publishes the contract of its own paths
(``<package>/openapi.yaml``, ``/customers/...``); a client sees them under the
gateway's public prefixes (``/api/v1/customers/...``, ``services.toml``). This
module puts the gateway's contract and every routed service's into one
OpenAPI 3.1 document, as a client of the gateway sees the API:

* paths under their public prefix (``route.upstream`` becomes ``route.public``);
  the gateway's own paths as they are. Only what a client can call is kept:
  the gateway's paths under ``/api/`` and ``/.well-known/``, a service's paths
  under its upstream prefix. Health, readiness and each service's own
  ``/openapi.json`` stay out;
* components merged, only those the kept operations reach. A name keeps its
  spelling for the first contract defining it (the gateway's, then in
  declaration order) and every contract defining it alike; another contract's
  different definition becomes ``<service>.<Name>``, and every ``$ref`` follows.
  An ``operationId`` two contracts use is prefixed the same way, links included;
* schemas of a contract written in OpenAPI 3.0 said in 3.1's words: ``nullable``
  becomes a ``"null"`` type, boolean ``exclusiveMinimum``/``Maximum`` a bound;
* one set of security schemes: ``bearerAuth`` (the access token, what a browser
  pastes into "Authorize"), ``apiKey`` (``X-API-Key``), and ``oauth2``, whose
  password flow lists every scope of every contract. Each guarded operation
  accepts any of the three with the one scope its contract names.

Plain data in, plain data out: no Flask (``gateway.apidocs.api`` serves it).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.contract import HTTP_METHODS, FileVersion, file_version, load_document
from shared.services import Service, load_services

OPENAPI_VERSION = "3.1.0"
#: Paths of the gateway's own contract a client calls; the rest is for operators.
GATEWAY_PUBLIC_PREFIXES = ("/api/", "/.well-known/")
#: The component kinds of OpenAPI 3.1 that ``$ref`` may point into.
COMPONENT_KINDS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "links",
    "callbacks",
    "pathItems",
)
BEARER_SCHEME = "bearerAuth"
API_KEY_SCHEME = "apiKey"
OAUTH2_SCHEME = "oauth2"
_LOCAL_REF = re.compile(r"#/components/(?P<kind>[A-Za-z]+)/(?P<name>[^/]+)")
_NAME = re.compile(r"[A-Za-z0-9._-]+")


class PublicApiError(Exception):
    """The contracts cannot be merged (a reference to a component no contract defines)."""


@dataclass(frozen=True)
class Source:
    """One contract to merge: whose it is, and how its paths become public ones."""

    #: The service's declared name (``customer``), used as the prefix of clashing names.
    name: str
    document: dict[str, Any]
    #: ``(upstream, public)`` prefixes; ``None`` for the gateway's own contract.
    route: tuple[str, str] | None

    def public_path(self, path: str) -> str | None:
        """Where a client calls ``path`` through the gateway; ``None`` if it cannot."""
        if self.route is None:
            return path if path.startswith(GATEWAY_PUBLIC_PREFIXES) else None
        upstream, public = self.route
        if path == upstream or path.startswith(upstream.rstrip("/") + "/"):
            return public + path[len(upstream) :]
        return None


def declared_sources(services: Iterable[Service] | None = None) -> list[Source]:
    """The gateway's contract and each routed service's, as ``services.toml`` declares them."""
    sources = []
    for service in load_services() if services is None else services:
        route = None if service.route is None else (service.route.upstream, service.route.public)
        sources.append(Source(service.name, load_document(service.contract_path), route))
    # The gateway's own first: its names are never prefixed.
    sources.sort(key=lambda source: source.route is not None)
    return sources


# --- OpenAPI 3.0 schemas in 3.1's words ---------------------------------------------------


def _upgrade_schema_keywords(node: dict[str, Any]) -> dict[str, Any]:
    """One 3.0 Schema Object's own keywords in 3.1's form (its children are done apart)."""
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), bool) and node.pop(exclusive) and bound in node:
            node[exclusive] = node.pop(bound)
    if "nullable" not in node:
        return node
    if not node.pop("nullable"):
        return node
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
    elif isinstance(kind, list):
        node["type"] = kind if "null" in kind else [*kind, "null"]
    elif isinstance(node.get("anyOf"), list):
        node["anyOf"] = [*node["anyOf"], {"type": "null"}]
    elif isinstance(node.get("oneOf"), list):
        node["oneOf"] = [*node["oneOf"], {"type": "null"}]
    else:
        # A bare $ref or an allOf: null, or whatever the rest allows.
        annotations: dict[str, Any] = {
            key: node.pop(key) for key in ("description", "title") if key in node
        }
        node = {**annotations, "anyOf": [node, {"type": "null"}]}
    return node


def upgraded_to_openapi_31(node: Any) -> Any:
    """A 3.0 document (or part of one) with its schemas in 3.1's form; 3.1 input is unchanged.

    Only Schema Objects carry ``nullable`` or a boolean ``exclusiveMinimum`` in
    3.0, so any object holding one is a schema.
    """
    if isinstance(node, list):
        return [upgraded_to_openapi_31(item) for item in node]
    if not isinstance(node, dict):
        return node
    upgraded = {key: upgraded_to_openapi_31(value) for key, value in node.items()}
    return _upgrade_schema_keywords(upgraded)


# --- references ---------------------------------------------------------------------------


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every object inside ``node``, ``node`` included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def local_refs(node: Any) -> set[tuple[str, str]]:
    """Each ``(kind, name)`` of ``#/components/<kind>/<name>`` that ``node`` refers to."""
    found = set()
    for item in _walk(node):
        reference = item.get("$ref")
        if isinstance(reference, str):
            match = _LOCAL_REF.fullmatch(reference)
            if match is None:
                raise PublicApiError(f"only local component references are supported: {reference}")
            found.add((match["kind"], match["name"]))
    return found


def _with_refs(node: Any, rename: Callable[[str, str], str]) -> Any:
    """A copy of ``node`` whose component references point at ``rename(kind, name)``."""
    if isinstance(node, list):
        return [_with_refs(item, rename) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: _with_refs(value, rename) for key, value in node.items()}
    reference = copied.get("$ref")
    if isinstance(reference, str) and (match := _LOCAL_REF.fullmatch(reference)):
        copied["$ref"] = f"#/components/{match['kind']}/{rename(match['kind'], match['name'])}"
    return copied


def _operations(path_item: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for method, operation in path_item.items():
        if method in HTTP_METHODS and isinstance(operation, dict):
            yield method, operation


# --- one source, reduced to what a client can call -----------------------------------------


@dataclass
class _Part:
    """A source's public paths (by public path) and the components they reach."""

    source: Source
    paths: dict[str, dict[str, Any]]
    components: dict[tuple[str, str], Any]


def _public_part(source: Source) -> _Part:
    document = upgraded_to_openapi_31(copy.deepcopy(source.document))
    default_security = document.get("security")
    paths: dict[str, dict[str, Any]] = {}
    for path, item in (document.get("paths") or {}).items():
        public = source.public_path(path)
        if public is None:
            continue
        item = dict(item)
        for method, operation in _operations(item):
            operation = dict(operation)
            operation["security"] = _public_security(operation.get("security", default_security))
            operation.setdefault("tags", [source.name])
            item[method] = operation
        paths[public] = item
    defined = document.get("components") or {}
    reached: dict[tuple[str, str], Any] = {}
    pending = list(local_refs(paths))
    while pending:
        kind, name = pending.pop()
        if (kind, name) in reached:
            continue
        try:
            reached[(kind, name)] = defined[kind][name]
        except KeyError:
            raise PublicApiError(
                f"{source.name}: #/components/{kind}/{name} is referred to but not defined"
            ) from None
        pending.extend(local_refs(reached[(kind, name)]))
    return _Part(source, paths, reached)


def _public_security(requirements: Any) -> list[dict[str, list[str]]]:
    """A contract's requirement as the public document says it: any scheme, the same scope."""
    if requirements == []:
        return []
    scopes = sorted(
        {
            scope
            for requirement in requirements or []
            for held in requirement.values()
            for scope in held
        }
    )
    return [{scheme: scopes} for scheme in (BEARER_SCHEME, API_KEY_SCHEME, OAUTH2_SCHEME)]


# --- names: components and operation ids ----------------------------------------------------


def _canonical(node: Any) -> str:
    return json.dumps(node, sort_keys=True)


def _component_names(parts: list[_Part]) -> dict[tuple[str, str, str], str]:
    """``(source, kind, name) -> name in the public document``.

    The first source defining a name (the gateway, then in declaration order)
    keeps it, and so does every source defining it alike (after its own
    references are renamed); any other prefixes its own. Renaming one name can
    make two definitions referring to it differ, so the choice is repeated
    until nothing changes.
    """
    definers: dict[tuple[str, str], list[_Part]] = {}
    for part in parts:
        for key in part.components:
            definers.setdefault(key, []).append(part)
    prefixed: set[tuple[str, str, str]] = set()

    def public_name(source: Source, kind: str, name: str) -> str:
        if not _NAME.fullmatch(name) or "." in name:
            raise PublicApiError(f"{source.name}: component name {name!r} cannot be prefixed")
        return f"{source.name}.{name}" if (source.name, kind, name) in prefixed else name

    def renamer(source: Source) -> Callable[[str, str], str]:
        return lambda kind, name: public_name(source, kind, name)

    changed = True
    while changed:
        changed = False
        for (kind, name), sharing in definers.items():
            if len(sharing) < 2:
                continue
            keeper, *others = sharing
            kept = _canonical(_with_refs(keeper.components[(kind, name)], renamer(keeper.source)))
            for part in others:
                owned = (part.source.name, kind, name)
                form = _canonical(_with_refs(part.components[(kind, name)], renamer(part.source)))
                if form != kept and owned not in prefixed:
                    prefixed.add(owned)
                    changed = True
    return {
        (part.source.name, kind, name): public_name(part.source, kind, name)
        for part in parts
        for kind, name in part.components
    }


def _rename_operation_ids(parts: list[_Part]) -> None:
    """Prefix an ``operationId`` two sources use with each service's name (links follow)."""
    users: dict[str, list[_Part]] = {}
    for part in parts:
        ids = {
            operation["operationId"]
            for item in part.paths.values()
            for _, operation in _operations(item)
            if "operationId" in operation
        }
        for operation_id in ids:
            users.setdefault(operation_id, []).append(part)
    for operation_id, sharing in users.items():
        if len(sharing) < 2:
            continue
        for part in sharing:
            if part.source.route is None:
                continue
            renamed = f"{part.source.name}.{operation_id}"
            for node in _walk([part.paths, part.components]):
                if node.get("operationId") == operation_id:
                    node["operationId"] = renamed


# --- the document ---------------------------------------------------------------------------


def _scopes(sources: list[Source]) -> dict[str, str]:
    scopes: dict[str, str] = {}
    for source in sources:
        schemes = (source.document.get("components") or {}).get("securitySchemes") or {}
        for scheme in schemes.values():
            for flow in (scheme.get("flows") or {}).values():
                for scope, description in (flow.get("scopes") or {}).items():
                    scopes.setdefault(scope, description)
    return scopes


def _security_schemes(sources: list[Source]) -> dict[str, Any]:
    return {
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "The `access_token` of `POST /api/v1/auth/token` (or `/refresh`): an RS256"
                " JWT that lives 15 minutes. On this page: log in with that operation, then"
                " paste the token into Authorize."
            ),
        },
        API_KEY_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": (
                "An API key (`POST /api/v1/auth/api-keys`); `Authorization: ApiKey <key>`"
                " works too. It holds the scopes it was created with."
            ),
        },
        OAUTH2_SCHEME: {
            "type": "oauth2",
            "description": (
                "Every scope of the platform. Tokens come from `POST /api/v1/auth/token`,"
                " which takes a JSON body (not an OAuth 2 form): use bearerAuth to try"
                " calls here. A role holds the scopes `services.toml` grants it; each"
                " operation names the one scope it needs."
            ),
            "flows": {
                "password": {
                    "tokenUrl": "/api/v1/auth/token",
                    "refreshUrl": "/api/v1/auth/refresh",
                    "scopes": _scopes(sources),
                }
            },
        },
    }


def _description(sources: list[Source]) -> str:
    lines = [
        "The Clientele platform's public API: the gateway's own endpoints and every"
        " service it routes to, each under its public prefix.",
        "",
        "Authenticate with `Authorization: Bearer <access token>` (from"
        " `POST /api/v1/auth/token`) or an API key (`X-API-Key: <key>`). Each operation"
        " names the scope it needs; `GET /api/v1/auth/me` says which scopes you hold."
        " Every error is `application/problem+json` (RFC 9457); every answer carries"
        " `X-Request-ID`.",
        "",
    ]
    for source in sources:
        info = source.document.get("info") or {}
        where = "the gateway" if source.route is None else f"`{source.route[1]}`"
        lines.append(f"- **{info.get('title', source.name)}** ({where})")
    return "\n".join(lines)


def _tags(sources: list[Source], paths: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    used = [
        tag
        for item in paths.values()
        for _, operation in _operations(item)
        for tag in operation.get("tags") or []
    ]
    declared: dict[str, dict[str, Any]] = {}
    for source in sources:
        for tag in source.document.get("tags") or []:
            declared.setdefault(tag["name"], tag)
    return [declared.get(name, {"name": name}) for name in dict.fromkeys(used)]


def public_api_document(sources: list[Source] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of everything a client can call through the gateway.

    Built from ``sources``, or from the declared contracts: then once per version
    of their files (each app a process creates gets its own copy).
    """
    if sources is None:
        versions = tuple(file_version(service.contract_path) for service in load_services())
        document: dict[str, Any] = json.loads(_declared_public_document(versions))
        return document
    return _built_document(sources)


@functools.lru_cache(maxsize=4)
def _declared_public_document(versions: tuple[FileVersion, ...]) -> str:
    """The public document of the declared contracts, as JSON; their files' versions key it."""
    return json.dumps(_built_document(declared_sources()))


def _built_document(sources: list[Source]) -> dict[str, Any]:
    parts = [_public_part(source) for source in sources]
    _rename_operation_ids(parts)
    names = _component_names(parts)
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    for part in parts:

        def rename(kind: str, name: str, source: str = part.source.name) -> str:
            return names[(source, kind, name)]

        for path, item in part.paths.items():
            if path in paths:
                raise PublicApiError(f"{part.source.name}: {path} is served twice")
            paths[path] = _with_refs(item, rename)
        for (kind, name), definition in part.components.items():
            components.setdefault(kind, {})[rename(kind, name)] = _with_refs(definition, rename)
    gateway_info = next(
        (source.document.get("info") or {} for source in sources if source.route is None), {}
    )
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Clientele public API",
            "version": str(gateway_info.get("version", "1.0.0")),
            "description": _description(sources),
        },
        "tags": _tags(sources, paths),
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": _security_schemes(sources),
            **{
                kind: dict(sorted(components[kind].items()))
                for kind in COMPONENT_KINDS
                if kind in components
            },
        },
    }
    return document
