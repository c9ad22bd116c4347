"""Text any service stores: what PostgreSQL can hold, as a pydantic type every schema shares.

JSON allows what PostgreSQL's ``text`` refuses: NUL characters, and lone
surrogates (``"\\ud800"``), which are not Unicode at all and cannot be encoded
as UTF-8 — by the database driver, by Argon2, by anything. Refusing them when a
request body is validated makes them a 422 naming the field instead of a 500.
"""

from __future__ import annotations

import unicodedata
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


#: Characters that reorder how text around them is shown (Trojan Source, spoofed names).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: Controls a multi-line text may keep.
LINE_CONTROLS = frozenset("\n\r\t")


#: What a label may not contain at all: every control character and bidi control.
FORBIDDEN = frozenset(
    chr(code) for code in range(0x10000) if unicodedata.category(chr(code)) == "Cc"
)
FORBIDDEN |= BIDI_CONTROLS
#: What shows nothing: whitespace and invisible format characters (U+200B, U+FEFF...).
#: Kept to the Basic Multilingual Plane so that the contracts' patterns (JSON Schema
#: regular expressions, which have no astral escapes) say exactly the same.
BLANK = frozenset(
    chr(code)
    for code in range(0x10000)
    if chr(code) not in FORBIDDEN
    and (chr(code).isspace() or unicodedata.category(chr(code)) == "Cf")
)


def shown(character: str) -> bool:
    """Whether ``character`` puts something on the screen (not space, control or format)."""
    return character not in BLANK and character not in FORBIDDEN


def _character_class(characters: frozenset[str]) -> str:
    """The body of a regex character class matching exactly ``characters`` (all BMP)."""
    codes = sorted(ord(character) for character in characters)
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(
        f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
        for first, last in ranges
    )


def label_pattern() -> str:
    """The JSON Schema ``pattern`` of what :func:`clean_label` accepts (the contracts use it)."""
    forbidden = _character_class(FORBIDDEN)
    return f"^[^{forbidden}]*[^{forbidden}{_character_class(BLANK)}][^{forbidden}]*$"


def text_pattern() -> str:
    """The JSON Schema ``pattern`` of what :func:`clean_text` accepts."""
    forbidden = _character_class(FORBIDDEN - LINE_CONTROLS)
    return (
        f"^[^{forbidden}]*[^{forbidden}{_character_class(BLANK | LINE_CONTROLS)}][^{forbidden}]*$"
    )


def _refuse_hidden_controls(value: str, allowed: frozenset[str]) -> None:
    for character in value:
        if character in BIDI_CONTROLS:
            raise ValueError("must not contain bidirectional control characters")
        if unicodedata.category(character) == "Cc" and character not in allowed:
            # ESC starts every ANSI escape sequence; a log or a terminal would obey it.
            raise ValueError("must not contain control characters")


def clean_label(value: str) -> str:
    """A one-line label (a name, a tag): no controls or bidi overrides; trimmed; visible.

    Surrounding whitespace and invisible format characters (U+200B, U+FEFF,
    U+200D...) are stripped; one made only of them is blank.
    """
    _refuse_hidden_controls(value, frozenset())
    start, end = 0, len(value)
    while start < end and not shown(value[start]):
        start += 1
    while end > start and not shown(value[end - 1]):
        end -= 1
    if start == end:
        raise ValueError("must not be blank")
    return value[start:end]


def clean_text(value: str) -> str:
    """Free text (a note): kept as sent, lines and tabs allowed, but something must show."""
    _refuse_hidden_controls(value, LINE_CONTROLS)
    if not any(shown(character) for character in value):
        raise ValueError("must not be blank")
    return value
