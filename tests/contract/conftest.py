"""Fixtures every service's contract test uses."""

from __future__ import annotations

import time

import pytest

from tests.support.tokens import TestIssuer


@pytest.fixture(scope="module")
def contract_issuer() -> TestIssuer:
    """Signs the admin token every generated request carries (and a service forwards)."""
    return TestIssuer()


@pytest.fixture(scope="module")
def contract_headers(contract_issuer: TestIssuer) -> dict[str, str]:
    """The admin token's ``Authorization`` header, signed once for the module's thousands of calls.

    Signing one per call (RSA) cost a tenth of the customer contract's run; an hour
    outlasts any module's run on a loaded machine.
    """
    return contract_issuer.headers(exp=int(time.time()) + 3600)
