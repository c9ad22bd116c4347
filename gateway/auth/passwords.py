"""Password hashing with Argon2id, in constant time whether or not the user exists."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from gevent import monkey  # type: ignore[import-untyped]
from gevent.threadpool import ThreadPool  # type: ignore[import-untyped]

#: Hashes computed at once per process under gevent. Each holds ``memory_kib``
#: (64 MiB by default) while it runs, so memory bounds this, not connections:
#: more waiting logins queue here instead of growing the process past its limit.
HASHING_THREADS = 2

T = TypeVar("T")


class PasswordHasher:
    """Hashes and checks passwords with the configured Argon2id cost."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()
        self._pool: Any = None

    def _off_the_hub(self, work: Callable[..., T], *args: Any) -> T:
        """Run an Argon2 computation where it cannot stall every other connection.

        Under the gevent worker one thread serves all of a process's connections,
        and a hash at the default cost takes ~0.15 s: run there, it would stop them
        all for that long. argon2-cffi releases the GIL while it hashes, so a thread
        of a small gevent pool computes it while the hub goes on serving. Without
        gevent (the CLI, unit tests) there is no hub to keep free: it runs in place.
        """
        if not monkey.is_module_patched("threading"):
            return work(*args)
        if self._pool is None:  # made in the worker that uses it: threads do not survive fork
            self._pool = ThreadPool(HASHING_THREADS)
        return self._pool.apply(work, args)  # type: ignore[no-any-return]

    def hash(self, password: str) -> str:
        """A salted Argon2id hash of ``password``."""
        return self._off_the_hub(self._hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``."""
        return self._off_the_hub(self._matches, password_hash, password)

    def _matches(self, password_hash: str, password: str) -> bool:
        # A mismatch is answered inside the pool's thread: gevent prints the traceback
        # of every exception a pool task raises, and wrong passwords are routine.
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_nobody(self, password: str) -> None:
        """Spend the time a real check takes, so a missing user cannot be told by timing."""
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
