"""SQLAlchemy 2 models. Alembic migrations in db/migrations must agree with these."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use db.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        # psycopg answers in the session's TimeZone, which need not be UTC.
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Job(Base):
    """The record users see of every job, written before any backend gets it."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    func: Mapped[str] = mapped_column(String(300))
    args_json: Mapped[str] = mapped_column(Text, default="[]")
    kwargs_json: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(20), index=True)
    backend: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    progress_done: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    enqueued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    run_after: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)


class ProviderCache(Base):
    """Persistent record of provider search results; the fast cache tier sits above it."""

    __tablename__ = "provider_cache"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(50))
    query_hash: Mapped[str] = mapped_column(String(64))
    query_json: Mapped[str] = mapped_column(Text, default="{}")
    results_json: Mapped[str] = mapped_column(Text, default="[]")
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    cached_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (
        Index("uq_provider_cache_key", "provider", "query_hash", unique=True),
    )


class ProviderStats(Base):
    """Running counters per provider, shown on the Provider Stats page."""

    __tablename__ = "provider_stats"

    provider: Mapped[str] = mapped_column(String(50), primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[int] = mapped_column(Integer, default=0)
    cache_hits: Mapped[int] = mapped_column(Integer, default=0)
    downloads_ok: Mapped[int] = mapped_column(Integer, default=0)
    downloads_failed: Mapped[int] = mapped_column(Integer, default=0)
    failures_json: Mapped[str] = mapped_column(Text, default="{}")
    response_ms_total: Mapped[float] = mapped_column(Float, default=0.0)
    response_count: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_failure_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    circuit_state: Mapped[str] = mapped_column(String(20), default="closed")
    throttled_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # The latest response times (a bounded JSON list of milliseconds), for the p95.
    response_samples_json: Mapped[str] = mapped_column(Text, default="[]",
                                                       server_default="[]")


class SchedulerLease(Base):
    """Who runs the periodic tasks when leases live in the database."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column()


class TranslationMemory(Base):
    """Lines translated before, so a re-run or a repeated line costs no backend call.
    Texts are in placeholder form (markup swapped for ⟦n⟧), whitespace collapsed."""

    __tablename__ = "translation_memory"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_language: Mapped[str] = mapped_column(String(20))
    target_language: Mapped[str] = mapped_column(String(20))
    model_id: Mapped[str] = mapped_column(String(200))
    text_hash: Mapped[str] = mapped_column(String(64))
    source_text: Mapped[str] = mapped_column(Text)
    translated_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("uq_translation_memory_key", "source_language", "target_language", "model_id",
              "text_hash", unique=True),
    )


class GlossaryTerm(Base):
    """How a name or term is to be translated, for one series (or all: series NULL)."""

    __tablename__ = "glossary_terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    series: Mapped[str | None] = mapped_column(String(300), nullable=True)
    source_language: Mapped[str] = mapped_column(String(20))
    target_language: Mapped[str] = mapped_column(String(20))
    term: Mapped[str] = mapped_column(String(300))
    translation: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("ix_glossary_terms_pair", "source_language", "target_language"),
    )


# -- library and wanted (issue 5) ----------------------------------------------------


class LanguageProfile(Base):
    """Which subtitles a series or movie should have: an ordered list of
    {"language", "hi", "forced"} wishes; a subtitle at or above `cutoff` (an index into
    that list) stops upgrades."""

    __tablename__ = "language_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    items_json: Mapped[str] = mapped_column(Text, default="[]")
    cutoff: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    tags_json: Mapped[str] = mapped_column(Text, default="[]")  # *arr tags that select it
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class Series(Base):
    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    tvdb_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    imdb_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    tmdb_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    anidb_aid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    anilist_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    arr_instance: Mapped[str | None] = mapped_column(String(100), nullable=True)
    arr_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("language_profiles.id", ondelete="SET NULL"), nullable=True)
    monitored: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class Movie(Base):
    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    path: Mapped[str] = mapped_column(String(1000), unique=True)  # the movie's folder
    imdb_id: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    tmdb_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    arr_instance: Mapped[str | None] = mapped_column(String(100), nullable=True)
    arr_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("language_profiles.id", ondelete="SET NULL"), nullable=True)
    monitored: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class MediaFile(Base):
    """One video file: an episode of a series or a movie, with what guessit and ffprobe
    read from it. (path, size, mtime_ns) decide whether it must be probed again."""

    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))  # "episode" | "movie"
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), nullable=True, index=True)
    movie_id: Mapped[int | None] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), nullable=True, index=True)
    season: Mapped[int | None] = mapped_column(Integer, nullable=True)
    episode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    absolute_episode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str | None] = mapped_column(String(300), nullable=True)
    release_group: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source: Mapped[str | None] = mapped_column(String(50), nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(20), nullable=True)
    video_codec: Mapped[str | None] = mapped_column(String(30), nullable=True)
    arr_episode_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    embedded_json: Mapped[str] = mapped_column(Text, default="[]")  # ffprobe tracks
    sidecars_json: Mapped[str] = mapped_column(Text, default="[]")  # subtitle files beside
    probed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class WantedItem(Base):
    """One subtitle a media file should have and may lack: (file, language, variant)."""

    __tablename__ = "wanted_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    media_file_id: Mapped[int] = mapped_column(
        ForeignKey("media_files.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(20))
    variant: Mapped[str] = mapped_column(String(10), default="normal")  # normal|hi|forced
    status: Mapped[str] = mapped_column(String(20), default="wanted")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_search_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_search_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    subtitle_path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(50), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    format: Mapped[str | None] = mapped_column(String(10), nullable=True)
    translation_job_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("uq_wanted_items_key", "media_file_id", "language", "variant", unique=True),
        Index("ix_wanted_items_due", "status", "next_search_at"),
        # The wanted list's usual filters and sorts over 100,000 rows (migration 0005).
        Index("ix_wanted_items_status_language", "status", "language", "next_search_at"),
        Index("ix_wanted_items_language", "language", "next_search_at"),
        Index("ix_wanted_items_next_search", "next_search_at", "id"),
        Index("ix_wanted_items_created", "created_at"),
    )


class HistoryEvent(Base):
    """What Sublarr did to the library: downloads, upgrades, translations."""

    __tablename__ = "history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(20))  # downloaded|upgraded|translated|...
    media_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("media_files.id", ondelete="SET NULL"), nullable=True)
    language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(50), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebUser(Base):
    """Who may log in to the web UI; the password is kept only as a salted hash."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class AppSetting(Base):
    """Values kept by the application itself: settings saved from the web UI (as JSON,
    below environment variables in priority) and generated secrets such as the session key."""

    __tablename__ = "app_settings"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()


class ProviderStatsBucket(Base):
    """Provider Stats over time: one row per provider and time bucket, for the chart."""

    __tablename__ = "provider_stats_history"

    provider: Mapped[str] = mapped_column(String(50), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[int] = mapped_column(Integer, default=0)
    cache_hits: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    response_ms_total: Mapped[float] = mapped_column(Float, default=0.0)
    response_count: Mapped[int] = mapped_column(Integer, default=0)
    response_samples_json: Mapped[str] = mapped_column(Text, default="[]")
