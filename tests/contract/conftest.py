"""Fixtures every service's contract test uses."""

from __future__ import annotations

import pytest

from tests.support.tokens import TestIssuer


@pytest.fixture(scope="module")
def contract_issuer() -> TestIssuer:
    """Signs the admin token every generated request carries (and a service forwards)."""
    return TestIssuer()
