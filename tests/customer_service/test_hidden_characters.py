"""Names, tags and notes carry what a person can see: no control characters, no bidi
overrides, no values made only of invisible characters."""

from __future__ import annotations

import pytest

from tests.customer_service.api_client import CustomerApi, customer_fields

INVISIBLE = ["\u200b", "\ufeff", "\u200d", "\u200b\ufeff\u200d", " \u200b "]
HIDDEN_CONTROLS = [
    "Ada\x1b[31m Lovelace",  # an ANSI colour escape
    "Ada\x07",  # a bell
    "\u202eecalevoL adA",  # right-to-left override
    "Ada \u2066Lovelace\u2069",  # isolates
]


def _field_errors(response) -> list[str]:
    return [error["field"] for error in response.get_json()["errors"]]


@pytest.mark.parametrize("value", INVISIBLE)
@pytest.mark.parametrize("field", ["name", "company", "city", "segment"])
def test_a_label_of_only_invisible_characters_is_blank(api: CustomerApi, field, value):
    response = api.client.post(
        "/customers", json=customer_fields(**{field: value}), headers=api.headers()
    )

    assert response.status_code == 422
    assert _field_errors(response) == [field]


@pytest.mark.parametrize("value", INVISIBLE)
def test_a_tag_of_only_invisible_characters_is_blank(api: CustomerApi, value):
    response = api.client.post(
        "/customers", json=customer_fields(tags=["ok", value]), headers=api.headers()
    )

    assert response.status_code == 422
    assert _field_errors(response) == ["tags.1"]


@pytest.mark.parametrize("value", HIDDEN_CONTROLS)
@pytest.mark.parametrize("field", ["name", "tags"])
def test_control_characters_and_bidi_overrides_are_refused(api: CustomerApi, field, value):
    body = customer_fields(**{field: [value] if field == "tags" else value})

    response = api.client.post("/customers", json=body, headers=api.headers())

    assert response.status_code == 422
    assert _field_errors(response)[0].startswith(field)


def test_invisible_characters_around_a_label_are_trimmed_and_inside_kept(api: CustomerApi):
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one emoji joined with ZWJ
    body = customer_fields(name="\u200b Ada Lovelace\ufeff ", tags=[f"\u200b{family}"])

    created = api.client.post("/customers", json=body, headers=api.headers()).get_json()

    assert created["name"] == "Ada Lovelace"
    assert created["tags"] == [family]


def test_a_note_keeps_its_lines_but_not_hidden_controls(api: CustomerApi):
    customer = api.create_ok()
    notes = f"/customers/{customer['id']}/notes"

    kept = api.client.post(notes, json={"body": "line one\n\tline two"}, headers=api.headers())
    escaped = api.client.post(notes, json={"body": "\x1b[2Jwiped"}, headers=api.headers())
    invisible = api.client.post(notes, json={"body": "\u200b\n\u200b"}, headers=api.headers())

    assert kept.status_code == 201
    assert kept.get_json()["body"] == "line one\n\tline two"
    assert escaped.status_code == 422
    assert invisible.status_code == 422
