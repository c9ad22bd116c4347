"""CORS for the configured origins: browser front ends elsewhere may call the API, no one else.

A preflight carries no token by design: from an allowed origin it passes the
guard unauthenticated, counted per client address against the public limit,
and the gateway answers it itself, on its own paths and on forwarded ones.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from gateway.edge.cors import ALLOWED_REQUEST_HEADERS, EXPOSED_RESPONSE_HEADERS
from tests.support.upstreams import BrokenUpstream, read_request_head

FRONT_END = "https://app.example.com"
OTHER_FRONT_END = "http://localhost:5173"
TOKEN = "/api/v1/auth/token"
CUSTOMERS = "/api/v1/customers"
#: Ids in test names must be the same on every xdist worker.
ONE_CUSTOMER = f"{CUSTOMERS}/3f2b9c1e-5d4a-4e8b-9a70-2c1d0e6f8a91"


class CountingUpstream(BrokenUpstream):
    """A customer service that answers every request 200 with CORS headers of its own."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        super().__init__(self._answer)

    def _answer(self, connection: socket.socket) -> None:
        self.requests.append(read_request_head(connection))
        body = b'{"items": [], "next_cursor": null}'
        connection.sendall(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: "v1"\r\n'
            b"Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Credentials: true\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )


@pytest.fixture
def upstream() -> Iterator[CountingUpstream]:
    service = CountingUpstream()
    yield service
    service.close()


@pytest.fixture
def make_cors_app(make_app, upstream):
    """Factory: a gateway allowing the two front ends, forwarding to ``upstream``."""

    def make(**overrides):
        settings = {
            "cors_origins": f"{FRONT_END}, {OTHER_FRONT_END}",
            "discovery_static": f"customer_service={upstream.url}",
            **overrides,
        }
        return make_app(**settings)

    return make


def _preflight(client, path, *, origin=FRONT_END, method="POST", remote="10.0.0.1"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, if-match, x-request-id",
        },
        environ_base={"REMOTE_ADDR": remote},
    )


def _cors_headers(response) -> dict[str, str]:
    return {
        name: value for name, value in response.headers.items() if name.startswith("Access-Control")
    }


@pytest.mark.parametrize(
    ("path", "method"),
    [
        (CUSTOMERS, "POST"),
        (CUSTOMERS, "GET"),
        (ONE_CUSTOMER, "PATCH"),
        (TOKEN, "POST"),
        ("/api/v1/auth/users", "GET"),
    ],
)
def test_an_allowed_origins_preflight_is_answered_without_a_token(
    make_cors_app, upstream, path, method
):
    response = _preflight(make_cors_app().test_client(), path, method=method)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert method in response.headers["Access-Control-Allow-Methods"]
    allowed = {
        name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed == {"authorization", "content-type", "if-match", "x-request-id"}
    assert response.headers["Access-Control-Max-Age"] == "600"
    # Tokens travel in headers: no cookies, so no credentials mode.
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers.get("Vary", "")
    # Counted per client address like every public call.
    assert "RateLimit-Limit" in response.headers
    # Answered by the gateway: the service never saw it.
    assert upstream.requests == []


def test_every_header_clients_send_may_be_asked_for(make_cors_app):
    response = (
        make_cors_app()
        .test_client()
        .options(
            CUSTOMERS,
            headers={
                "Origin": FRONT_END,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": ", ".join(ALLOWED_REQUEST_HEADERS),
            },
        )
    )

    allowed = {
        name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed == {name.lower() for name in ALLOWED_REQUEST_HEADERS}


def test_preflights_count_against_the_public_limit_of_the_client_address(make_cors_app):
    client = make_cors_app(rate_limit_public="3/minute").test_client()

    answers = [
        _preflight(client, CUSTOMERS).status_code,
        _preflight(client, TOKEN).status_code,
        client.get("/healthz", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code,
        _preflight(client, CUSTOMERS).status_code,
    ]
    elsewhere = _preflight(client, CUSTOMERS, remote="10.0.0.2")

    # One budget per address, shared with the other public endpoints.
    assert answers == [200, 200, 200, 429]
    assert elsewhere.status_code == 200


def test_an_allowed_origins_call_may_read_the_answer_and_its_headers(
    make_cors_app, auth_headers_for, upstream
):
    app = make_cors_app()
    client = app.test_client()
    headers = {**auth_headers_for(app), "Origin": OTHER_FRONT_END}

    forwarded = client.get(CUSTOMERS, headers=headers)
    own = client.get("/api/v1/auth/users", headers=headers)
    jwks = client.get("/.well-known/jwks.json", headers={"Origin": FRONT_END})

    for response in (forwarded, own, jwks):
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == response.request.headers["Origin"]
        exposed = {
            name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert exposed == set(EXPOSED_RESPONSE_HEADERS)
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert "Origin" in response.headers["Vary"]
    # The gateway decides CORS, not the service behind it: its "*" and credentials are dropped.
    assert len(upstream.requests) == 1
    assert forwarded.headers.getlist("Access-Control-Allow-Origin") == [OTHER_FRONT_END]
    assert forwarded.headers["ETag"] == '"v1"'


def test_an_allowed_origin_can_read_why_it_was_refused(make_cors_app):
    response = make_cors_app().test_client().get(CUSTOMERS, headers={"Origin": FRONT_END})

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "http://app.example.com",  # another scheme is another origin
        "https://app.example.com:8443",
        "null",
    ],
)
def test_another_origin_gets_no_cors_headers(make_cors_app, auth_headers_for, upstream, origin):
    app = make_cors_app()
    client = app.test_client()

    preflight = _preflight(client, CUSTOMERS, origin=origin)
    call = client.get(CUSTOMERS, headers={**auth_headers_for(app), "Origin": origin})

    assert _cors_headers(preflight) == {}
    assert _cors_headers(call) == {}
    # Nothing to answer for it: the preflight is an OPTIONS like any other, and needs a token.
    assert preflight.status_code == 401
    assert call.status_code == 200


def test_without_configured_origins_nothing_cors_appears(make_app, auth_headers_for):
    app = make_app()
    client = app.test_client()

    preflight = _preflight(client, CUSTOMERS)
    call = client.get("/api/v1/auth/users", headers={**auth_headers_for(app), "Origin": FRONT_END})
    jwks = client.get("/.well-known/jwks.json", headers={"Origin": FRONT_END})

    assert preflight.status_code == 401
    assert call.status_code == 200
    for response in (preflight, call, jwks):
        assert _cors_headers(response) == {}
        assert "Origin" not in response.headers.get("Vary", "")


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Origin, no requested method
        {"Origin": FRONT_END},  # an OPTIONS from a page, but no preflight
        {"Access-Control-Request-Method": "GET"},  # no Origin: no browser asked
    ],
)
@pytest.mark.parametrize("path", [CUSTOMERS, TOKEN])
def test_an_options_request_that_is_no_preflight_still_needs_credentials(
    make_cors_app, upstream, headers, path
):
    response = make_cors_app().test_client().options(path, headers=headers)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/nothing-here", "GET"),  # unknown paths stay hidden behind 401
        (TOKEN, "DELETE"),  # a method the path does not serve
        (ONE_CUSTOMER, "PUT"),  # nor does the service's contract
        ("/healthz", "GET"),  # outside the API: no CORS there
    ],
)
def test_a_preflight_for_a_call_the_gateway_would_not_route_needs_credentials(
    make_cors_app, path, method
):
    response = _preflight(make_cors_app().test_client(), path, method=method)

    assert response.status_code == 401


def test_paths_outside_the_api_get_no_cors_headers(make_cors_app):
    client = make_cors_app().test_client()

    for path in ("/healthz", "/openapi.json"):
        response = client.get(path, headers={"Origin": FRONT_END})
        assert response.status_code == 200
        assert _cors_headers(response) == {}


def test_configured_origins_are_read_as_browsers_send_them(make_settings):
    settings = make_settings(cors_origins="HTTPS://App.Example.com:443, http://[::1]:3000,")

    assert settings.cors_origins == ("https://app.example.com", "http://[::1]:3000")


@pytest.mark.parametrize(
    "origins",
    [
        "*",
        "https://*.example.com",
        "https://app.example.com/",
        "https://app.example.com/app",
        "null",
    ],
)
def test_anything_but_exact_origins_is_refused_at_start(make_settings, origins):
    with pytest.raises(ValidationError, match="is not an origin"):
        make_settings(cors_origins=origins)


def test_an_ipv6_origin_is_matched_exactly(make_cors_app):
    # flask-cors would read "[::1]" as a regular expression's character class.
    client = make_cors_app(cors_origins="http://[::1]:3000").test_client()

    allowed = _preflight(client, CUSTOMERS, origin="http://[::1]:3000")
    lookalike = _preflight(client, CUSTOMERS, origin="http://1:3000")

    assert allowed.headers["Access-Control-Allow-Origin"] == "http://[::1]:3000"
    assert _cors_headers(lookalike) == {}
