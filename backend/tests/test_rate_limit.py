"""Provider rate limits on limits' in-memory storage, used by many threads at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from limits.storage import memory

from providers.resilience import RateLimit, parse_rate_limit


def test_threads_limited_at_once_do_not_trip_over_the_storage_timer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # MemoryStorage swaps in a new expiry timer, then starts "self.timer". Hold every
    # thread for a moment right after its swap: without our lock a second thread swaps
    # in its own timer meanwhile, both start that one, and the second start raises.
    original = memory.MemoryStorage.__setattr__

    def slow_timer_swap(storage: Any, name: str, value: Any) -> None:
        original(storage, name, value)
        if name == "timer":
            time.sleep(0.05)

    monkeypatch.setattr(memory.MemoryStorage, "__setattr__", slow_timer_swap)
    limit = RateLimit("podnapisi", parse_rate_limit("1000/second", "podnapisi_rate_limit"))
    limit.acquire(time.monotonic() + 5)  # builds the storage; its first timer ends soon
    time.sleep(0.1)
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    granted: list[bool] = []

    def call() -> None:
        start.wait()
        try:
            granted.append(limit.acquire(time.monotonic() + 5))
        except BaseException as exc:  # noqa: BLE001 - the finding this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert granted == [True] * 4


def test_a_full_window_says_how_long_to_wait() -> None:
    limit = RateLimit("jimaku", parse_rate_limit("2/second", "jimaku_rate_limit"))
    assert limit.acquire(time.monotonic() + 1)
    assert limit.acquire(time.monotonic() + 1)
    # A third call within the second would have to wait: refused when no time is left.
    assert limit.acquire(time.monotonic()) is False
