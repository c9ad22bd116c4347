"""Signing keys (creation, rotation, the JWKS, a short cache) and the access tokens they sign.

The signer uses the newest key already active. A rotation publishes the new
key in the JWKS ``activation_delay`` before it signs, so services' JWKS caches
see it first, and schedules the older keys to retire only once every token
they signed has expired: rotating logs nobody out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gateway.auth.errors import SigningKeyUnavailable
from gateway.auth.models import ApiKey, Clock, SigningKeyRecord, User, utc_now
from gateway.auth.roles import API_KEY_ROLE, scope_string, scopes_for_role
from gateway.auth.store import AuthStore
from shared.auth import ALGORITHM, Principal
from shared.errors import ServiceUnavailable, Unauthorized

KEY_SIZE = 2048
#: A token naming a kid we don't know forces a reload at most this often, so
#: forged kids cannot turn every request into a database read.
UNKNOWN_KID_RELOAD_SECONDS = 1.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningKey:
    """The key tokens are signed with now."""

    kid: str
    private_key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class Rotation:
    """What a rotation did."""

    kid: str
    activates_at: datetime
    #: Older keys and when they leave the JWKS.
    retiring: tuple[tuple[str, datetime], ...]
    #: Keys that were still pending; they never signed, so they were dropped.
    superseded: tuple[str, ...]


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The public key as a JWK with its RFC 7638 thumbprint as ``kid``."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    members = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    return {**members, "kid": thumbprint.decode(), "use": "sig", "alg": ALGORITHM}


def generate_signing_key(
    passphrase: bytes,
    *,
    activation_delay: timedelta = timedelta(0),
    clock: Clock = utc_now,
) -> SigningKeyRecord:
    """A fresh RSA key pair, private half encrypted with ``passphrase``, active after the delay."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    jwk = public_jwk(private_key.public_key())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    # Timestamps taken after the (slow) generation, so the delay is not eaten by it.
    created_at = clock()
    return SigningKeyRecord(
        kid=jwk["kid"],
        private_key_pem=pem.decode("ascii"),
        public_jwk=jwk,
        created_at=created_at,
        activates_at=created_at + activation_delay,
        retires_at=None,
    )


def _live_at(key: SigningKeyRecord, moment: datetime) -> bool:
    return key.retires_at is None or key.retires_at > moment


class SigningKeyRing:
    """The gateway's signing keys, read from its database and cached briefly per process."""

    def __init__(
        self,
        store: AuthStore,
        *,
        passphrase: bytes,
        cache_seconds: float,
        activation_delay_seconds: int,
        retire_after_seconds: int,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._clock = clock
        self._passphrase = passphrase
        self._cache_seconds = cache_seconds
        self._activation_delay = timedelta(seconds=activation_delay_seconds)
        #: From a newer key's activation until an older key may leave the JWKS.
        self._retire_after = timedelta(seconds=retire_after_seconds)
        self._lock = threading.Lock()
        self._keys: tuple[SigningKeyRecord, ...] = ()
        self._loaded_at = float("-inf")
        # Decrypting costs tens of milliseconds; keys never change, so once per process.
        self._private_keys: dict[str, rsa.RSAPrivateKey] = {}
        self._decrypt_lock = threading.Lock()
        self._public_keys: dict[str, Any] = {}

    def signing_key(self) -> SigningKey:
        """The newest active key, decrypted; creates the first key if there is none."""
        keys = self._cached_keys()
        now = self._clock()
        for record in keys:
            if record.activates_at <= now and _live_at(record, now):
                return SigningKey(record.kid, self._decrypt(record))
        raise SigningKeyUnavailable("No signing key is active yet")

    def __call__(self, kid: str) -> Any:
        """The public key for ``kid`` (a ``shared.auth.KeySource``); 401 if unknown or retired."""
        record = self._find(self._cached_keys(), kid)
        if record is None and time.monotonic() - self._loaded_at >= UNKNOWN_KID_RELOAD_SECONDS:
            record = self._find(self._cached_keys(reload=True), kid)
        if record is None or not _live_at(record, self._clock()):
            raise Unauthorized("Token signed with an unknown key")
        public_key = self._public_keys.get(kid)
        if public_key is None:
            public_key = RSAAlgorithm.from_jwk(record.public_jwk)
            self._public_keys[kid] = public_key
        return public_key

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWK Set: every key not retired, pending ones included."""
        keys = self._cached_keys()
        now = self._clock()
        return {"keys": [dict(key.public_jwk) for key in keys if _live_at(key, now)]}

    def rotate(self) -> Rotation:
        """Add a key that signs after the activation delay; retire the others once safe."""
        record = generate_signing_key(
            self._passphrase, activation_delay=self._activation_delay, clock=self._clock
        )
        with self._store.transaction() as tx:
            tx.lock_signing_keys()
            superseded = tx.delete_pending_signing_keys(record.created_at)
            tx.insert_signing_key(record)
            retiring = tx.retire_signing_keys_but(
                record.kid, record.activates_at + self._retire_after
            )
        self.forget()
        logger.info(
            "signing key rotated",
            extra={"kid": record.kid, "activates_at": record.activates_at.isoformat()},
        )
        return Rotation(record.kid, record.activates_at, tuple(retiring), tuple(superseded))

    def forget(self) -> None:
        """Drop the cached key list so the next use reads the database."""
        with self._lock:
            self._loaded_at = float("-inf")

    @staticmethod
    def _find(keys: tuple[SigningKeyRecord, ...], kid: str) -> SigningKeyRecord | None:
        return next((key for key in keys if key.kid == kid), None)

    def _cached_keys(self, *, reload: bool = False) -> tuple[SigningKeyRecord, ...]:
        with self._lock:
            if reload or time.monotonic() - self._loaded_at >= self._cache_seconds:
                try:
                    self._keys = self._load()
                except ServiceUnavailable:
                    if not self._keys:
                        raise
                    # Tokens keep verifying through a database blip; retirement
                    # is still checked against the clock on every use.
                    logger.warning("signing keys not reloaded; database unavailable")
                self._loaded_at = time.monotonic()
            return self._keys

    def _load(self) -> tuple[SigningKeyRecord, ...]:
        with self._store.transaction() as tx:
            keys = tx.live_signing_keys(self._clock())
        if not keys:
            keys = self._create_first_key()
        return tuple(keys)

    def _create_first_key(self) -> list[SigningKeyRecord]:
        # Workers starting together all get here; the advisory lock lets one
        # create the key and the others find it once the lock is theirs.
        with self._store.transaction() as tx:
            tx.lock_signing_keys()
            keys = tx.live_signing_keys(self._clock())
            if not keys:
                record = generate_signing_key(self._passphrase, clock=self._clock)
                tx.insert_signing_key(record)
                logger.info("first signing key created", extra={"kid": record.kid})
                keys = [record]
        return keys

    def _decrypt(self, record: SigningKeyRecord) -> rsa.RSAPrivateKey:
        private_key = self._private_keys.get(record.kid)
        if private_key is not None:
            return private_key
        # One thread decrypts; the others wait for it rather than repeat the work.
        with self._decrypt_lock:
            private_key = self._private_keys.get(record.kid)
            if private_key is None:
                private_key = self._decrypt_now(record)
                self._private_keys[record.kid] = private_key
            return private_key

    def _decrypt_now(self, record: SigningKeyRecord) -> rsa.RSAPrivateKey:
        try:
            loaded = serialization.load_pem_private_key(
                record.private_key_pem.encode("ascii"), password=self._passphrase
            )
        except ValueError:
            logger.error("signing key %s cannot be decrypted; check JWT_KEY_PASSPHRASE", record.kid)
            raise SigningKeyUnavailable("The signing key cannot be decrypted") from None
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise SigningKeyUnavailable(f"Signing key {record.kid} is not an RSA key")
        return loaded


#: ``typ`` header of an OAuth 2.0 access token in JWT form (RFC 9068).
JWT_TYPE = "at+jwt"
#: The claim naming the session (refresh token family) a user's token was issued in,
#: as OpenID Connect names a session.
SESSION_CLAIM = "sid"


@dataclass(frozen=True)
class AccessToken:
    """A signed access token and what a client needs to know about it."""

    token: str
    expires_in: int
    scope: str
    #: The ``jti`` claim.
    token_id: str


def user_principal(user: User) -> Principal:
    """The principal a user's token describes: scopes come from the role table."""
    return Principal(
        subject=str(user.id),
        name=user.username,
        role=user.role,
        scopes=frozenset(scopes_for_role(user.role)),
        kind="user",
    )


def api_key_principal(key: ApiKey) -> Principal:
    """The principal a request made with an API key acts as: the key's own scopes."""
    return Principal(
        subject=str(key.id),
        name=key.name,
        role=API_KEY_ROLE,
        scopes=frozenset(key.scopes),
        kind="api_key",
    )


class AccessTokenIssuer:
    """Signs access tokens with the ring's active key."""

    def __init__(
        self,
        keys: SigningKeyRing,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Clock = utc_now,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def token_for_principal(
        self,
        principal: Principal,
        ttl_seconds: int | None = None,
        *,
        session_id: uuid.UUID | None = None,
    ) -> AccessToken:
        """A token naming ``principal``, valid for ``ttl_seconds`` (default: access TTL).

        ``session_id`` (the login's refresh token family) becomes the ``sid`` claim:
        it tells which session a request comes from (a password change keeps it).
        """
        ttl = self._ttl_seconds if ttl_seconds is None else ttl_seconds
        now = int(self._clock().timestamp())
        scope = scope_string(principal.scopes)
        token_id = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": principal.subject,
            "name": principal.name,
            "role": principal.role,
            "scope": scope,
            "kind": principal.kind,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": token_id,
        }
        if session_id is not None:
            claims[SESSION_CLAIM] = str(session_id)
        key = self._keys.signing_key()
        token = jwt.encode(
            claims,
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": JWT_TYPE},
        )
        return AccessToken(token=token, expires_in=ttl, scope=scope, token_id=token_id)

    def token_for_user(self, user: User, *, session_id: uuid.UUID | None = None) -> AccessToken:
        """An access token for a logged-in user, in the session ``session_id``."""
        return self.token_for_principal(user_principal(user), session_id=session_id)
