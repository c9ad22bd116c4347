"""The micro-batcher: concurrent submits share passes, each gets its own rows, errors reach all."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from nlp_service.batching import BatchStats, MicroBatcher


@dataclass(frozen=True)
class Echo:
    """A batch result: the texts, upper-cased, cut back per request by ``rows``."""

    values: tuple[str, ...]

    def rows(self, start: int, stop: int) -> Echo:
        return Echo(self.values[start:stop])


class SlowModel:
    """Stands in for the forward pass: takes a while, records each batch it saw."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> Echo:
        with self.lock:
            self.batches.append(list(texts))
        time.sleep(self.seconds)
        return Echo(tuple(text.upper() for text in texts))


def test_concurrent_requests_share_passes_and_each_gets_its_own_rows_in_order() -> None:
    model = SlowModel()
    stats: list[BatchStats] = []
    batcher = MicroBatcher(model, max_texts=32, max_wait_seconds=0.01, on_batch=stats.append)
    requests = [[f"r{i}-a", f"r{i}-b"] for i in range(16)]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(batcher.submit, requests))

    assert [answer.values for answer in answers] == [
        tuple(text.upper() for text in texts) for texts in requests
    ]
    # 32 texts in 16 requests took far fewer passes than requests.
    assert len(model.batches) <= 4
    assert sum(len(batch) for batch in model.batches) == 32
    assert sum(stat.requests for stat in stats) == 16
    assert all(stat.texts <= 32 for stat in stats)


def test_a_batch_never_holds_more_than_max_texts_and_the_overflow_goes_next() -> None:
    model = SlowModel(seconds=0.02)
    batcher = MicroBatcher(model, max_texts=5, max_wait_seconds=0.05)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(batcher.submit, [["a", "b", "c"]] * 8))

    assert all(answer.values == ("A", "B", "C") for answer in answers)
    assert all(len(batch) <= 5 for batch in model.batches)
    assert sum(len(batch) for batch in model.batches) == 24


def test_a_request_bigger_than_max_texts_runs_alone() -> None:
    model = SlowModel(seconds=0.0)
    batcher = MicroBatcher(model, max_texts=2, max_wait_seconds=0.0)

    assert batcher.submit(["a", "b", "c", "d"]).values == ("A", "B", "C", "D")
    assert model.batches == [["a", "b", "c", "d"]]


def test_a_lone_request_waits_at_most_the_batch_window() -> None:
    model = SlowModel(seconds=0.0)
    batcher = MicroBatcher(model, max_texts=32, max_wait_seconds=0.02)
    batcher.submit(["warm"])  # starts the collector

    started = time.perf_counter()
    batcher.submit(["alone"])
    elapsed = time.perf_counter() - started

    assert model.batches[-1] == ["alone"]
    assert elapsed < 0.5  # the 20 ms window, not a stall (generous for a loaded machine)


def test_a_failing_pass_reaches_every_request_in_it_and_the_batcher_goes_on() -> None:
    calls = {"count": 0}

    def flaky(texts: list[str]) -> Echo:
        calls["count"] += 1
        time.sleep(0.05)
        if calls["count"] == 1:
            raise RuntimeError("device lost")
        return Echo(tuple(texts))

    batcher = MicroBatcher(flaky, max_texts=8, max_wait_seconds=0.05)
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda t: _outcome(batcher, t), [["a"], ["b"], ["c"]]))

    assert "device lost" in outcomes
    assert batcher.submit(["after"]).values == ("after",)


def _outcome(batcher: MicroBatcher[Echo], texts: list[str]) -> str:
    try:
        return ",".join(batcher.submit(texts).values)
    except RuntimeError as error:
        return str(error)


def test_offload_runs_every_pass() -> None:
    ran: list[int] = []

    def offload(function):  # type: ignore[no-untyped-def]
        ran.append(1)
        return function()

    batcher = MicroBatcher(SlowModel(0.0), offload=offload)
    assert batcher.submit(["x"]).values == ("X",)
    assert ran == [1]


@pytest.mark.parametrize("wait", [0.0, 0.005])
def test_without_a_window_requests_waiting_during_a_pass_form_the_next_batch(wait: float) -> None:
    model = SlowModel(seconds=0.1)
    batcher = MicroBatcher(model, max_texts=64, max_wait_seconds=wait)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(batcher.submit, ["first"])
        time.sleep(0.03)  # the first pass is running
        rest = [pool.submit(batcher.submit, [f"t{i}"]) for i in range(8)]
        first.result()
        for future in rest:
            future.result()

    assert model.batches[0] == ["first"]
    assert sorted(model.batches[1]) == sorted(f"t{i}" for i in range(8))
