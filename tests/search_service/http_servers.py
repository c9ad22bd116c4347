"""Small HTTP servers on loopback for the semantic API tests.

:class:`JwksServer` publishes test issuers' keys, so a real NLP service process
trusts the tokens the search app is given (the gateway's JWKS does that in a
running platform). :class:`CannedServer` answers every request with one fixed
status and body: an NLP service that fails in a way the real one does not on demand.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

from tests.support.tokens import TestIssuer


class _Server:
    """A threading HTTP server on a free loopback port, answering with ``answer()``."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append((self.command, self.path, self.rfile.read(length)))
                status, content_type, body = outer.answer()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _respond  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        self.requests: list[tuple[str, str, bytes]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class JwksServer(_Server):
    """``GET /.well-known/jwks.json`` (any path) with the public keys of ``issuers``."""

    def __init__(self, *issuers: TestIssuer) -> None:
        keys = []
        for issuer in issuers:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(issuer.public_key, as_dict=True)
            keys.append({**jwk, "kid": issuer.kid, "use": "sig", "alg": "RS256"})
        self._body = json.dumps({"keys": keys}).encode()
        super().__init__()
        self.jwks_url = f"{self.url}/.well-known/jwks.json"

    def answer(self) -> tuple[int, str, bytes]:
        return 200, "application/json", self._body


class CannedServer(_Server):
    """Answers every request with ``status`` and ``body``."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self._answer = (status, content_type, body)
        super().__init__()

    def answer(self) -> tuple[int, str, bytes]:
        return self._answer
