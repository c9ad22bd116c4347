"""The worker runner's probes and back-off (the relay's tests run the whole runner as a process)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from werkzeug.test import Client

from shared.worker import WorkerState, backoff_delays, health_app


def probe(state: WorkerState, path: str) -> tuple[int, Any]:
    """Status and body of ``path`` on the worker's listener."""
    response = Client(health_app(state)).get(path)
    body = response.get_data(as_text=True)
    return response.status_code, json.loads(body) if path != "/metrics" else body


def test_a_starting_worker_is_alive_but_not_ready() -> None:
    state = WorkerState()

    assert probe(state, "/healthz") == (200, {"status": "alive"})
    assert probe(state, "/readyz") == (503, {"status": "not ready", "detail": "starting"})


def test_readiness_follows_the_dependencies_and_says_why() -> None:
    state = WorkerState()
    state.ready()
    assert probe(state, "/readyz") == (200, {"status": "ready", "detail": "ok"})

    state.not_ready("AMQPConnectionError: connection refused")
    assert probe(state, "/readyz") == (
        503,
        {"status": "not ready", "detail": "AMQPConnectionError: connection refused"},
    )
    assert "worker_ready 0.0" in probe(state, "/metrics")[1]


def test_a_stopping_worker_is_not_ready() -> None:
    state = WorkerState()
    state.ready()
    state.stopping.set()

    assert probe(state, "/readyz") == (503, {"status": "not ready", "detail": "stopping"})
    assert state.wait(5) is True


def test_a_ready_loop_that_stops_beating_is_reported_stalled() -> None:
    state = WorkerState(liveness_seconds=0.0)
    state.ready()

    assert probe(state, "/healthz") == (503, {"status": "stalled"})


def test_unknown_paths_are_404_problems() -> None:
    response = Client(health_app(WorkerState())).get("/nope")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    delays = list(itertools.islice(backoff_delays(initial=0.5, maximum=4.0), 8))

    ceilings = [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
