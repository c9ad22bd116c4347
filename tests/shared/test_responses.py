"""JSON answers keep their field order, and a page links to the next with the same query."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask import Flask

from shared.web.responses import json_response, next_link, page_response


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def test_a_json_response_keeps_the_payloads_order_status_and_headers(app: Flask) -> None:
    with app.test_request_context("/things"):
        response = json_response({"zeta": 1, "alpha": [2]}, 201, {"Location": "/things/1"})

    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert list(json.loads(response.get_data())) == ["zeta", "alpha"]
    assert response.get_json() == {"zeta": 1, "alpha": [2]}
    assert response.headers["Location"] == "/things/1"


def query_of(link: str) -> list[tuple[str, str]]:
    match = re.fullmatch(r'<\?(.*)>; rel="next"', link)
    assert match, link
    return parse_qsl(match.group(1), keep_blank_values=True)


def test_the_next_link_keeps_every_parameter_and_replaces_the_cursor(app: Flask) -> None:
    with app.test_request_context("/api/v1/things?tag=a&cursor=old&tag=b%20c&q=Zo%C3%AB"):
        link = next_link("new-cursor")

    assert query_of(link) == [("tag", "a"), ("tag", "b c"), ("q", "Zoë"), ("cursor", "new-cursor")]


@pytest.mark.parametrize(("next_cursor", "linked"), [("abc", True), (None, False)])
def test_a_page_links_to_the_next_only_when_there_is_one(
    app: Flask, next_cursor: str | None, linked: bool
) -> None:
    page: dict[str, Any] = {"items": [{"id": 1}], "next_cursor": next_cursor}

    with app.test_request_context("/things?limit=1"):
        response = page_response(page)

    assert response.get_json() == page
    assert ("Link" in response.headers) is linked
    if linked:
        assert query_of(response.headers["Link"]) == [("limit", "1"), ("cursor", "abc")]
