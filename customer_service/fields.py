"""Rules for single field values, used by the pydantic models in ``schemas``.

Each rule raises ``ValueError`` with a message meant for the client; pydantic turns
it into one entry of a 422 problem naming the field. Several rules exist only
because PostgreSQL refuses what JSON allows (NUL characters and lone surrogates,
checked by ``shared.text``; ``NaN``): rejecting those here keeps them from ever
reaching the database as a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

import email_validator
import iso3166

from shared.text import text_problem

#: Deepest nesting allowed inside ``attributes`` (the object itself is level 1).
MAX_ATTRIBUTE_DEPTH = 8
#: Most keys ``attributes`` may hold, counted at every level.
MAX_ATTRIBUTE_KEYS = 256
#: Largest ``attributes`` may be, as compact UTF-8 JSON: a customer is a record,
#: not a document store, and every listing page carries it.
MAX_ATTRIBUTE_BYTES = 16_384


def normalise_email(value: str) -> str:
    """A syntactically valid address, normalised (domain lower-cased); no DNS lookup."""
    try:
        checked = email_validator.validate_email(value.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValueError(f"is not a valid email address: {error}") from None
    return str(checked.normalized)


def check_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code that exists, upper-cased."""
    code = value.upper()
    if code not in iso3166.countries_by_alpha2:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code")
    return code


def unique_in_order(items: list[str]) -> list[str]:
    """Drop repeated items, keeping the first occurrence of each."""
    return list(dict.fromkeys(items))


def check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    """A JSON object PostgreSQL can store as ``jsonb``, within the depth, key and size caps."""
    _check_json_value(value, depth=1)
    keys = _count_keys(value)
    if keys > MAX_ATTRIBUTE_KEYS:
        raise ValueError(f"must hold at most {MAX_ATTRIBUTE_KEYS} keys in all, has {keys}")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_ATTRIBUTE_BYTES:
        raise ValueError(f"must be at most {MAX_ATTRIBUTE_BYTES} bytes as JSON, is {size}")
    return value


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(item) for item in value.values())
    if isinstance(value, list):
        return sum(_count_keys(item) for item in value)
    return 0


def _check_json_value(value: Any, depth: int) -> None:
    if isinstance(value, dict | list):
        if depth > MAX_ATTRIBUTE_DEPTH:
            raise ValueError(f"must not nest deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_json_text(key)
                _check_json_value(item, depth + 1)
        else:
            for item in value:
                _check_json_value(item, depth + 1)
    elif isinstance(value, str):
        _check_json_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must not contain NaN or infinite numbers")


def _check_json_text(value: str) -> None:
    problem = text_problem(value)
    if problem:
        raise ValueError(f"keys and strings {problem}")
