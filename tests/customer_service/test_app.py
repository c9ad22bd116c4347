"""The app factory: it refuses to serve a route its contract does not declare."""

from __future__ import annotations

import pytest
from flask import Flask

import customer_service.app
from customer_service.app import create_app
from customer_service.settings import Settings
from shared.contract import ContractError
from tests.support.tokens import TestIssuer


def test_a_route_the_contract_does_not_declare_stops_the_app_at_creation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_api = customer_service.app.register_api

    def register_api_and_an_export(app: Flask, *services: object) -> None:
        register_api(app, *services)

        @app.get("/customers/<uuid:customer_id>/export")
        def export_customer(customer_id: str) -> str:
            return "every field, no scope needed"

    monkeypatch.setattr(customer_service.app, "register_api", register_api_and_an_export)

    with pytest.raises(ContractError) as refused:
        # No database is reached: the pool connects on first use, which never comes.
        create_app(Settings(), key_source=TestIssuer().key_source)

    assert "GET /customers/<uuid:customer_id>/export" in str(refused.value)
