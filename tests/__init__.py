"""The test suite: unit, integration and e2e tests of every service (see the README)."""
