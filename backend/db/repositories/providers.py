"""The provider_stats table: running counters per provider (Provider Stats page).

Counters are incremented in SQL (never read-modify-write in Python), so several
processes searching at once do not lose counts; the per-kind failure counts and the
bounded list of response times are updated under a row lock for the same reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.engine import Connection

from db import Database
from db.models import ProviderStats, utcnow
from db.repositories._upsert import upsert
from db.repositories.provider_history import nearest_rank, record_bucket

_T = cast(Table, ProviderStats.__table__)
ERROR_LIMIT = 1000
# Response times kept per provider for the p95: enough for a stable figure, small
# enough to rewrite on every update.
SAMPLE_LIMIT = 200
_UNSET: Any = object()


@dataclass(frozen=True)
class ProviderStatsRecord:
    provider: str
    searches: int
    results: int
    cache_hits: int
    downloads_ok: int
    downloads_failed: int
    failures: dict[str, int]
    response_ms_total: float
    response_count: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    circuit_state: str
    throttled_until: datetime | None
    response_samples: tuple[float, ...] = ()

    @property
    def average_response_ms(self) -> float | None:
        return self.response_ms_total / self.response_count if self.response_count else None

    @property
    def p50_response_ms(self) -> float | None:
        """Median (nearest rank) of the latest SAMPLE_LIMIT response times."""
        return nearest_rank(self.response_samples, 0.50)

    @property
    def p95_response_ms(self) -> float | None:
        """95th percentile (nearest rank) of the latest SAMPLE_LIMIT response times."""
        return nearest_rank(self.response_samples, 0.95)


_JSON_FIELDS = ("failures", "response_samples")


def _record(row: Any) -> ProviderStatsRecord:
    values = {f.name: getattr(row, f.name) for f in fields(ProviderStatsRecord)
              if f.name not in _JSON_FIELDS}
    return ProviderStatsRecord(
        failures=json.loads(row.failures_json or "{}"),
        response_samples=tuple(json.loads(row.response_samples_json or "[]")), **values)


@dataclass
class ProviderStatsDelta:
    """What happened to one provider since the last write, applied in one transaction."""

    provider: str
    searches: int = 0
    results: int = 0
    cache_hits: int = 0
    response_ms: list[float] = field(default_factory=list)
    last_success_at: datetime | None = None
    failures: dict[str, int] = field(default_factory=dict)
    last_failure_at: datetime | None = None
    last_error: str | None = None
    downloads_ok: int = 0
    downloads_failed: int = 0
    circuit_state: str | None = None
    throttled_until: datetime | None = _UNSET
    # When the first event in it happened: the history bucket it is counted in. Not
    # compared, so `empty` still means "nothing happened".
    at: datetime = field(default_factory=utcnow, compare=False)

    def merge(self, other: ProviderStatsDelta) -> None:
        """Fold a later delta into this one."""
        self.searches += other.searches
        self.results += other.results
        self.cache_hits += other.cache_hits
        self.response_ms = (self.response_ms + other.response_ms)[-SAMPLE_LIMIT:]
        self.last_success_at = other.last_success_at or self.last_success_at
        for kind, n in other.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + n
        if other.last_failure_at is not None:
            self.last_failure_at, self.last_error = other.last_failure_at, other.last_error
        self.downloads_ok += other.downloads_ok
        self.downloads_failed += other.downloads_failed
        self.circuit_state = other.circuit_state or self.circuit_state
        if other.throttled_until is not _UNSET:
            self.throttled_until = other.throttled_until

    @property
    def empty(self) -> bool:
        return self == ProviderStatsDelta(self.provider)


_ZERO = dict(searches=0, results=0, cache_hits=0, downloads_ok=0, downloads_failed=0,
             failures_json="{}", response_ms_total=0.0, response_count=0,
             circuit_state="closed", response_samples_json="[]")
_COUNTERS = ("searches", "results", "cache_hits", "downloads_ok", "downloads_failed")


class ProviderStatsRepository:
    def __init__(self, database: Database) -> None:
        self.db = database

    def get(self, provider: str) -> ProviderStatsRecord | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_T).where(_T.c.provider == provider)).first()
        return _record(row) if row else None

    def all(self) -> list[ProviderStatsRecord]:
        with self.db.engine.connect() as conn:
            return [_record(row) for row in conn.execute(select(_T).order_by(_T.c.provider))]

    def apply(self, delta: ProviderStatsDelta) -> None:
        """Add a delta to the provider's row (created if missing) and to its history
        bucket, in one transaction."""
        with self.db.engine.begin() as conn:
            self._apply_counters(conn, delta)
            record_bucket(conn, delta)
            if delta.failures or delta.response_ms:
                self._apply_lists(conn, delta)
            state: dict[str, Any] = {}
            if delta.circuit_state is not None:
                state["circuit_state"] = delta.circuit_state
            if delta.throttled_until is not _UNSET:
                state["throttled_until"] = delta.throttled_until
            if state:
                conn.execute(update(_T).where(_T.c.provider == delta.provider).values(**state))

    def _apply_counters(self, conn: Connection, delta: ProviderStatsDelta) -> None:
        first: dict[str, Any] = dict(_ZERO, provider=delta.provider)
        bump: dict[str, Any] = dict(provider=delta.provider)
        for name in _COUNTERS:
            value = getattr(delta, name)
            if value:
                first[name] = value
                bump[name] = _T.c[name] + value
        if delta.response_ms:
            total = float(sum(delta.response_ms))
            first.update(response_ms_total=total, response_count=len(delta.response_ms))
            bump.update(response_ms_total=_T.c.response_ms_total + total,
                        response_count=_T.c.response_count + len(delta.response_ms))
        if delta.last_success_at is not None:
            first["last_success_at"] = bump["last_success_at"] = delta.last_success_at
        upsert(conn, _T, ("provider",), first, bump)

    def _apply_lists(self, conn: Connection, delta: ProviderStatsDelta) -> None:
        # Row locked (PostgreSQL FOR UPDATE; SQLite holds the write lock already), so
        # concurrent writers in other processes do not lose each other's updates.
        row = conn.execute(
            select(_T.c.failures_json, _T.c.response_samples_json)
            .where(_T.c.provider == delta.provider).with_for_update()).one()
        values: dict[str, Any] = {}
        if delta.failures:
            failures = json.loads(row.failures_json or "{}")
            for kind, n in delta.failures.items():
                failures[kind] = int(failures.get(kind, 0)) + n
            values["failures_json"] = json.dumps(failures, sort_keys=True)
            values["last_failure_at"] = delta.last_failure_at or utcnow()
            values["last_error"] = (delta.last_error or "")[:ERROR_LIMIT]
        if delta.response_ms:
            samples = json.loads(row.response_samples_json or "[]") + [
                round(ms, 3) for ms in delta.response_ms]
            values["response_samples_json"] = json.dumps(samples[-SAMPLE_LIMIT:])
        conn.execute(update(_T).where(_T.c.provider == delta.provider).values(**values))

    def record_search(self, provider: str, *, results: int, response_ms: float | None = None,
                      cache_hit: bool = False) -> None:
        """One search answered, from the provider (with its response time) or a cache."""
        self.apply(search_delta(provider, results=results, response_ms=response_ms,
                                cache_hit=cache_hit))

    def record_download(self, provider: str, *, ok: bool) -> None:
        self.apply(ProviderStatsDelta(provider, downloads_ok=int(ok),
                                      downloads_failed=int(not ok)))

    def record_failure(self, provider: str, kind: str, message: str) -> None:
        """A failed call, counted per kind (auth, rate_limited, unavailable, ...)."""
        self.apply(failure_delta(provider, kind, message))

    def set_circuit(self, provider: str, state: str,
                    throttled_until: datetime | None = None) -> None:
        self.apply(ProviderStatsDelta(provider, circuit_state=state,
                                      throttled_until=throttled_until))


def search_delta(provider: str, *, results: int, response_ms: float | None = None,
                 cache_hit: bool = False) -> ProviderStatsDelta:
    delta = ProviderStatsDelta(provider, searches=1, results=results,
                               cache_hits=int(cache_hit))
    if not cache_hit:
        delta.last_success_at = utcnow()
        if response_ms is not None:
            delta.response_ms = [response_ms]
    return delta


def failure_delta(provider: str, kind: str, message: str) -> ProviderStatsDelta:
    return ProviderStatsDelta(provider, failures={kind: 1}, last_failure_at=utcnow(),
                              last_error=message[:ERROR_LIMIT])
