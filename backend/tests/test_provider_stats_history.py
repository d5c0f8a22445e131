"""Provider Stats over time (provider_stats_history): every stats flush also counts into
the five-minute bucket of its time, in the same transaction, on SQLite and PostgreSQL;
the scheduler's purge drops buckets older than a week; a fast-tier hit still touches no
database until the flush."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app import close_app, create_app
from db import Database
from db.migrate import upgrade_to_head
from db.models import ProviderStatsBucket, utcnow
from db.repositories.provider_history import (
    BUCKET_SAMPLE_LIMIT,
    BUCKET_SECONDS,
    ProviderHistoryRepository,
    bucket_start,
)
from db.repositories.providers import (
    ProviderStatsDelta,
    ProviderStatsRepository,
    failure_delta,
    search_delta,
)
from scheduler import purge_provider_stats_history
from tests.provider_harness import LANGUAGES, NAMES, Harness, count_statements, episode

NOON = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (str(request.getfixturevalue("postgres_url")) if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'sublarr.db'}")
    migrated = Database(url)
    upgrade_to_head(migrated)
    yield migrated
    migrated.dispose()


def at(delta: ProviderStatsDelta, when: datetime) -> ProviderStatsDelta:
    delta.at = when
    return delta


def test_bucket_start_is_aligned_to_five_minutes() -> None:
    assert BUCKET_SECONDS == 300
    assert bucket_start(NOON + timedelta(minutes=4, seconds=59)) == NOON
    assert bucket_start(NOON + timedelta(minutes=5)) == NOON + timedelta(minutes=5)
    assert bucket_start(NOON - timedelta(seconds=1)) == NOON - timedelta(minutes=5)


def test_each_delta_counts_into_the_bucket_of_its_time(database: Database) -> None:
    stats = ProviderStatsRepository(database)
    history = ProviderHistoryRepository(database)
    stats.apply(at(search_delta("jimaku", results=4, response_ms=10.0), NOON))
    stats.apply(at(search_delta("jimaku", results=2, response_ms=30.0), NOON
                   + timedelta(minutes=4)))
    stats.apply(at(search_delta("jimaku", results=3, cache_hit=True), NOON
                   + timedelta(minutes=1)))
    stats.apply(at(failure_delta("jimaku", "timeout", "no answer in 5 s"), NOON
                   + timedelta(minutes=2)))
    later = NOON + timedelta(minutes=7)
    stats.apply(at(search_delta("jimaku", results=1, response_ms=50.0), later))
    stats.apply(at(search_delta("subdl", results=0, response_ms=5.0), NOON))
    # Neither searches nor failures: nothing for the chart.
    stats.apply(at(ProviderStatsDelta("subdl", circuit_state="open"), NOON))
    stats.apply(at(ProviderStatsDelta("subdl", downloads_ok=1), NOON))

    buckets = history.since(NOON - timedelta(hours=1))
    assert set(buckets) == {"jimaku", "subdl"}
    first, second = buckets["jimaku"]
    assert (first.bucket_start, second.bucket_start) == (NOON, NOON + timedelta(minutes=5))
    assert (first.searches, first.results, first.cache_hits, first.failures) == (3, 9, 1, 1)
    assert (first.response_count, first.mean_ms, first.p50_ms, first.p95_ms) == (
        2, 20.0, 10.0, 30.0)
    assert (second.searches, second.results, second.p95_ms) == (1, 1, 50.0)
    [subdl] = buckets["subdl"]
    assert (subdl.searches, subdl.results, subdl.failures) == (1, 0, 0)
    # The running totals moved in the same applies.
    jimaku = stats.get("jimaku")
    assert jimaku is not None and (jimaku.searches, jimaku.cache_hits) == (4, 1)
    # Only what starts inside the window, and only the providers asked for.
    assert list(history.since(later, providers=["jimaku"])) == ["jimaku"]
    assert [b.searches for b in history.since(later)["jimaku"]] == [1]
    assert history.since(later, providers=["subdl"]) == {}


def test_bucket_samples_keep_only_the_latest(database: Database) -> None:
    stats = ProviderStatsRepository(database)
    delta = at(ProviderStatsDelta("animetosho"), NOON)
    for ms in range(BUCKET_SAMPLE_LIMIT):
        delta.merge(search_delta("animetosho", results=1, response_ms=1000.0 + ms))
    stats.apply(delta)
    stats.apply(at(search_delta("animetosho", results=1, response_ms=1.0), NOON))
    [bucket] = ProviderHistoryRepository(database).since(NOON)["animetosho"]
    assert bucket.response_count == BUCKET_SAMPLE_LIMIT + 1
    with database.engine.connect() as conn:
        stored = conn.execute(select(ProviderStatsBucket.response_samples_json)).scalar_one()
    samples = [float(v) for v in stored.strip("[]").split(",")]
    assert len(samples) == BUCKET_SAMPLE_LIMIT
    assert samples[-1] == 1.0 and 1000.0 not in samples  # the oldest one went


def test_purge_drops_buckets_older_than_a_week(database: Database,
                                               tmp_path: Path) -> None:
    stats = ProviderStatsRepository(database)
    now = utcnow()
    for age in (timedelta(days=8), timedelta(days=7, hours=1), timedelta(days=6),
                timedelta(0)):
        stats.apply(at(search_delta("podnapisi", results=1, response_ms=9.0), now - age))
    app = create_app({"data_dir": str(tmp_path / "data"),
                      "database_url": str(database.engine.url.render_as_string(
                          hide_password=False))}, testing=True)
    try:
        assert purge_provider_stats_history(app) == 2
    finally:
        close_app(app)
    kept = ProviderHistoryRepository(database).since(now - timedelta(days=30))["podnapisi"]
    assert len(kept) == 2
    assert all(now - b.bucket_start < timedelta(days=7) for b in kept)


# -- from the search pipeline ------------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    h.start()
    yield h
    h.close()


def _bucket_rows(database: Database) -> dict[str, Any]:
    with database.engine.connect() as conn:
        rows = conn.execute(select(ProviderStatsBucket.provider,
                                   func.sum(ProviderStatsBucket.searches),
                                   func.sum(ProviderStatsBucket.cache_hits),
                                   func.sum(ProviderStatsBucket.response_count))
                            .group_by(ProviderStatsBucket.provider)).all()
    return {provider: (int(s), int(c), int(r)) for provider, s, c, r in rows}


def test_searches_reach_the_history_through_the_stats_flush(harness: Harness,
                                                           database: Database) -> None:
    manager = harness.manager(database=database)
    manager.search(episode(), LANGUAGES)
    manager.flush_stats()
    assert _bucket_rows(database) == {name: (1, 0, 1) for name in NAMES}

    # The fast path is untouched: a fast-tier hit runs no statement ...
    with count_statements(database) as statements:
        manager.search(episode(), LANGUAGES)
    assert statements == []
    assert _bucket_rows(database) == {name: (1, 0, 1) for name in NAMES}
    # ... and is counted (a cache hit, no response time) when the stats are written.
    manager.flush_stats()
    assert _bucket_rows(database) == {name: (2, 1, 1) for name in NAMES}
    buckets = ProviderHistoryRepository(database).since(utcnow() - timedelta(hours=1))
    assert all(b.p50_ms is not None for name in NAMES for b in buckets[name]
               if b.response_count)
