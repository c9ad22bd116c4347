"""Fixtures for the tests of ``shared``: tiny apps built on the real skeleton."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from flask import Flask

from shared.contract import Contract
from shared.settings import ServiceSettings
from shared.web.app import create_service_app
from shared.web.health import HealthCheck


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    """``create_service_app`` rebinds the root logger; give it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def service_name() -> str:
    """A service name no other test uses, so metric series never mix."""
    return f"svc-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_app(service_name: str) -> Callable[..., Flask]:
    """Factory: an app from ``create_service_app`` with optional settings overrides."""

    def make(
        *,
        readiness: Mapping[str, HealthCheck] | None = None,
        contract: Contract | None = None,
        **settings: Any,
    ) -> Flask:
        settings.setdefault("service_name", service_name)
        return create_service_app(
            ServiceSettings(**settings),
            readiness=readiness or {},
            contract=contract,
        )

    return make
