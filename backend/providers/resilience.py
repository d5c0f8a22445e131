"""Per-provider resilience: circuit breaker, rate limit and "throttled until" state.

Each is shared between processes through Redis when ``SUBLARR_REDIS_URL`` is set and
kept in process memory otherwise. Redis is an accelerator here, never a dependency: a
failing Redis call falls back to the in-memory state of this process, and after one
failure every Redis call fails fast for a second (``SharedRedis``) so that a dead
server never slows a search down.

Circuit breaker (pybreaker's state machine and its ``CircuitRedisStorage``): closed →
open after ``provider_circuit_fail_max`` counted failures in a row (unavailable and
timeouts only) → after ``provider_circuit_reset_timeout`` seconds, half-open with ONE
probe call across all threads and processes → closed if the probe is answered, open
again if not. We drive the state machine ourselves rather than through
``CircuitBreaker.call``, which holds one lock for the whole guarded call and so would
serialise every call to a provider within a process.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import redis
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from limits.util import parse_many
from pybreaker import (
    STATE_CLOSED,
    STATE_HALF_OPEN,
    STATE_OPEN,
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitBreakerState,
    CircuitBreakerStorage,
    CircuitMemoryStorage,
    CircuitRedisStorage,
)
from redis.exceptions import RedisError

from config import ConfigError
from providers.base import ProviderError
from redis_client import make_redis_client

log = logging.getLogger(__name__)

T = TypeVar("T")
_REDIS_ERRORS = (RedisError, StorageError, OSError)
_MISSING: Any = object()


# -- errors the manager raises itself (no upstream call was made) ----------------------


class CircuitOpen(ProviderError):
    """The provider's circuit is open (or its single probe is already in flight)."""

    kind = "circuit_open"

    def __init__(self, provider: str, message: str, until: datetime | None = None) -> None:
        super().__init__(provider, message)
        self.until = until


class Throttled(ProviderError):
    """Waiting out what the provider said (429, quota) or our own rate limit."""

    kind = "throttled"

    def __init__(self, provider: str, message: str, until: datetime | None = None) -> None:
        super().__init__(provider, message)
        self.until = until


class ProviderDisabled(ProviderError):
    """Not configured, failed to load, or refused our credentials."""

    kind = "disabled"


# -- Redis for coordination ------------------------------------------------------------


class SharedRedis:
    """One Redis client for locks, throttles, circuit state and rate windows.

    ``run`` never raises a Redis error: it returns the given default, notes the outage
    (logged once), and for ``retry_after`` seconds every call returns its default at
    once; then one call probes again.
    """

    def __init__(self, url: str, *, key_prefix: str = "sublarr:", socket_timeout: float = 2.0,
                 retry_after: float = 1.0) -> None:
        try:
            self.client = make_redis_client(url, socket_timeout=socket_timeout)
        except ValueError as exc:
            raise ConfigError(f"SUBLARR_REDIS_URL: not a Redis URL ({exc})") from None
        self.url = url
        self.prefix = key_prefix
        self.retry_after = retry_after
        self.failures = 0
        self._down_until = 0.0
        self._in_outage = False
        self._lock = threading.Lock()

    def key(self, kind: str, *parts: str) -> str:
        # Outside the cache's namespace, so clearing the cache never drops a lock.
        return f"{kind}:{self.prefix}" + ":".join(parts)

    @property
    def available(self) -> bool:
        return not self._down_until or time.monotonic() >= self._down_until

    def run(self, func: Callable[[redis.Redis], T], default: T) -> T:
        if not self.available:
            return default
        try:
            value = func(self.client)
        except _REDIS_ERRORS as exc:
            self.note_failure(exc)
            return default
        self.note_success()
        return value

    def note_failure(self, exc: BaseException | None) -> None:
        with self._lock:
            self.failures += 1
            self._down_until = time.monotonic() + self.retry_after
            first = not self._in_outage
            self._in_outage = True
        if first:
            log.warning("Redis for provider coordination unreachable (%s: %s); using "
                        "this process's own state until it answers again",
                        type(exc).__name__ if exc else "error", exc)

    def note_success(self) -> None:
        if self._in_outage:
            with self._lock:
                was, self._in_outage, self._down_until = self._in_outage, False, 0.0
            if was:
                log.info("Redis for provider coordination reachable again")

    def close(self) -> None:
        self.client.close()


# Compare-and-delete, so a holder whose lock expired never deletes a successor's lock.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLock:
    """A short lock (SET NX PX) on one key; ``acquire`` answers None when Redis is not
    there to ask, so the caller goes on without cross-process exclusion."""

    def __init__(self, shared: SharedRedis, key: str, ttl_seconds: float) -> None:
        self.shared = shared
        self.key = key
        self.ttl_ms = max(int(ttl_seconds * 1000), 1)
        self.token = uuid.uuid4().hex
        self.held = False

    def acquire(self) -> bool | None:
        got = self.shared.run(
            lambda c: c.set(self.key, self.token, nx=True, px=self.ttl_ms), _MISSING)
        if got is _MISSING:
            return None
        self.held = bool(got)
        return self.held

    def exists(self) -> bool | None:
        found = self.shared.run(lambda c: c.exists(self.key), _MISSING)
        return None if found is _MISSING else bool(found)

    def release(self) -> None:
        if self.held:
            self.held = False
            self.shared.run(lambda c: c.eval(_RELEASE, 1, self.key, self.token), None)


# -- circuit breaker -------------------------------------------------------------------


class _NoteFailures:
    """Stands in for CircuitRedisStorage's logger: the storage swallows Redis errors and
    logs them with a traceback on every call; we note the outage (logged once)."""

    def __init__(self, shared: SharedRedis) -> None:
        self.shared = shared

    def exception(self, *_args: Any, **_kwargs: Any) -> None:
        self.shared.note_failure(sys.exc_info()[1])


class _RedisStorage(CircuitRedisStorage):
    def __init__(self, shared: SharedRedis, namespace: str) -> None:
        self.logger = _NoteFailures(shared)  # type: ignore[assignment]
        super().__init__(STATE_CLOSED, shared.client, namespace=namespace)


class FailoverStorage(CircuitBreakerStorage):
    """Circuit state in Redis while it answers, in this process's memory otherwise.

    Writes go to both, so the memory copy is this process's latest view when Redis
    goes away."""

    def __init__(self, shared: SharedRedis | None, namespace: str) -> None:
        super().__init__("failover")
        self.memory = CircuitMemoryStorage(STATE_CLOSED)
        self.shared = shared
        self.namespace = namespace
        self._redis: _RedisStorage | None = None

    def _remote(self) -> _RedisStorage | None:
        shared = self.shared
        if shared is None or not shared.available:
            return None
        if self._redis is None:
            try:
                self._redis = _RedisStorage(shared, self.namespace)
            except _REDIS_ERRORS as exc:
                shared.note_failure(exc)
                return None
        return self._redis

    def _read(self, getter: Callable[[CircuitBreakerStorage], T]) -> T:
        remote = self._remote()
        if remote is not None:
            assert self.shared is not None
            failures = self.shared.failures
            value = getter(remote)
            if self.shared.failures == failures:
                return value
        return getter(self.memory)

    def _write(self, setter: Callable[[CircuitBreakerStorage], None]) -> None:
        setter(self.memory)
        remote = self._remote()
        if remote is not None:
            setter(remote)

    @property
    def state(self) -> str:
        return self._read(lambda s: s.state)

    @state.setter
    def state(self, state: str) -> None:
        def put(storage: CircuitBreakerStorage) -> None:
            storage.state = state

        self._write(put)

    def increment_counter(self) -> None:
        self._write(lambda s: s.increment_counter())

    def reset_counter(self) -> None:
        self._write(lambda s: s.reset_counter())

    def increment_success_counter(self) -> None:
        self._write(lambda s: s.increment_success_counter())

    def reset_success_counter(self) -> None:
        self._write(lambda s: s.reset_success_counter())

    @property
    def counter(self) -> int:
        return self._read(lambda s: s.counter)

    @property
    def success_counter(self) -> int:
        return self._read(lambda s: s.success_counter)

    @property
    def opened_at(self) -> datetime | None:
        return self._read(lambda s: s.opened_at)

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        def put(storage: CircuitBreakerStorage) -> None:
            storage.opened_at = when

        self._write(put)


class _StateListener(CircuitBreakerListener):
    def __init__(self, callback: Callable[[str, str], None] | None) -> None:
        self.callback = callback

    def state_change(self, cb: CircuitBreaker, old_state: CircuitBreakerState | None,
                     new_state: CircuitBreakerState) -> None:
        old = old_state.name if old_state else None
        if old == new_state.name:
            return
        level = logging.WARNING if new_state.name == STATE_OPEN else logging.INFO
        log.log(level, "provider %s: circuit %s -> %s", cb.name, old, new_state.name)
        if self.callback is not None:
            self.callback(str(cb.name), new_state.name)


class ProviderBreaker:
    """closed → open → half-open (one probe) → closed/open, for one provider."""

    def __init__(self, name: str, *, fail_max: int, reset_timeout: float,
                 probe_seconds: float, shared: SharedRedis | None = None,
                 on_state_change: Callable[[str, str], None] | None = None) -> None:
        self.name = name
        self.shared = shared
        self.probe_seconds = probe_seconds
        namespace = shared.key("breaker", name) if shared else name
        self.storage = FailoverStorage(shared, namespace)
        self.breaker = CircuitBreaker(fail_max=fail_max, reset_timeout=reset_timeout,
                                      state_storage=self.storage, name=name,
                                      listeners=[_StateListener(on_state_change)])
        self._probe_key = shared.key("probe", name) if shared else ""
        self._probe_token = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._local_probe_until = 0.0

    @property
    def state(self) -> str:
        return self.breaker.current_state

    def open_until(self) -> datetime | None:
        if self.state == STATE_CLOSED:
            return None
        opened_at = self.storage.opened_at
        if opened_at is None:
            return None
        return opened_at + timedelta(seconds=self.breaker.reset_timeout)

    def acquire(self) -> bool:
        """May a call go out now? Returns True when it is the half-open probe; raises
        CircuitOpen when no call may go out."""
        state = self.state
        if state == STATE_CLOSED:
            return False
        if state == STATE_OPEN:
            until = self.open_until()
            if until is not None and datetime.now(UTC) < until:
                raise CircuitOpen(self.name, f"circuit open until {until.isoformat()}", until)
        if not self._take_probe():
            raise CircuitOpen(self.name, "circuit half-open; its probe call is in flight")
        if state == STATE_OPEN:
            self.breaker.half_open()
        return True

    def record_success(self, probe: bool) -> None:
        if probe or self.state != STATE_CLOSED:
            self.breaker.close()
        else:
            self.storage.reset_counter()
        if probe:
            self.release_probe()

    def record_failure(self, probe: bool) -> None:
        self.storage.increment_counter()
        if (probe or self.state != STATE_CLOSED
                or self.storage.counter >= self.breaker.fail_max):
            self.breaker.open()
        if probe:
            self.release_probe()

    def _take_probe(self) -> bool:
        if self.shared is not None:
            got = self.shared.run(lambda c: c.set(
                self._probe_key, self._probe_token, nx=True,
                px=max(int(self.probe_seconds * 1000), 1)), _MISSING)
            if got is not _MISSING:
                return bool(got)
        with self._lock:
            now = time.monotonic()
            if now < self._local_probe_until:
                return False
            self._local_probe_until = now + self.probe_seconds
            return True

    def release_probe(self) -> None:
        with self._lock:
            self._local_probe_until = 0.0
        if self.shared is not None:
            self.shared.run(lambda c: c.eval(_RELEASE, 1, self._probe_key, self._probe_token),
                            None)


# -- rate limits ---------------------------------------------------------------------


def parse_rate_limit(text: str, setting: str) -> list[RateLimitItem]:
    """`limits` notation ("5/second", "10/minute;500/day"); empty means no limit."""
    text = (text or "").strip()
    if not text:
        return []
    try:
        return list(parse_many(text))
    except ValueError:
        raise ConfigError(
            f"{setting}: invalid rate limit {text!r}; expected limits notation such as "
            "5/second or 10/minute;500/day") from None


class RateLimit:
    """A moving window per provider, in Redis (shared by every process) when configured."""

    def __init__(self, name: str, items: list[RateLimitItem], *,
                 shared: SharedRedis | None = None) -> None:
        self.name = name
        self.items = items
        self.shared = shared
        self._memory: MovingWindowRateLimiter | None = None
        self._remote: MovingWindowRateLimiter | None = None
        self._lock = threading.Lock()
        self._memory_lock = threading.Lock()

    def _limiter(self) -> tuple[MovingWindowRateLimiter, bool]:
        with self._lock:
            if self.shared is not None and self.shared.available:
                if self._remote is None:
                    self._remote = MovingWindowRateLimiter(RedisStorage(
                        self.shared.url, connection_pool=self.shared.client.connection_pool,
                        key_prefix=self.shared.key("limits").rstrip(":"),
                        wrap_exceptions=True))
                return self._remote, True
            if self._memory is None:
                self._memory = MovingWindowRateLimiter(MemoryStorage())
            return self._memory, False

    def _try(self) -> float:
        """0 when a call may go out now, else seconds until one may."""
        limiter, remote = self._limiter()
        try:
            if remote:
                wait = self._check(limiter)
            else:
                # limits' MemoryStorage restarts its expiry timer without a lock: two
                # threads at once can start the same thread twice (RuntimeError).
                with self._memory_lock:
                    wait = self._check(limiter)
            if wait == 0.0 and remote and self.shared is not None:
                self.shared.note_success()
            return wait
        except _REDIS_ERRORS as exc:
            if not remote or self.shared is None:
                raise
            self.shared.note_failure(exc)
            return self._try()

    def _check(self, limiter: MovingWindowRateLimiter) -> float:
        for item in self.items:
            if not limiter.hit(item, "sublarr", self.name):
                reset = limiter.get_window_stats(item, "sublarr", self.name).reset_time
                return max(reset - time.time(), 0.01)
        return 0.0

    def acquire(self, deadline: float) -> bool:
        """Wait (until the monotonic `deadline` at most) for a free slot."""
        if not self.items:
            return True
        while True:
            wait = self._try()
            if wait <= 0:
                return True
            if time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)


# -- "throttled until" -----------------------------------------------------------------


class ThrottleState:
    """When the provider said we may call again (Retry-After, quota reset)."""

    def __init__(self, name: str, *, shared: SharedRedis | None = None) -> None:
        self.name = name
        self.shared = shared
        self._until: datetime | None = None
        self._key = shared.key("throttle", name) if shared else ""

    def until(self) -> datetime | None:
        now = datetime.now(UTC)
        until = self._until if self._until and self._until > now else None
        if self.shared is not None:
            remote = _timestamp(self.shared.run(lambda c: c.get(self._key), None))
            if remote is not None and remote > now and (until is None or remote > until):
                until = remote
        return until

    def set(self, until: datetime) -> None:
        if self._until is None or until > self._until:
            self._until = until
        if self.shared is not None:
            ms = int((until - datetime.now(UTC)).total_seconds() * 1000)
            if ms > 0:
                self.shared.run(lambda c: c.set(self._key, repr(until.timestamp()), px=ms),
                                None)

    def clear(self) -> None:
        self._until = None
        if self.shared is not None:
            self.shared.run(lambda c: c.delete(self._key), None)


def _timestamp(raw: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(raw), UTC) if raw else None
    except (TypeError, ValueError, OverflowError):
        return None


__all__ = [
    "STATE_CLOSED", "STATE_HALF_OPEN", "STATE_OPEN", "CircuitOpen", "FailoverStorage",
    "ProviderBreaker", "ProviderDisabled", "RateLimit", "RedisLock", "SharedRedis",
    "ThrottleState", "Throttled", "parse_rate_limit",
]
