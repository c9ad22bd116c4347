"""Which passwords may be set: long enough, something visible, and not easy to guess.

One policy for every way a password is set (the users API, a user changing
their own at ``/api/v1/auth/password``, the CLI's ``create-user``,
``ensure-admin`` and ``reset-password``), applied by
:class:`~gateway.auth.service.AccountService`, because it needs what a request
body does not always carry: the username and the role.

Guessability is zxcvbn's estimate (Dropbox's model, as the ``zxcvbn`` package
ports it, with its own frequency lists: no download). The username, the role and
the product's name are passed as context words, so ``margaret.hamilton1`` is
as weak for Margaret as ``password1234`` is for anyone.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # (ships no type hints)

from gateway.auth.errors import PasswordRefused

# ``shown`` is shared.text's one notion of "puts something on the screen": a
# password made only of spaces or invisible characters (U+200B, U+FEFF...) is blank.
from shared.text import shown

PASSWORD_MIN_LENGTH = 12
#: Bounds the work one login asks of Argon2 and keeps hashes reasonable.
PASSWORD_MAX_LENGTH = 1024
#: zxcvbn's scores run 0-4; 3 is "safely unguessable: moderate protection from an offline attack".
MIN_SCORE = 3
#: zxcvbn's work grows faster than the length (on this machine: 100 characters ~0.1 s, 200
#: ~0.4 s, 400 ~4 s), so only a password's first characters are scored. A password whose first
#: 100 characters are hard to guess is hard to guess.
SCORED_LENGTH = 100
#: Words that make a password guessable here, whoever the user is.
PRODUCT_WORDS = ("clientele",)
#: What separates the parts of a username (``margaret.hamilton``, ``ada@example.com``).
_USERNAME_SEPARATORS = re.compile(r"[._@-]+")

# zxcvbn 4.5.0 puts each call's context words into a module-level dictionary and
# then reads them back (dwolfhub/zxcvbn-python #16, #84): two threads scoring at
# once could each be scored against the other's username. Calls take turns.
_ZXCVBN_LOCK = threading.Lock()


def _estimate(password: str, context: Iterable[str]) -> dict[str, Any]:
    with _ZXCVBN_LOCK:
        result: dict[str, Any] = zxcvbn(
            password[:SCORED_LENGTH], user_inputs=list(context), max_length=SCORED_LENGTH
        )
    return result


def context_words(username: str, role: str, product_words: Iterable[str]) -> list[str]:
    """The words zxcvbn treats as known to an attacker: the username and its parts, the role."""
    parts = [part for part in _USERNAME_SEPARATORS.split(username) if len(part) >= 3]
    return list(dict.fromkeys([username, *parts, role, *product_words]))


def _uses_context(result: dict[str, Any]) -> bool:
    """Whether zxcvbn found one of the context words in the password."""
    return any(match.get("dictionary_name") == "user_inputs" for match in result["sequence"])


def _advice(result: dict[str, Any]) -> str:
    """zxcvbn's warning and suggestions as one sentence or two, or a plain refusal."""
    feedback = result.get("feedback") or {}
    parts = [str(feedback.get("warning") or "")]
    if _uses_context(result):
        parts.append("It is too close to the username, the role or the product's name.")
    parts += [str(suggestion) for suggestion in feedback.get("suggestions") or ()]
    return " ".join(part for part in parts if part) or "This password is too easy to guess."


class PasswordPolicy:
    """The rules a new password must meet; :class:`PasswordRefused` names the one it breaks."""

    def __init__(self, *, product_words: Iterable[str] = PRODUCT_WORDS) -> None:
        self._product_words = tuple(product_words)

    def check(self, password: str, *, username: str, role: str, field: str = "password") -> None:
        """Refuse ``password`` for the user ``username`` with ``role``, or return.

        ``field`` is the request field a refusal names (``new_password`` when users
        change their own).
        """
        if len(password) < PASSWORD_MIN_LENGTH:
            raise PasswordRefused(
                f"String should have at least {PASSWORD_MIN_LENGTH} characters",
                code="string_too_short",
                field=field,
            )
        if len(password) > PASSWORD_MAX_LENGTH:
            raise PasswordRefused(
                f"String should have at most {PASSWORD_MAX_LENGTH} characters",
                code="string_too_long",
                field=field,
            )
        if not any(shown(character) for character in password):
            raise PasswordRefused(
                "must contain visible characters, not only spaces or invisible ones",
                code="password_blank",
                field=field,
            )
        result = _estimate(password, context_words(username, role, self._product_words))
        if int(result["score"]) < MIN_SCORE:
            raise PasswordRefused(_advice(result), code="password_guessable", field=field)
