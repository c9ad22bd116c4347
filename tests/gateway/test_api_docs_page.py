"""``/docs``: Swagger UI's page and its few files, public, from the npm package, strict CSP."""

from __future__ import annotations

import re

import pytest

from gateway.apidocs.api import ASSETS, SWAGGER_UI

SCRIPT_SOURCES = re.compile(r"<script[^>]*\bsrc=\"([^\"]+)\"")


def _directives(policy: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (directive.split() for directive in policy.split(";") if directive)
    }


def test_the_page_is_public_and_loads_swagger_ui_from_this_origin_only(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert SCRIPT_SOURCES.findall(page) == [
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/docs.js",
    ]
    # No inline script: every <script> has a src and no body.
    assert re.findall(r"<script[^>]*>(.*?)</script>", page, re.DOTALL) == ["", ""]
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page


def test_the_page_s_policy_runs_scripts_of_this_origin_only(client):
    policy = _directives(client.get("/docs").headers["Content-Security-Policy"])

    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert all("unsafe-eval" not in value for values in policy.values() for value in values)


def test_the_initializer_points_at_the_public_contract_and_no_validator(client):
    script = client.get("/docs/assets/docs.js")

    assert script.status_code == 200
    assert script.mimetype in ("text/javascript", "application/javascript")
    text = script.get_data(as_text=True)
    assert 'url: "/api/v1/openapi.json"' in text
    assert "validatorUrl: null" in text


@pytest.mark.parametrize("name", [name for name in ASSETS if name != "docs.js"])
def test_swagger_ui_files_are_the_npm_package_s_own(client, name):
    response = client.get(f"/docs/assets/{name}")

    assert response.status_code == 200
    assert response.get_data() == (SWAGGER_UI / name).read_bytes()
    assert "max-age" in response.headers["Cache-Control"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/docs/assets/index.html", 404),
        ("/docs/assets/swagger-ui-bundle.js.map", 404),
        ("/docs/assets/package.json", 404),
        # A slash, however encoded, leaves the public rule: the guard asks who is calling.
        ("/docs/assets/..%2Fpackage.json", 401),
        ("/docs/assets/..%2F..%2Fconsole%2Fpackage.json", 401),
    ],
)
def test_only_the_listed_files_are_served(client, path, status):
    response = client.get(path)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("path", ["/docs/", "/docs/assets", "/docs/assets/a/b", "/docs-secret"])
def test_paths_near_the_docs_stay_closed(client, path):
    response = client.get(path)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_the_docs_are_limited_per_client_address(make_app):
    client = make_app(rate_limit_public="2/minute").test_client()

    answers = [client.get("/docs").status_code for _ in range(3)]

    assert answers == [200, 200, 429]
