"""Job functions for the web tests. The live server's memory queue runs jobs in a thread
pool of the test process, so these functions (imported by dotted path) share the gates
and counters below with the test that queued them."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

from job_queue.context import report_progress

_lock = threading.Lock()
GATES: dict[str, threading.Event] = {}
RUNS: Counter[str] = Counter()


def gate(name: str) -> threading.Event:
    with _lock:
        return GATES.setdefault(name, threading.Event())


def open_all_gates() -> None:
    """Let every held job finish (test teardown: the server waits for its pool)."""
    with _lock:
        events = list(GATES.values())
    for event in events:
        event.set()


def _count(key: str) -> int:
    with _lock:
        RUNS[key] += 1
        return RUNS[key]


def hold(name: str) -> dict[str, Any]:
    """Run until gate `name` opens, reporting progress meanwhile; a cancel stops it at
    the next report (report_progress raises JobCancelled)."""
    _count(f"hold:{name}")
    event = gate(name)
    while not event.wait(0.05):
        report_progress(1, 2, f"waiting at gate {name}")
    return {"gate": name, "released": True}


def fail_with(message: str) -> None:
    """Fails on its first attempt: a ValueError is bad input, not worth a retry."""
    _count(f"fail:{message}")
    _check(message)


def _check(message: str) -> None:
    raise ValueError(message)


def fail_until_flag(flag_path: str) -> dict[str, Any]:
    """Fails while `flag_path` does not exist; succeeds once it does."""
    runs = _count(f"flag:{flag_path}")
    if not Path(flag_path).exists():
        raise ValueError(f"flag file {Path(flag_path).name} is missing")
    return {"flag": Path(flag_path).name, "runs": runs}


def count_run(key: str) -> int:
    """A job that only records that it ran."""
    return _count(f"count:{key}")


def fail_for_now(message: str) -> None:
    """Fails with an error worth retrying (the queue tries again after a delay)."""
    _count(f"retryable:{message}")
    raise ConnectionError(message)
