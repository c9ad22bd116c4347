"""Security headers reach the client on forwarded answers and on the gateway's own."""

from __future__ import annotations

import requests

from tests.e2e.conftest import Stack


def test_a_forwarded_answer_is_not_stored_sniffed_or_framed(stack: Stack):
    response = requests.get(f"{stack.api}/customers", headers=stack.headers("viewer"), timeout=10)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "gunicorn/" not in response.headers.get("Server", "")


def test_public_answers_keep_their_own_caching(stack: Stack):
    jwks = requests.get(f"{stack.gateway.url}/.well-known/jwks.json", timeout=10)

    assert jwks.headers["Cache-Control"] == "public, max-age=60"
    assert jwks.headers["X-Content-Type-Options"] == "nosniff"
