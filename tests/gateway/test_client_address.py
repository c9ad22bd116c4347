"""Who a request is counted against, and what the service is told about the client.

``X-Forwarded-For`` is trusted only for the configured number of proxy hops:
by default (0) a client cannot pick its own address to dodge the login limit;
behind one proxy, each forwarded client has its own budget. Downstream, the
service sees the whole chain in order and the public scheme, host and prefix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.upstreams import BrokenUpstream, echoes_request_head

TOKEN = "/api/v1/auth/token"
WRONG = {"username": "nobody", "password": "wrong-password"}


def _attempts(client, forwarded_for: str, count: int, remote: str = "10.0.0.9") -> list[int]:
    return [
        client.post(
            TOKEN,
            json=WRONG,
            headers={"X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": remote},
        ).status_code
        for _ in range(count)
    ]


def test_without_trusted_proxies_a_spoofed_forwarded_for_does_not_reset_the_budget(make_app):
    client = make_app(rate_limit_auth="3/minute").test_client()

    statuses = [
        _attempts(client, f"203.0.113.{index}", 1)[0]  # a new invented address each time
        for index in range(5)
    ]

    assert statuses == [401, 401, 401, 429, 429]


def test_behind_one_trusted_proxy_each_forwarded_client_has_its_own_budget(make_app):
    client = make_app(rate_limit_auth="3/minute", trusted_proxy_hops=1).test_client()

    first = _attempts(client, "198.51.100.1", 4)
    second = _attempts(client, "198.51.100.2", 3)

    assert first == [401, 401, 401, 429]
    assert second == [401, 401, 401]


def test_with_trusted_hops_only_the_proxy_supplied_address_counts(make_app):
    # The client prepends a fake address; the trusted proxy appends the real one.
    client = make_app(rate_limit_auth="2/minute", trusted_proxy_hops=1).test_client()

    statuses = [_attempts(client, f"203.0.113.{index}, 198.51.100.7", 1)[0] for index in range(3)]

    assert statuses == [401, 401, 429]


@pytest.fixture
def echo() -> Iterator[BrokenUpstream]:
    upstream = BrokenUpstream(echoes_request_head)
    yield upstream
    upstream.close()


def _seen_by_service(make_app, auth_headers_for, echo, hops: int, headers: dict[str, str]) -> str:
    app = make_app(discovery_static=f"customer_service={echo.url}", trusted_proxy_hops=hops)
    client = app.test_client()
    response = client.get(
        "/api/v1/customers",
        headers={**auth_headers_for(app), **headers},
        environ_base={"REMOTE_ADDR": "10.1.1.1"},
        base_url="http://gateway.internal",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True).lower()


def test_the_service_sees_the_forwarded_chain_in_order_and_the_public_url(
    make_app, auth_headers_for, echo
):
    seen = _seen_by_service(make_app, auth_headers_for, echo, 0, {"X-Forwarded-For": "203.0.113.5"})

    # Untrusted, the incoming chain is kept (for the record) and the peer appended.
    assert "x-forwarded-for: 203.0.113.5, 10.1.1.1\r\n" in seen
    assert "x-forwarded-proto: http\r\n" in seen
    assert "x-forwarded-host: gateway.internal\r\n" in seen
    assert "x-forwarded-prefix: /api/v1\r\n" in seen


def test_behind_a_trusted_proxy_the_service_sees_the_public_scheme_and_host(
    make_app, auth_headers_for, echo
):
    seen = _seen_by_service(
        make_app,
        auth_headers_for,
        echo,
        1,
        {
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example.com",
        },
    )

    # The chain as it arrived, then the proxy that connected: client first, in order.
    assert "x-forwarded-for: 198.51.100.7, 10.1.1.1\r\n" in seen
    assert "x-forwarded-proto: https\r\n" in seen
    assert "x-forwarded-host: api.example.com\r\n" in seen
