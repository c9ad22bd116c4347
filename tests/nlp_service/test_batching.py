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
    # 32 texts in 16 requests took fewer passes than requests (how many fewer depends on
    # how the 16 threads happen to start; requests_waiting_during_a_pass pins the mechanism).
    assert len(model.batches) < 16
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


def test_a_lone_request_runs_in_a_pass_of_its_own() -> None:
    model = SlowModel(seconds=0.0)
    batcher = MicroBatcher(model, max_texts=32, max_wait_seconds=0.02)
    batcher.submit(["warm"])  # starts the collector

    assert batcher.submit(["alone"]).values == ("ALONE",)
    assert model.batches == [["warm"], ["alone"]]


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


class GatedModel(SlowModel):
    """Its first pass waits for the test to open the gate."""

    def __init__(self) -> None:
        super().__init__(seconds=0.0)
        self.gate = threading.Event()

    def __call__(self, texts: list[str]) -> Echo:
        if not self.batches:
            with self.lock:
                self.batches.append(list(texts))
            self.gate.wait(10)
            return Echo(tuple(text.upper() for text in texts))
        return super().__call__(texts)


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


@pytest.mark.parametrize("wait", [0.0, 0.005])
def test_requests_waiting_during_a_pass_form_the_next_batch(wait: float) -> None:
    model = GatedModel()
    batcher = MicroBatcher(model, max_texts=64, max_wait_seconds=wait)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(batcher.submit, ["first"])
        wait_until(lambda: len(model.batches) == 1)  # the first pass is running
        rest = [pool.submit(batcher.submit, [f"t{i}"]) for i in range(8)]
        wait_until(lambda: batcher._queue.qsize() == 8)
        model.gate.set()
        first.result()
        for future in rest:
            future.result()

    assert model.batches[0] == ["first"]
    assert sorted(model.batches[1]) == sorted(f"t{i}" for i in range(8))


def test_pending_texts_are_counted_while_they_wait_and_until_answered_or_failed() -> None:
    pending = {"texts": 0, "peak": 0}
    lock = threading.Lock()

    def count(change: int) -> None:
        with lock:
            pending["texts"] += change
            pending["peak"] = max(pending["peak"], pending["texts"])

    release = threading.Event()

    def blocked(texts: list[str]) -> Echo:
        release.wait(5)
        if "boom" in texts:
            raise RuntimeError("device lost")
        return Echo(tuple(texts))

    batcher = MicroBatcher(blocked, max_texts=2, max_wait_seconds=0.01, on_pending=count)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_outcome, batcher, texts) for texts in (["a", "b"], ["c"], ["boom"])]
        deadline = time.monotonic() + 5
        while pending["texts"] < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pending["texts"] == 4
        release.set()
        outcomes = sorted(future.result() for future in futures)

    # "c" may share the failing pass of "boom" or run alone; "a,b" fills a pass of its own.
    assert "a,b" in outcomes
    assert "device lost" in outcomes
    assert pending == {"texts": 0, "peak": 4}
