"""The provider_stats_history table: Provider Stats per provider and time bucket, for the
chart over the last day.

Written by ProviderStatsRepository.apply, in the transaction that updates the running
counters, so the chart and the totals never disagree. A delta is counted in the bucket of
its first event (a delta covers the ~2 s between stats flushes). Counters are incremented
in SQL and the bounded sample list is rewritten under a row lock, as for provider_stats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection

from db.models import ProviderStatsBucket, utcnow
from db.repositories._upsert import upsert

if TYPE_CHECKING:
    from db import Database
    from db.repositories.providers import ProviderStatsDelta

_T = cast(Table, ProviderStatsBucket.__table__)
# Five minutes: 288 points for a day's chart, few enough rows to read on every poll.
BUCKET_SECONDS = 300
# Response times kept per bucket for its p50/p95 (the latest ones when there are more).
BUCKET_SAMPLE_LIMIT = 200
# How long buckets are kept before the scheduler's purge deletes them.
HISTORY_KEEP = timedelta(days=7)


def nearest_rank(samples: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of samples (fraction 0.5 = median), None when empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def bucket_start(at: datetime) -> datetime:
    """The start of the BUCKET_SECONDS bucket `at` falls in (UTC, aligned to the epoch)."""
    seconds = int(at.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(seconds, UTC)


def record_bucket(conn: Connection, delta: ProviderStatsDelta) -> None:
    """Add a delta's searches, results, cache hits, failures and response times to its
    bucket (created if missing). Deltas with none of those (circuit state, downloads)
    write nothing."""
    failures = sum(delta.failures.values())
    if not (delta.searches or delta.results or delta.cache_hits or failures
            or delta.response_ms):
        return
    key = {"provider": delta.provider, "bucket_start": bucket_start(delta.at)}
    counts = {"searches": delta.searches, "results": delta.results,
              "cache_hits": delta.cache_hits, "failures": failures,
              "response_ms_total": float(sum(delta.response_ms)),
              "response_count": len(delta.response_ms)}
    first = {**key, **counts, "response_samples_json": "[]"}
    bump = {name: _T.c[name] + value for name, value in counts.items() if value}
    upsert(conn, _T, tuple(key), first, bump or {"searches": _T.c.searches})
    if delta.response_ms:
        _add_samples(conn, key, delta.response_ms)


def _add_samples(conn: Connection, key: dict[str, Any], response_ms: list[float]) -> None:
    where = (_T.c.provider == key["provider"]) & (_T.c.bucket_start == key["bucket_start"])
    # Locked (PostgreSQL FOR UPDATE; SQLite holds the write lock already) so writers in
    # other processes do not lose each other's samples.
    stored = conn.execute(select(_T.c.response_samples_json).where(where)
                          .with_for_update()).scalar_one()
    samples = json.loads(stored or "[]") + [round(ms, 3) for ms in response_ms]
    conn.execute(update(_T).where(where).values(
        response_samples_json=json.dumps(samples[-BUCKET_SAMPLE_LIMIT:])))


@dataclass(frozen=True)
class StatsBucket:
    provider: str
    bucket_start: datetime
    searches: int
    results: int
    cache_hits: int
    failures: int
    response_count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None


def _bucket(row: Any) -> StatsBucket:
    samples = json.loads(row.response_samples_json or "[]")
    mean = row.response_ms_total / row.response_count if row.response_count else None
    return StatsBucket(
        provider=row.provider, bucket_start=row.bucket_start, searches=row.searches,
        results=row.results, cache_hits=row.cache_hits, failures=row.failures,
        response_count=row.response_count, mean_ms=mean,
        p50_ms=nearest_rank(samples, 0.50), p95_ms=nearest_rank(samples, 0.95))


class ProviderHistoryRepository:
    def __init__(self, database: Database) -> None:
        self.db = database

    def since(self, start: datetime,
              providers: Sequence[str] | None = None) -> dict[str, list[StatsBucket]]:
        """Buckets starting at or after `start` (its bucket included), oldest first,
        by provider."""
        query = select(_T).where(_T.c.bucket_start >= bucket_start(start))
        if providers is not None:
            query = query.where(_T.c.provider.in_(list(providers)))
        found: dict[str, list[StatsBucket]] = {}
        with self.db.engine.connect() as conn:
            for row in conn.execute(query.order_by(_T.c.provider, _T.c.bucket_start)):
                found.setdefault(row.provider, []).append(_bucket(row))
        return found

    def purge(self, older_than: timedelta = HISTORY_KEEP) -> int:
        """Delete buckets that ended longer than `older_than` ago; how many went."""
        cutoff = utcnow() - older_than - timedelta(seconds=BUCKET_SECONDS)
        with self.db.engine.begin() as conn:
            return int(conn.execute(delete(_T).where(_T.c.bucket_start < cutoff)).rowcount)
