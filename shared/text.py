"""Text any service stores: what PostgreSQL can hold, as a pydantic type every schema shares.

JSON allows what PostgreSQL's ``text`` refuses: NUL characters, and lone
surrogates (``"\\ud800"``), which are not Unicode at all and cannot be encoded
as UTF-8 — by the database driver, by Argon2, by anything. Refusing them when a
request body is validated makes them a 422 naming the field instead of a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None if it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no unpaired surrogates)"
    return None


def check_text(value: Any) -> Any:
    """Refuse strings that cannot be stored; other types go on to the type checks."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
    return value


#: A string a client sends that can be stored and encoded.
StorableText = Annotated[str, BeforeValidator(check_text)]
