"""Wanted search throughput: 2,000 wanted items against the five provider fakes (in a
process of their own), each answering every request 100 ms late, with 8 jobs at once on
the memory queue (job_workers=8, SQLite).

Run from the repository root:  .venv/bin/python bench/bench_wanted.py [--items N]

Wall time, from submit_wanted_batch_search to the last job finished, against two ideals:
- the issue's: items x slowest provider latency ÷ concurrency (one 100 ms round trip per
  item), target ≤ 1.2x;
- the round-trip-bound one: items x (seconds one item takes alone) ÷ concurrency, since
  one item needs several sequential round trips (search; some providers list files
  before a download; the download itself), which no amount of parallelism hides.
The real sites' rate limits would throttle the fakes, so every <name>_rate_limit is raised
to 1000/second; provider_workers (the search threads shared by all jobs) is raised to
8 jobs x 5 providers = 40 so that searches of concurrent jobs do not queue behind each
other (--provider-workers changes it). Always exits 0; the figures are the result.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BACKEND = Path(__file__).resolve().parent.parent / "backend"
sys.path.insert(0, str(BACKEND))

from flask import Flask  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app import close_app, create_app  # noqa: E402
from db.models import WantedItem  # noqa: E402
from tests.provider_world import PROVIDERS, World  # noqa: E402
from tests.wanted_world import add_latency, download_requests, seed_library  # noqa: E402
from wanted_search import submit_wanted_batch_search  # noqa: E402

LANGUAGES = ("en", "de")


def run_batch(app: Flask, item_ids: list[int]) -> float:
    queue = app.job_queue  # type: ignore[attr-defined]
    started = time.perf_counter()
    with app.app_context():
        job_ids = list(submit_wanted_batch_search(item_ids))
    pending = set(job_ids)
    while pending:
        time.sleep(0.02)
        pending = {job_id for job_id in pending
                   if queue.get_job(job_id).status.value not in ("completed", "failed")}
    return time.perf_counter() - started


def statuses(app: Flask) -> dict[str, int]:
    with app.database.session() as session:  # type: ignore[attr-defined]
        return dict(session.execute(select(WantedItem.status, func.count())
                                    .group_by(WantedItem.status)).all())


class RemoteWorld:
    """The provider fakes in a child process of their own, as real providers are on
    other machines: their request handling then competes with Sublarr for the CPU but
    not for this process's interpreter lock. Commands go over a pipe."""

    def __init__(self, episodes: range, latency: float) -> None:
        context = multiprocessing.get_context("fork")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve_world, args=(child, episodes, latency),
                                        daemon=True)
        self._process.start()
        self.settings: dict[str, Any] = self._pipe.recv()

    def ask(self, command: str) -> Any:
        self._pipe.send(command)
        return self._pipe.recv()

    def close(self) -> None:
        self.ask("stop")
        self._process.join(timeout=10)


def _serve_world(pipe: Any, episodes: range, latency: float) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    world = World(episodes=episodes)
    world.opensubtitles.allowed_downloads = 1_000_000  # its 20-a-day quota is not measured
    with world.running():
        add_latency(world, latency)
        pipe.send(world.settings())
        answers = {"reset": world.reset_counts, "downloads": lambda: download_requests(world),
                   "requests": world.upstream_calls}
        while (command := pipe.recv()) != "stop":
            pipe.send(answers[command]())
        pipe.send(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--jobs", type=int, default=8, help="concurrent jobs")
    parser.add_argument("--provider-workers", type=int, default=40)
    args = parser.parse_args()
    episodes = max(1, args.items // len(LANGUAGES))
    solo = 8  # items timed one at a time first, to learn one item's round trips
    world = RemoteWorld(range(1, episodes + solo // len(LANGUAGES) + 1), args.latency)
    with tempfile.TemporaryDirectory(prefix="bench-wanted-") as tmp:
        settings: dict[str, Any] = {
            "data_dir": f"{tmp}/data", "media_roots": [f"{tmp}/media"], "log_level": "WARNING",
            "job_workers": args.jobs, "provider_workers": args.provider_workers,
            **world.settings}
        app = create_app(settings, testing=True)
        try:
            all_ids = seed_library(app.database, Path(tmp) / "media",  # type: ignore[attr-defined]
                                   range(1, episodes + solo // len(LANGUAGES) + 1), LANGUAGES)
            solo_ids, batch_ids = all_ids[:solo], all_ids[solo:]
            one_item = sum(run_batch(app, [item]) for item in solo_ids) / len(solo_ids)
            world.ask("reset")
            wall = run_batch(app, batch_ids)
            report(args, len(batch_ids), wall, one_item, statuses(app), world)
        finally:
            close_app(app)
            world.close()


def report(args: argparse.Namespace, items: int, wall: float, one_item: float,
           states: dict[str, int], world: RemoteWorld) -> None:
    issue_ideal = items * args.latency / args.jobs
    trip_ideal = items * one_item / args.jobs
    downloads = world.ask("downloads")
    print(f"{items:,} wanted items, {len(PROVIDERS)} providers at {args.latency * 1000:.0f} ms "
          f"per request, {args.jobs} concurrent jobs (memory queue, job_workers={args.jobs}, "
          f"provider_workers={args.provider_workers}, rate limits 1000/s)")
    print(f"  wall time                {wall:8.2f} s   ({items / wall:.1f} items/s)")
    print(f"  one item alone           {one_item * 1000:8.0f} ms  "
          f"({one_item / args.latency:.1f} round trips of {args.latency * 1000:.0f} ms)")
    print(f"  ideal (issue formula)    {issue_ideal:8.2f} s   ratio {wall / issue_ideal:.2f}x "
          f"(target ≤ 1.2x: {'met' if wall <= 1.2 * issue_ideal else 'MISSED'})")
    print(f"  ideal (round-trip bound) {trip_ideal:8.2f} s   ratio {wall / trip_ideal:.2f}x")
    print(f"  item statuses            {dict(Counter(states))}")
    print(f"  downloads per provider   {downloads} (total {sum(downloads.values())})")
    print(f"  requests per provider    {world.ask('requests')}")


if __name__ == "__main__":
    main()
