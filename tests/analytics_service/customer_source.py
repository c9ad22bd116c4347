"""The customer service for reconcile to read: its real app on a real socket, in a thread.

The app trusts the same test issuer as the analytics app, so a token minted for
a test is forwarded by reconcile and checked by the customer service for real.
Changes are made through its API; the events it writes to its outbox are what
the analytics consumer would receive, and tests deliver them (or lose them) at will.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from customer_service.app import DATABASE_EXTENSION, create_app
from customer_service.settings import Settings
from shared.events.envelope import Event
from tests.support.service_fixtures import sql_on
from tests.support.tokens import TestIssuer

TABLES = ("customers", "notes", "idempotency_keys", "outbox")


class CustomerServiceThread:
    """The customer app served on a free loopback port until :meth:`stop`."""

    def __init__(self, database_url: str, issuer: TestIssuer) -> None:
        self.database_url = database_url
        self.issuer = issuer
        self.app = create_app(
            Settings(CUSTOMER_DATABASE_URL=database_url), key_source=issuer.key_source
        )
        self.client = self.app.test_client()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where it answers."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        """Stop serving and close the app's pool."""
        self._server.shutdown()
        self._thread.join(timeout=5)
        self.app.extensions[DATABASE_EXTENSION].close()

    def _sql(self, statement: str) -> list[dict[str, Any]]:
        with sql_on(self.database_url) as run:
            return run(statement)

    def empty(self) -> None:
        """Remove every customer, note and event: the test starts from nothing."""
        self._sql(f"TRUNCATE {', '.join(TABLES)}")

    def create(self, **fields: Any) -> dict[str, Any]:
        """Create a customer; the customer as answered."""
        body = {
            "name": "Ada Lovelace",
            "email": f"ada-{uuid.uuid4().hex[:10]}@example.com",
            **fields,
        }
        response = self.client.post("/customers", json=body, headers=self.issuer.headers("admin"))
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    def update(self, customer: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Patch a customer at the version given; the customer as answered."""
        headers = {**self.issuer.headers("admin"), "If-Match": f'"{customer["version"]}"'}
        response = self.client.patch(f"/customers/{customer['id']}", json=changes, headers=headers)
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    def delete(self, customer: dict[str, Any]) -> None:
        """Soft-delete a customer."""
        response = self.client.delete(
            f"/customers/{customer['id']}", headers=self.issuer.headers("admin")
        )
        assert response.status_code == 204

    def add_note(self, customer: dict[str, Any]) -> None:
        """Add a note to a customer."""
        response = self.client.post(
            f"/customers/{customer['id']}/notes",
            json={"body": "Called back."},
            headers=self.issuer.headers("agent"),
        )
        assert response.status_code == 201

    def events(self) -> list[Event]:
        """Every event written so far, oldest first."""
        rows = self._sql("SELECT envelope FROM outbox ORDER BY id")
        return [Event.from_document(row["envelope"]) for row in rows]
