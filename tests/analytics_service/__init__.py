"""Tests of the analytics service: rollups from events, its API, its consumer, reconcile."""
