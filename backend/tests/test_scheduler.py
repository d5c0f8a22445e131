"""The scheduler: one leader across processes (database or Redis lease), takeover after
a holder stops or dies, task failures recorded, Redis outages survived, and the
platform's purge tasks."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import select, update

from app import create_app
from config import load_settings
from db import Database
from db.migrate import upgrade_to_head
from db.models import Job, ProviderCache, SchedulerLease, utcnow
from db.repositories.cache import ProviderCacheRepository
from db.repositories.jobs import JobRepository
from scheduler import DatabaseLease, Lease, RedisLease, Scheduler, create_lease, new_holder_id

BACKEND_DIR = Path(__file__).resolve().parent.parent
LEASE_SECONDS = 2
TASK_INTERVAL = 0.05


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


# -- helpers shared with the child process of the dead-holder test --------------------


def make_app(data_dir: Path | str, **config: Any) -> Flask:
    return create_app({"data_dir": str(data_dir), "scheduler_lease_seconds": LEASE_SECONDS,
                       **config}, testing=True)


def build_scheduler(app: Flask, kind: str, redis_url: str = "") -> Scheduler:
    """The app's own scheduler (database lease) or one on a Redis lease built from
    settings the way create_scheduler does it."""
    if kind == "database":
        return app.scheduler  # type: ignore[attr-defined, no-any-return]
    settings = load_settings({"redis_url": redis_url, "scheduler_lease_seconds": LEASE_SECONDS,
                              "redis_socket_timeout": 0.5, "data_dir": app.settings.data_dir})  # type: ignore[attr-defined]
    return Scheduler(app, create_lease(settings, app.database, new_holder_id()))  # type: ignore[attr-defined]


def count_runs(scheduler: Scheduler, log_path: Path | str) -> None:
    """Register a task that appends '<holder> <time>' to log_path on every run."""
    holder = scheduler.holder_id

    def record(_app: Flask) -> None:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(f"{holder} {time.time()!r}\n")

    scheduler.register("count", TASK_INTERVAL, record)


def read_runs(log_path: Path) -> list[tuple[str, float]]:
    if not log_path.exists():
        return []
    runs = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        holder, _, stamp = line.rpartition(" ")
        runs.append((holder, float(stamp)))
    return runs


CHILD = """
import json, sys, time
from tests.test_scheduler import build_scheduler, count_runs, make_app
cfg = json.loads(sys.argv[1])
app = make_app(cfg["data_dir"])
scheduler = build_scheduler(app, cfg["kind"], cfg["redis_url"])
count_runs(scheduler, cfg["log"])
scheduler.start()
while True:
    time.sleep(1)
"""


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    """Schedulers and apps to stop and dispose after the test, whatever happened."""
    items: list[Any] = []
    yield items
    for item in reversed(items):
        if isinstance(item, Scheduler):
            item.close()
        elif isinstance(item, Flask):
            item.job_queue.shutdown(wait=True)  # type: ignore[attr-defined]
            item.database.dispose()  # type: ignore[attr-defined]


@pytest.fixture(params=["database", "redis"])
def lease_kind(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "redis":
        return "redis", request.getfixturevalue("redis_url")
    return "database", ""


def two_schedulers(tmp_path: Path, kind: str, url: str,
                   cleanup: list[Any]) -> tuple[Scheduler, Scheduler]:
    # On a database lease both apps share one SQLite file; on Redis each has its own
    # database, so only Redis can be what keeps them apart.
    dirs = [tmp_path / "data"] * 2 if kind == "database" else [tmp_path / "a", tmp_path / "b"]
    schedulers = []
    for data_dir in dirs:
        app = make_app(data_dir)
        cleanup.append(app)
        scheduler = build_scheduler(app, kind, url)
        cleanup.append(scheduler)
        count_runs(scheduler, tmp_path / "runs.log")
        schedulers.append(scheduler)
    return schedulers[0], schedulers[1]


# -- leadership ---------------------------------------------------------------------


def test_only_one_of_two_schedulers_runs_tasks(tmp_path: Path, lease_kind: tuple[str, str],
                                               cleanup: list[Any]) -> None:
    kind, url = lease_kind
    first, second = two_schedulers(tmp_path, kind, url, cleanup)
    runs_log = tmp_path / "runs.log"
    first.start()
    second.start()
    wait_for(lambda: len(read_runs(runs_log)) >= 10, what="ten task runs")

    holders = {holder for holder, _ in read_runs(runs_log)}
    assert len(holders) == 1
    leader, follower = (first, second) if first.holder_id in holders else (second, first)
    assert leader.is_leader and not follower.is_leader
    assert follower.status()["holder"] == leader.holder_id
    assert follower.status()["lease"] == kind

    # A clean stop releases the lease: the follower takes over and the old leader
    # runs nothing more.
    leader.stop()
    assert not leader.running
    stopped_runs = [r for r in read_runs(runs_log) if r[0] == leader.holder_id]
    wait_for(lambda: any(h == follower.holder_id for h, _ in read_runs(runs_log)),
             what="the follower's first run")
    wait_for(lambda: sum(h == follower.holder_id for h, _ in read_runs(runs_log)) >= 3)
    assert [r for r in read_runs(runs_log) if r[0] == leader.holder_id] == stopped_runs
    assert follower.is_leader
    assert follower.status()["holder"] == follower.holder_id


def test_dead_holder_is_replaced_only_after_its_lease_expires(
    tmp_path: Path, lease_kind: tuple[str, str], cleanup: list[Any]
) -> None:
    kind, url = lease_kind
    runs_log = tmp_path / "runs.log"
    data_dir = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD,
         json.dumps({"data_dir": str(data_dir), "kind": kind, "redis_url": url,
                     "log": str(runs_log)})],
        cwd=BACKEND_DIR, stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len(read_runs(runs_log)) >= 3 or child.poll() is not None,
                 timeout=60, what="the child scheduler's runs")
        assert child.poll() is None, child.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
        (child_holder,) = {h for h, _ in read_runs(runs_log)}

        app = make_app(data_dir if kind == "database" else tmp_path / "standby")
        cleanup.append(app)
        standby = build_scheduler(app, kind, url)
        cleanup.append(standby)
        count_runs(standby, runs_log)
        standby.start()
        wait_for(lambda: standby.status()["holder"] == child_holder)
        assert not standby.is_leader

        # Lower bound of when the child's lease ends (a renewal in between only
        # moves it later); nobody may take over before then.
        expires_no_earlier_than = _lease_expiry_lower_bound(standby.lease)
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        if child.stderr is not None:
            child.stderr.close()

    wait_for(lambda: any(h == standby.holder_id for h, _ in read_runs(runs_log)),
             what="the standby taking over")
    first_standby_run = min(t for h, t in read_runs(runs_log) if h == standby.holder_id)
    assert first_standby_run >= expires_no_earlier_than
    assert standby.is_leader


def _lease_expiry_lower_bound(lease: Lease) -> float:
    if isinstance(lease, RedisLease):
        before = time.time()
        return before + lease.client.pttl(lease.key) / 1000
    assert isinstance(lease, DatabaseLease)
    with lease.db.engine.connect() as conn:
        expires = conn.execute(select(SchedulerLease.expires_at)).scalar_one()
    return float(expires.timestamp())


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def lease_factory(request: pytest.FixtureRequest, tmp_path: Path,
                  cleanup: list[Any]) -> Callable[[float], Lease]:
    """Makes leases (one holder each) on one shared store."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return lambda seconds: RedisLease(url, new_holder_id(), seconds, key="lease:test")
    db_url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
              else f"sqlite:///{tmp_path / 'lease.db'}")
    database = Database(db_url)
    upgrade_to_head(database)
    request.addfinalizer(database.dispose)
    return lambda seconds: DatabaseLease(database, new_holder_id(), seconds)


def test_lease_contract(lease_factory: Callable[[float], Lease]) -> None:
    first, second = lease_factory(1), lease_factory(1)
    assert first.acquire()
    assert not second.acquire()
    assert first.acquire()  # renewal by the holder
    second.release()  # not the holder: nothing happens
    assert first.current_holder() == first.holder
    first.release()
    assert first.current_holder() is None
    assert second.acquire()
    assert not first.acquire()

    # Held and never renewed: free for another holder once expired, not before.
    before = time.time()
    assert second.acquire()
    wait_for(first.acquire, what="the lease to expire")
    assert time.time() >= before + 1
    assert first.current_holder() == first.holder
    for lease in (first, second):
        lease.close()


def test_racing_holders_never_both_win(lease_factory: Callable[[float], Lease]) -> None:
    leases = [lease_factory(30) for _ in range(6)]
    def contend(lease: Lease, barrier: threading.Barrier, won: list[Lease]) -> None:
        barrier.wait()
        if lease.acquire():
            won.append(lease)

    for _round in range(5):
        barrier = threading.Barrier(len(leases))
        won: list[Lease] = []
        threads = [threading.Thread(target=contend, args=(lease, barrier, won))
                   for lease in leases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(won) == 1
        won[0].release()
    for lease in leases:
        lease.close()


# -- failures -----------------------------------------------------------------------


def test_failing_task_is_recorded_and_the_loop_carries_on(tmp_path: Path,
                                                          cleanup: list[Any]) -> None:
    app = make_app(tmp_path / "data")
    cleanup.append(app)
    scheduler: Scheduler = app.scheduler  # type: ignore[attr-defined]
    cleanup.append(scheduler)

    def explode(_app: Flask) -> None:
        raise RuntimeError("kaput")

    contexts: list[Any] = []

    def look_at_context(_app: Flask) -> None:
        contexts.append(current_app._get_current_object())  # type: ignore[attr-defined]

    scheduler.register("explode", TASK_INTERVAL, explode, run_at_start=True)
    scheduler.register("context", 60, look_at_context, run_at_start=True)
    count_runs(scheduler, tmp_path / "runs.log")
    scheduler.start()
    wait_for(lambda: _task(scheduler, "explode")["failures"] >= 3
             and len(read_runs(tmp_path / "runs.log")) >= 3)

    failing = _task(scheduler, "explode")
    assert failing["last_status"] == "failed"
    assert failing["last_error"] == "RuntimeError: kaput"
    assert failing["last_error_at"] is not None
    assert _task(scheduler, "count")["last_status"] == "ok"
    assert _task(scheduler, "count")["failures"] == 0
    assert scheduler.running and scheduler.is_leader
    assert contexts == [app]  # tasks run inside the app's context


def test_redis_outage_loses_the_lease_without_killing_the_thread(
    tmp_path: Path, redis_server: Any, cleanup: list[Any]
) -> None:
    app = make_app(tmp_path / "data")
    cleanup.append(app)
    scheduler = build_scheduler(app, "redis", redis_server.url)
    cleanup.append(scheduler)
    runs_log = tmp_path / "runs.log"
    count_runs(scheduler, runs_log)
    scheduler.start()
    wait_for(lambda: len(read_runs(runs_log)) >= 3, what="runs while Redis is up")

    redis_server.kill()
    wait_for(lambda: not scheduler.is_leader, what="the lease to be dropped")
    status = wait_for(lambda: (s := scheduler.status())["lease_error"] and s)
    assert "Error" in status["lease_error"]
    assert status["holder"] is None and not status["leader"]
    runs_during_outage = len(read_runs(runs_log))
    time.sleep(scheduler.renew_interval * 1.5)
    assert scheduler.running
    assert len(read_runs(runs_log)) == runs_during_outage

    redis_server.start()
    wait_for(lambda: len(read_runs(runs_log)) >= runs_during_outage + 3,
             what="runs after Redis came back")
    assert scheduler.is_leader
    assert scheduler.status()["lease_error"] is None


# -- lifecycle ----------------------------------------------------------------------


def test_create_app_builds_but_does_not_start_the_scheduler(app: Flask) -> None:
    scheduler: Scheduler = app.scheduler  # type: ignore[attr-defined]
    status = scheduler.status()
    assert status["enabled"] and not status["running"] and not status["leader"]
    assert status["lease"] == "database"
    assert status["holder"] is None
    assert {t["name"] for t in status["tasks"]} == {
        "purge job records", "purge provider cache", "purge provider stats history",
        "reconcile jobs", "search wanted", "sync library"}
    with app.database.session() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(SchedulerLease)).all() == []


def test_disabled_scheduler_never_takes_the_lease(tmp_path: Path, cleanup: list[Any]) -> None:
    app = make_app(tmp_path / "data", scheduler_enabled=False)
    cleanup.append(app)
    scheduler: Scheduler = app.scheduler  # type: ignore[attr-defined]
    cleanup.append(scheduler)
    scheduler.start()
    assert not scheduler.running
    assert not scheduler.status()["enabled"]
    with app.database.session() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(SchedulerLease)).all() == []


def test_register_rejects_a_non_positive_interval(app: Flask) -> None:
    with pytest.raises(ValueError, match="interval_seconds"):
        app.scheduler.register("never", 0, lambda _app: None)  # type: ignore[attr-defined]


# -- the platform's tasks -----------------------------------------------------------


def test_purge_tasks_delete_expired_rows_and_keep_fresh_ones(tmp_path: Path,
                                                             cleanup: list[Any]) -> None:
    app = make_app(tmp_path / "data", job_record_ttl_days=7, job_reconcile_interval=1)
    cleanup.append(app)
    database: Database = app.database  # type: ignore[attr-defined]
    jobs = JobRepository(database)
    now = utcnow()
    finished = {"old-done": now - timedelta(days=8), "old-failed": now - timedelta(days=30),
                "new-done": now - timedelta(days=6)}
    for job_id in [*finished, "old-queued"]:
        assert jobs.claim(job_id, "tests.job_funcs.noop", "[]", "{}", backend="memory",
                          max_attempts=1)
    with database.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == "old-queued")
                     .values(created_at=now - timedelta(days=60)))
        for job_id, at in finished.items():
            status = "failed" if "failed" in job_id else "completed"
            conn.execute(update(Job).where(Job.id == job_id)
                         .values(status=status, finished_at=at))

    cache = ProviderCacheRepository(database)
    cache.put("opensubtitles", "a" * 64, "{}", '[{"id": 1}]', ttl_seconds=3600)
    cache.put("jimaku", "b" * 64, "{}", "[]", ttl_seconds=3600)
    cache.put("jimaku", "c" * 64, "{}", "[]", ttl_seconds=3600)
    with database.engine.begin() as conn:
        # Expired longer ago than the stale grace window (SUBLARR_PROVIDER_CACHE_STALE_TTL).
        conn.execute(update(ProviderCache).where(ProviderCache.provider == "jimaku")
                     .values(expires_at=now - timedelta(days=30)))

    scheduler: Scheduler = app.scheduler  # type: ignore[attr-defined]
    cleanup.append(scheduler)
    scheduler.start()
    wait_for(lambda: all(_task(scheduler, name)["runs"] >= 1 for name in
                         ("purge job records", "purge provider cache", "reconcile jobs")))

    remaining = {j.id for j in jobs.list_jobs(limit=100)}
    assert remaining == {"new-done", "old-queued"}
    assert cache.count() == 1
    assert cache.get("opensubtitles", "a" * 64) is not None
    assert _task(scheduler, "purge job records")["last_result"] == 2
    assert _task(scheduler, "purge provider cache")["last_result"] == 2
    assert _task(scheduler, "reconcile jobs")["last_status"] == "ok"


def _task(scheduler: Scheduler, name: str) -> dict[str, Any]:
    return next(t for t in scheduler.status()["tasks"] if t["name"] == name)
