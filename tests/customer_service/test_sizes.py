"""Sizes are bounded: ``attributes`` in keys, depth and bytes; a page in items and bytes."""

from __future__ import annotations

import json
import uuid

import pytest

from customer_service.fields import MAX_ATTRIBUTE_BYTES, MAX_ATTRIBUTE_KEYS
from customer_service.service import PAGE_MAX_BYTES
from tests.customer_service.api_client import CustomerApi, customer_fields


def _create(api: CustomerApi, **fields):
    body = json.dumps(customer_fields(**fields), separators=(",", ":"))  # compact, as clients send
    return api.client.post(
        "/customers",
        data=body,
        headers={**api.headers(), "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {f"{index:x}": 0 for index in range(95_000)},  # under the 1 MiB body limit
        {f"k{index}": index for index in range(MAX_ATTRIBUTE_KEYS + 1)},
        {"outer": {f"k{index}": {"x": 1} for index in range(MAX_ATTRIBUTE_KEYS // 2 + 1)}},
        {"text": "x" * MAX_ATTRIBUTE_BYTES},
    ],
    ids=["95000-keys", "one-key-too-many", "nested-keys-count", "too-many-bytes"],
)
def test_attributes_over_a_cap_are_a_422_naming_the_field(api: CustomerApi, attributes):
    response = _create(api, attributes=attributes)

    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == ["attributes"]


def test_attributes_at_the_caps_are_accepted(api: CustomerApi):
    at_keys = {f"k{index}": index for index in range(MAX_ATTRIBUTE_KEYS)}
    text = "x" * (MAX_ATTRIBUTE_BYTES - len(json.dumps({"text": ""}, separators=(",", ":"))))

    assert _create(api, attributes=at_keys).status_code == 201
    assert _create(api, attributes={"text": text}).status_code == 201


def test_a_page_of_large_customers_is_cut_in_bytes_and_the_cursor_continues(api: CustomerApi):
    tag = f"big-{uuid.uuid4().hex[:8]}"
    filler = "y" * (MAX_ATTRIBUTE_BYTES - 64)
    created = {
        _create(api, tags=[tag], attributes={"notes": filler}).get_json()["id"] for _ in range(80)
    }

    seen: list[str] = []
    pages = []
    cursor = None
    while True:
        query = f"/customers?tag={tag}&limit=200" + (f"&cursor={cursor}" if cursor else "")
        response = api.client.get(query, headers=api.headers())
        assert response.status_code == 200
        page = response.get_json()
        pages.append((len(page["items"]), len(response.get_data())))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(pages) >= 2
    assert all(size <= PAGE_MAX_BYTES + 4096 for _, size in pages)
    assert pages[0][0] < 80
    assert len(seen) == len(set(seen)) == 80
    assert set(seen) == created
