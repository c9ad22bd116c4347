"""JWT verification and the platform's one scope check, with no web framework.

Tokens are RS256 JWTs issued by the gateway. A token passes only if its
header names ``RS256`` and a key id we know, its signature verifies with that
RSA public key, and ``exp``/``nbf``/``iat``/``iss``/``aud`` hold (with a small
leeway). ``alg=none`` and HS256 tokens signed with the public key as an HMAC
secret are refused before any key is looked up.

Every service verifies tokens itself (defence in depth). Scopes are the unit of
permission: the gateway maps roles to scopes when it issues a token, and the
gateway and each service apply :func:`check_scope` with the scope the contract
(``shared.contract``) names for the operation called. ``shared.web.auth`` wires
both into a Flask app.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cachetools import TLRUCache

from shared.errors import Forbidden, ProblemError, ServiceUnavailable, Unauthorized

ALGORITHM = "RS256"
#: Until a first key set has arrived there is nothing to serve from, so a request
#: may fetch itself, at most this often (a service started before the gateway
#: answers as soon as the gateway does, not a refresher tick later).
FIRST_FETCH_RETRY_SECONDS = 0.2
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub")
#: Longest a token may live (``exp - iat``), whatever its signature says: the
#: gateway issues nothing longer (access tokens are capped at a day).
DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 86_400

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user or an API key, with what it may do."""

    subject: str
    name: str
    role: str
    scopes: frozenset[str]
    kind: str = "user"
    token_id: str = ""

    def has_scope(self, scope: str) -> bool:
        """Whether this principal may do what ``scope`` names."""
        return scope in self.scopes


class KeySource(Protocol):
    """Finds the public key for a key id; raises :class:`Unauthorized` if unknown."""

    def __call__(self, kid: str) -> Any: ...


class JwksKeySource:
    """Public keys from the gateway's JWKS, kept fresh off the request path.

    The gateway forwards requests to services and services fetch keys from the
    gateway: fetching on the request path would let a busy gateway and a busy
    service wait on each other. So a thread in each process refreshes the key
    set from the moment the source is built (every ``refresh_seconds``; every
    second until the first success), the last good set stays in use when a
    refresh fails, and a request fetches only for a key id it has not seen (a
    rotation), at most once per ``cooldown_seconds`` (or per
    ``FIRST_FETCH_RETRY_SECONDS`` while no key set has arrived yet).
    """

    def __init__(
        self,
        url: str,
        *,
        cooldown_seconds: float = 5.0,
        timeout: float = 3.0,
        refresh_seconds: float = 60.0,
    ) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._cooldown = cooldown_seconds
        self._refresh_seconds = refresh_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._last_error: str | None = None
        self._lock = threading.Lock()
        self._refresher_pid: int | None = None
        self._closed = threading.Event()
        # Start fetching now: a worker's first request must not wait on the gateway.
        self._start_refresher()

    def __call__(self, kid: str) -> Any:
        self._start_refresher()
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:  # waits for a refresh already under way
            key = self._keys.get(kid)
            cooldown = self._cooldown if self._keys else FIRST_FETCH_RETRY_SECONDS
            if key is None and time.monotonic() - self._attempted_at >= cooldown:
                self._refresh()
                key = self._keys.get(kid)
            if key is not None:
                return key
            if self._last_error is not None and not self._keys:
                raise ServiceUnavailable(self._last_error)
        raise Unauthorized("Token signed with an unknown key")

    def check_ready(self) -> None:
        """A readiness check: raises until a first key set has been fetched."""
        if not self._keys:
            self._refresh_when_due()
            if not self._keys:
                raise ServiceUnavailable(self._last_error or "No signing keys fetched yet")

    def _refresh(self) -> None:
        """Fetch the key set (lock held); remember the failure instead of the keys."""
        self._attempted_at = time.monotonic()
        try:
            jwk_set = self._client.get_jwk_set()
        except jwt.PyJWKClientConnectionError as error:
            failure = f"Cannot fetch signing keys: {error}"
        except (jwt.PyJWKSetError, jwt.PyJWKClientError, ValueError) as error:
            # The key endpoint answered, but with no usable key set: its fault, not the caller's.
            failure = f"Signing keys unusable: {error}"
        else:
            self._keys = {key.key_id: key.key for key in jwk_set.keys if key.key_id}
            self._fetched_at = self._attempted_at
            self._last_error = None
            return
        if self._last_error is None:  # log the first failure of a streak, not every retry
            logger.warning("signing keys not refreshed: %s", failure)
        self._last_error = failure
        if not self._keys:
            raise ServiceUnavailable(self._last_error)

    def _start_refresher(self) -> None:
        # One thread per process, started lazily so a fork (gunicorn) gets its own.
        if self._refresher_pid == os.getpid():
            return
        with self._lock:
            if self._refresher_pid != os.getpid():
                self._refresher_pid = os.getpid()
                threading.Thread(target=self._refresh_forever, daemon=True).start()

    def _refresh_forever(self) -> None:
        while not self._closed.is_set():
            self._refresh_when_due()
            self._closed.wait(1.0)

    def close(self) -> None:
        """Stop refreshing (keys already fetched stay in use): for whoever builds sources, tests."""
        self._closed.set()

    def _refresh_when_due(self) -> None:
        """Refresh if the key set is stale (or missing), at most once a second; never raises."""
        with self._lock:
            now = time.monotonic()
            due = self._fetched_at + self._refresh_seconds if self._keys else -math.inf
            if now >= due and now - self._attempted_at >= 1.0:
                with contextlib.suppress(ProblemError):
                    self._refresh()


def _until_expiry(_token: str, verified: tuple[Principal, float], _now: float) -> float:
    return verified[1]


class TokenVerifier:
    """Checks an access token and returns the :class:`Principal` it names.

    A token that verified once is remembered until its ``exp``: a client sends
    the same token many times, and checking it again costs more than the
    request it guards (base64 checks, JSON, an RSA signature).
    """

    def __init__(
        self,
        *,
        keys: KeySource,
        issuer: str,
        audience: str,
        leeway: int = 30,
        cache_size: int = 4096,
        max_lifetime: int = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=cache_size, ttu=_until_expiry, timer=time.time
        )
        self._cache_lock = threading.Lock()  # cachetools caches are not thread-safe

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`Unauthorized` otherwise."""
        with self._cache_lock:
            verified = self._verified.get(token)
        if verified is not None:
            return verified[0]
        principal, expires_at = self._verify_signed(token)
        with self._cache_lock:
            self._verified[token] = (principal, expires_at)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("Malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"Token algorithm must be {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("Token has no key id")
        key = self._keys(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token expired") from None
        except jwt.PyJWTError as error:
            raise Unauthorized(f"Invalid token: {error}") from None
        lifetime = claims["exp"] - claims["iat"]
        if not isinstance(lifetime, int | float) or lifetime > self._max_lifetime:
            # A stolen signing key aside, only a bug mints such a token: never honour it.
            raise Unauthorized(f"Token lifetime exceeds {self._max_lifetime} s")
        return principal_from_claims(claims), float(claims["exp"])


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Build the principal a verified token describes."""
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise Unauthorized("Invalid token: scope must be a string")
    return Principal(
        subject=str(claims["sub"]),
        name=str(claims.get("name", claims["sub"])),
        role=str(claims.get("role", "")),
        scopes=frozenset(scope.split()),
        kind=str(claims.get("kind", "user")),
        token_id=str(claims.get("jti", "")),
    )


def check_scope(principal: Principal, scope: str | None) -> None:
    """Refuse with 403 unless ``principal`` holds ``scope``; ``None`` (public) passes."""
    if scope is not None and not principal.has_scope(scope):
        raise Forbidden(f"Role {principal.role or principal.kind!r} lacks scope {scope!r}")
