"""Reading a Flask request's body and query string into pydantic models.

Every way a client can get a body wrong ends here as a clear problem:
not JSON (415), unparsable (400), too big (413, from ``MAX_CONTENT_LENGTH``),
not an object or breaking field rules (422, naming each field).
"""

from __future__ import annotations

import json
import typing
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from shared.errors import BadRequest, UnsupportedMediaType, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)


def json_body() -> Any:
    """The request body parsed as JSON, or the problem explaining why not."""
    if not request.is_json:
        raise UnsupportedMediaType(
            f"Expected Content-Type application/json, got {request.mimetype or 'none'!r}"
        )
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise BadRequest(f"Malformed JSON body: {error}") from None
    except RecursionError:
        # The interpreter's own message names its internals; say what the client sent.
        raise BadRequest("Malformed JSON body: nested too deeply") from None
    except ValueError:
        # e.g. an integer of thousands of digits (the interpreter's message names sys.*).
        raise BadRequest("Malformed JSON body: a number is too long") from None


def parse_body(model: type[Model]) -> Model:
    """Validate the JSON object in the body against ``model``."""
    payload = json_body()
    if not isinstance(payload, dict):
        raise ValidationFailed(
            [{"field": "body", "message": "expected a JSON object", "code": "object_type"}]
        )
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from None


def _is_list_field(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list_field(typing.get_args(annotation)[0])
    if origin is list:
        return True
    # Optional[list[...]] and other unions: a list if any member is one.
    return origin is not None and any(_is_list_field(arg) for arg in typing.get_args(annotation))


def parse_query(model: type[Model]) -> Model:
    """Validate the query string against ``model``; list fields take repeats."""
    values: dict[str, Any] = {}
    repeated: list[dict[str, str]] = []
    for name in request.args:
        given = request.args.getlist(name)
        field = model.model_fields.get(name)
        if field is not None and _is_list_field(field.annotation):
            values[name] = given
        elif len(given) > 1:
            repeated.append({"field": name, "message": "given more than once", "code": "repeated"})
        else:
            values[name] = given[0]
    if repeated:
        raise ValidationFailed(repeated)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from None
