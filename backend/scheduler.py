"""Periodic tasks that run in exactly one process of the whole deployment.

Features register tasks on ``app.scheduler``::

    app.scheduler.register("refresh wanted", 900, refresh_wanted, run_at_start=True)

A task is ``func(app) -> Any``: it receives the Flask application (already inside its
app context) so it reaches the database, cache and job queue through the app's services
rather than ``flask.current_app``. Tasks should be short; long work belongs in a job
(``app.job_queue.enqueue``) so that it survives the scheduler moving to another process.

Which process runs them is decided by a lease: in Redis when ``SUBLARR_REDIS_URL`` is
set (even if this process fell back to memory backends, so that every process contends
for the same lease), else a row in the ``scheduler_leases`` table. The holder renews it
every third of ``SUBLARR_SCHEDULER_LEASE_SECONDS``; a holder that dies is replaced once
its lease expires. ``create_app`` builds the scheduler but never starts it: ``serve`` and
the WSGI entry call ``start()``; tests, CLI commands and RQ workers do not.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError
from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from config import ConfigError
from db.models import SchedulerLease, utcnow
from redis_client import make_redis_client

if TYPE_CHECKING:
    from flask import Flask

    from config import Settings
    from db import Database

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
TaskFunc = Callable[["Flask"], Any]
_LEASES = cast(Table, SchedulerLease.__table__)
# What an unreachable or failing lease store raises.
LEASE_ERRORS = (RedisError, SQLAlchemyError, OSError)


def new_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# -- leases -------------------------------------------------------------------------


class Lease(ABC):
    """A time-limited claim that at most one holder has at any moment."""

    kind: str = "abstract"

    def __init__(self, holder: str, seconds: float) -> None:
        self.holder = holder
        self.seconds = seconds

    @abstractmethod
    def acquire(self) -> bool:
        """Take the lease if free or expired, or extend it if we hold it."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up, only if we still hold it."""

    @abstractmethod
    def current_holder(self) -> str | None:
        """Who holds an unexpired lease now, if anyone."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free connections."""


# Renewal and release compare the holder token and act in one step, so a holder whose
# lease expired and was taken by another cannot extend or delete the new holder's lease.
_REDIS_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_REDIS_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease(Lease):
    kind = "redis"

    def __init__(self, url: str, holder: str, seconds: float, *, key: str,
                 socket_timeout: float = 2.0) -> None:
        super().__init__(holder, seconds)
        self.key = key
        try:
            self.client = make_redis_client(url, socket_timeout=socket_timeout)
        except ValueError as exc:
            raise ConfigError(f"SUBLARR_REDIS_URL: not a Redis URL ({exc})") from None
        self._renew = self.client.register_script(_REDIS_RENEW)
        self._release = self.client.register_script(_REDIS_RELEASE)

    @property
    def _ms(self) -> int:
        return max(int(self.seconds * 1000), 1)

    def acquire(self) -> bool:
        if self._renew(keys=[self.key], args=[self.holder, self._ms]):
            return True
        return bool(self.client.set(self.key, self.holder, nx=True, px=self._ms))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.holder])

    def current_holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def close(self) -> None:
        self.client.close()


class DatabaseLease(Lease):
    """A row in scheduler_leases, taken by conditional UPDATE or a primary-key INSERT.

    Both statements are atomic on SQLite (one writer) and PostgreSQL (the UPDATE's
    condition is re-checked on the row a concurrent winner just wrote), so two
    processes never both succeed. PostgreSQL's clock decides expiry there, so machines
    with skewed clocks agree.
    """

    kind = "database"

    def __init__(self, database: Database, holder: str, seconds: float, *,
                 name: str = LEASE_NAME) -> None:
        super().__init__(holder, seconds)
        self.db = database
        self.name = name

    def _now(self, conn: Connection) -> datetime:
        if conn.dialect.name == "postgresql":
            return cast(datetime, conn.execute(select(func.now())).scalar_one())
        return utcnow()

    def acquire(self) -> bool:
        with self.db.engine.begin() as conn:
            now = self._now(conn)
            values = dict(holder=self.holder, expires_at=now + timedelta(seconds=self.seconds))
            if conn.execute(
                update(_LEASES).where(
                    _LEASES.c.name == self.name,
                    or_(_LEASES.c.holder == self.holder, _LEASES.c.expires_at < now),
                ).values(**values)
            ).rowcount:
                return True
            if conn.execute(select(_LEASES.c.name).where(_LEASES.c.name == self.name)).first():
                return False
        try:
            with self.db.engine.begin() as conn:
                conn.execute(insert(_LEASES).values(name=self.name, **values))
        except IntegrityError:
            return False
        return True

    def release(self) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(delete(_LEASES).where(_LEASES.c.name == self.name,
                                               _LEASES.c.holder == self.holder))

    def current_holder(self) -> str | None:
        with self.db.engine.connect() as conn:
            now = self._now(conn)
            return conn.execute(
                select(_LEASES.c.holder).where(_LEASES.c.name == self.name,
                                               _LEASES.c.expires_at >= now)
            ).scalar()


def create_lease(settings: Settings, database: Database, holder: str) -> Lease:
    seconds = settings.scheduler_lease_seconds
    if settings.redis_url:
        # Outside the cache's key prefix, so clearing the cache never drops the lease.
        return RedisLease(settings.redis_url, holder, seconds,
                          key=f"lease:{settings.redis_key_prefix}{LEASE_NAME}",
                          socket_timeout=settings.redis_socket_timeout)
    return DatabaseLease(database, holder, seconds)


# -- tasks --------------------------------------------------------------------------


@dataclass
class Task:
    name: str
    interval: float
    func: TaskFunc
    run_at_start: bool
    due: float = 0.0  # monotonic time of the next run
    runs: int = 0
    failures: int = 0
    last_run_at: datetime | None = None
    last_duration: float | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_result: Any = None

    def snapshot(self, now_mono: float, now_wall: datetime, leader: bool) -> dict[str, Any]:
        next_run = now_wall + timedelta(seconds=max(self.due - now_mono, 0.0))
        return {
            "name": self.name,
            "interval_seconds": self.interval,
            "runs": self.runs,
            "failures": self.failures,
            "last_run": _iso(self.last_run_at),
            "last_duration_seconds": self.last_duration,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "last_result": self.last_result,
            "next_run": next_run.isoformat() if leader else None,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _summary(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else value[:500]
    if isinstance(value, dict) and len(value) <= 20:
        return {str(k): _summary(v) for k, v in value.items()}
    return repr(value)[:500]


# -- scheduler ----------------------------------------------------------------------


class Scheduler:
    """One daemon thread: keep (or contend for) the lease; while leader, run due tasks."""

    def __init__(self, app: Flask, lease: Lease, *, enabled: bool = True) -> None:
        self.app = app
        self.lease = lease
        self.enabled = enabled
        self.renew_interval = max(lease.seconds / 3, 0.05)
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._leader = False
        self._valid_until = 0.0
        self._next_lease_at = 0.0
        self._lease_error: str | None = None

    @property
    def holder_id(self) -> str:
        return self.lease.holder

    @property
    def is_leader(self) -> bool:
        return self._leader and time.monotonic() < self._valid_until

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def register(self, name: str, interval_seconds: float, func: TaskFunc, *,
                 run_at_start: bool = False) -> None:
        """Run func(app) every interval_seconds in the leading process; replaces a
        task of the same name. run_at_start: run as soon as this process leads."""
        if interval_seconds <= 0:
            raise ValueError(f"task {name!r}: interval_seconds must be positive")
        first = 0.0 if run_at_start else interval_seconds
        with self._lock:
            self._tasks[name] = Task(name, float(interval_seconds), func, run_at_start,
                                     due=time.monotonic() + first)
        self._wake.set()

    def set_interval(self, name: str, interval_seconds: float) -> bool:
        """Change a registered task's interval (a setting saved from the web UI); its
        next run comes no later than one new interval from now. False if unknown."""
        if interval_seconds <= 0:
            raise ValueError(f"task {name!r}: interval_seconds must be positive")
        with self._lock:
            task = self._tasks.get(name)
            if task is None:
                return False
            task.interval = float(interval_seconds)
            task.due = min(task.due, time.monotonic() + task.interval)
        self._wake.set()
        return True

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        if not self.enabled:
            log.info("scheduler disabled (SUBLARR_SCHEDULER_ENABLED=false)")
            return
        if self.running:
            return
        self._stopping = False
        self._wake.clear()
        with self._lock:
            now = time.monotonic()
            for task in self._tasks.values():
                task.due = now + (0.0 if task.run_at_start else task.interval)
        self._thread = threading.Thread(target=self._loop, name="sublarr-scheduler",
                                        daemon=True)
        self._thread.start()
        # A clean interpreter exit hands the lease on at once instead of at expiry.
        atexit.register(self.stop)
        log.info("scheduler started (%s lease, holder %s)", self.lease.kind, self.holder_id)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread; it releases the lease once the task in progress ends. If
        that takes longer than timeout, the lease is left to expire instead."""
        atexit.unregister(self.stop)
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout if timeout is not None else self.lease.seconds)
        if thread.is_alive():
            log.warning("scheduler task still running at stop; its lease will expire")
        self._thread = None

    def close(self) -> None:
        self.stop()
        self.lease.close()

    # -- loop -----------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping:
            try:
                self._tick()
            except Exception:  # the loop must outlive any bug in a tick
                log.exception("scheduler tick failed")
            self._wake.wait(self._sleep_seconds())
            self._wake.clear()
        self._give_up_lease()

    def _tick(self) -> None:
        if time.monotonic() >= self._next_lease_at:
            self._refresh_lease()
        while self.is_leader and not self._stopping:
            task = self._next_due_task()
            if task is None:
                return
            self._run_task(task)
            if time.monotonic() >= self._next_lease_at:
                self._refresh_lease()

    def _next_due_task(self) -> Task | None:
        now = time.monotonic()
        with self._lock:
            due = [t for t in self._tasks.values() if t.due <= now]
        return min(due, key=lambda t: t.due) if due else None

    def _sleep_seconds(self) -> float:
        wake_at = self._next_lease_at
        if self.is_leader:
            with self._lock:
                wake_at = min([wake_at, *(t.due for t in self._tasks.values())])
        return min(max(wake_at - time.monotonic(), 0.01), self.renew_interval)

    def _refresh_lease(self) -> None:
        started = time.monotonic()
        was_leader = self._leader
        try:
            held = self.lease.acquire()
        except LEASE_ERRORS as exc:  # Redis or database down: we cannot claim to lead
            held = False
            self._note_lease_error(exc)
        else:
            if self._lease_error is not None:
                log.info("scheduler lease store reachable again")
            self._lease_error = None
        self._leader = held
        if held:
            self._valid_until = started + self.lease.seconds
            if not was_leader:
                log.info("scheduler lease taken by %s; running periodic tasks", self.holder_id)
        elif was_leader:
            log.warning("scheduler lease lost by %s; periodic tasks paused", self.holder_id)
        self._next_lease_at = time.monotonic() + self.renew_interval

    def _note_lease_error(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if self._lease_error is None:
            log.warning("scheduler lease store unreachable (%s); retrying every %.1fs",
                        message, self.renew_interval)
        else:
            log.debug("scheduler lease store still unreachable: %s", message)
        self._lease_error = message

    def _give_up_lease(self) -> None:
        if not self._leader:
            return
        self._leader = False
        try:
            self.lease.release()
        except LEASE_ERRORS as exc:  # it expires on its own
            log.warning("scheduler lease not released (%s); it will expire", exc)
        else:
            log.info("scheduler lease released by %s", self.holder_id)

    def _run_task(self, task: Task) -> None:
        started_wall, started = utcnow(), time.monotonic()
        status, error, result = "ok", None, None
        try:
            with self.app.app_context():
                result = task.func(self.app)
        except Exception as exc:  # recorded; the loop and other tasks carry on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("scheduled task %r failed", task.name)
        finished = time.monotonic()
        with self._lock:
            task.runs += 1
            task.last_run_at = started_wall
            task.last_duration = finished - started
            task.last_status = status
            # Counted from the end of the run, so a slow task never piles up runs.
            task.due = finished + task.interval
            if error is None:
                task.last_result = _summary(result)
            else:
                task.failures += 1
                task.last_error, task.last_error_at = error, utcnow()

    # -- inspection -----------------------------------------------------------
    def status(self) -> dict[str, Any]:
        leader = self.is_leader
        now_mono, now_wall = time.monotonic(), utcnow()
        with self._lock:
            tasks = [t.snapshot(now_mono, now_wall, leader) for t in self._tasks.values()]
        return {
            "enabled": self.enabled,
            "running": self.running,
            "leader": leader,
            "holder_id": self.holder_id,
            "holder": self._current_holder(),
            "lease": self.lease.kind,
            "lease_seconds": self.lease.seconds,
            "lease_error": self._lease_error,
            "tasks": tasks,
        }

    def _current_holder(self) -> str | None:
        try:
            return self.lease.current_holder()
        except LEASE_ERRORS:  # status must answer even while the lease store is down
            return None


# -- the platform's own tasks -------------------------------------------------------


def purge_job_records(app: Flask) -> int:
    """Delete finished, failed and cancelled job records older than the TTL."""
    from db.repositories.jobs import JobRepository

    days = app.settings.job_record_ttl_days  # type: ignore[attr-defined]
    deleted = JobRepository(app.database).purge_finished(  # type: ignore[attr-defined]
        timedelta(days=days))
    if deleted:
        log.info("purged %d job records older than %d days", deleted, days)
    return deleted


def purge_provider_cache(app: Flask) -> int:
    """Delete provider cache rows expired longer ago than the stale grace window (rows
    inside it are served, marked stale, while their provider is down)."""
    from db.repositories.cache import ProviderCacheRepository

    grace = timedelta(seconds=app.settings.provider_cache_stale_ttl)  # type: ignore[attr-defined]
    deleted = ProviderCacheRepository(app.database).purge_expired(grace)  # type: ignore[attr-defined]
    if deleted:
        log.info("purged %d expired provider cache rows", deleted)
    return deleted


def purge_provider_stats_history(app: Flask) -> int:
    """Delete Provider Stats chart buckets older than HISTORY_KEEP (a week)."""
    from db.repositories.provider_history import HISTORY_KEEP, ProviderHistoryRepository

    deleted = ProviderHistoryRepository(app.database).purge(HISTORY_KEEP)  # type: ignore[attr-defined]
    if deleted:
        log.info("purged %d provider stats history buckets", deleted)
    return deleted


def reconcile_jobs(app: Flask) -> dict[str, int]:
    """Repair the jobs table against the queue engine (e.g. re-enqueue after a flush)."""
    return app.job_queue.reconcile()  # type: ignore[attr-defined, no-any-return]


def create_scheduler(app: Flask) -> Scheduler:
    settings: Settings = app.settings  # type: ignore[attr-defined]
    lease = create_lease(settings, app.database, new_holder_id())  # type: ignore[attr-defined]
    scheduler = Scheduler(app, lease, enabled=settings.scheduler_enabled)
    purge_every = settings.provider_cache_purge_interval
    scheduler.register("purge job records", purge_every, purge_job_records, run_at_start=True)
    scheduler.register("purge provider cache", purge_every, purge_provider_cache,
                       run_at_start=True)
    scheduler.register("purge provider stats history", purge_every,
                       purge_provider_stats_history)
    scheduler.register("reconcile jobs", settings.job_reconcile_interval, reconcile_jobs)
    from wanted_search import search_wanted_task, sync_library_task

    scheduler.register("search wanted", settings.wanted_search_interval, search_wanted_task,
                       run_at_start=True)
    scheduler.register("sync library", settings.library_sync_interval, sync_library_task)
    return scheduler
