"""The platform the attacks run against: the e2e stack (gateway and every declared service)."""

from __future__ import annotations

from tests.e2e.conftest import stack, start_stack

__all__ = ["stack", "start_stack"]
