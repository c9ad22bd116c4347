"""Field rules of the request models, and the merge-patch rule, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from customer_service.schemas import CustomerCreate, CustomerQuery, CustomerUpdate, NoteCreate
from customer_service.service import merge_patch


def bad_fields(model: type[Any], payload: dict[str, Any]) -> set[str]:
    """The dotted field names pydantic refuses in ``payload``."""
    with pytest.raises(ValidationError) as raised:
        model.model_validate(payload)
    return {".".join(str(part) for part in error["loc"]) for error in raised.value.errors()}


def test_create_normalises_what_it_keeps() -> None:
    customer = CustomerCreate.model_validate(
        {
            "name": "  Ada Lovelace ",
            "email": " ada@EXAMPLE.org ",
            "country": "gb",
            "tags": [" vip", "vip", "beta ", "vip"],
        }
    )

    assert customer.name == "Ada Lovelace"
    assert customer.email == "ada@example.org"
    assert customer.country == "GB"
    assert customer.tags == ["vip", "beta"]
    assert customer.status == "lead"
    assert customer.attributes == {}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"name": "lone \ud800 surrogate"}, "name"),
        ({"name": 12}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "call me"}, "phone"),
        ({"phone": "+1"}, "phone"),
        ({"country": "XX"}, "country"),
        ({"country": "GBR"}, "country"),
        ({"status": "prospect"}, "status"),
        ({"status": None}, "status"),
        ({"tags": "vip"}, "tags"),
        ({"tags": ["ok", 2]}, "tags.1"),
        ({"tags": ["x" * 65]}, "tags.0"),
        ({"tags": [f"t{number}" for number in range(51)]}, "tags"),
        ({"attributes": []}, "attributes"),
        ({"attributes": {"k": float("nan")}}, "attributes"),
        ({"attributes": {"k": "nul\x00"}}, "attributes"),
        ({"attributes": {"nul\x00key": 1}}, "attributes"),
        ({"attributes": {"a": [[[[[[[[1]]]]]]]]}}, "attributes"),
        ({"segment": "s" * 65}, "segment"),
        ({"city": "c" * 121}, "city"),
        ({"company": "c" * 201}, "company"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_create_refuses_each_bad_field_by_name(payload: dict[str, Any], field: str) -> None:
    body = {"name": "Ada", "email": "ada@example.org", **payload}

    assert bad_fields(CustomerCreate, body) == {field}


def test_attributes_may_nest_eight_levels() -> None:
    eight_levels = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}
    body = {"name": "Ada", "email": "ada@example.org", "attributes": eight_levels}

    assert CustomerCreate.model_validate(body).attributes == eight_levels


def test_update_tells_absent_from_null() -> None:
    patch = CustomerUpdate.model_validate({"phone": None, "city": "Leeds"})

    assert patch.changes() == {"phone": None, "city": "Leeds"}


@pytest.mark.parametrize("field", ["name", "email", "status", "tags", "attributes"])
def test_update_refuses_null_for_fields_that_cannot_be_empty(field: str) -> None:
    assert bad_fields(CustomerUpdate, {field: None}) == {field}


def test_empty_update_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one field"):
        CustomerUpdate.model_validate({})


def test_note_body_is_kept_as_sent_but_not_blank() -> None:
    assert NoteCreate.model_validate({"body": "  indented\n"}).body == "  indented\n"
    assert bad_fields(NoteCreate, {"body": " \n\t "}) == {"body"}
    assert bad_fields(NoteCreate, {"body": "x" * 10_001}) == {"body"}


@pytest.mark.parametrize("limit", ["0", "201", "-1", "+5", "1.0", "5_0", " 5", "ten"])
def test_query_limit_is_digits_within_bounds(limit: str) -> None:
    assert bad_fields(CustomerQuery, {"limit": limit}) == {"limit"}


@pytest.mark.parametrize(
    "moment",
    ["2024-05-01T12:00:00", "2024-05-01", "1714564800", "2024-02-30T00:00:00Z", "tomorrow"],
)
def test_query_times_need_a_real_rfc3339_date_time_with_offset(moment: str) -> None:
    assert bad_fields(CustomerQuery, {"created_after": moment}) == {"created_after"}


def test_query_accepts_offsets_and_lower_case_separators() -> None:
    query = CustomerQuery.model_validate(
        {"created_after": "2024-05-01t12:00:00z", "created_before": "2024-05-01T14:00:00+02:00"}
    )

    assert query.created_after == query.created_before


def test_merge_patch_merges_objects_and_removes_null_keys() -> None:
    stored = {"plan": {"tier": "gold", "seats": 5}, "source": "ads", "labels": [1, 2]}
    patch = {"plan": {"seats": 7, "trial": None}, "source": None, "labels": [3]}

    assert merge_patch(stored, patch) == {"plan": {"tier": "gold", "seats": 7}, "labels": [3]}
    assert stored["source"] == "ads"  # the stored value is not modified in place
