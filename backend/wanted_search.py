"""Searching for wanted subtitles: one job per wanted item on ``app.job_queue``.

``process_wanted_item`` runs inside the application context the queue provides. It
searches every provider for the item's language, downloads the best candidate at or
above the score threshold and saves it beside the video (inside the media roots);
"found" items are searched again only for upgrades, and replaced only by a clearly
better subtitle (ASS over a text format, or ``upgrade_score_margin`` more points).

When nothing is good enough and ``auto_translate`` is on, a subtitle in one of
``auto_translate_sources`` (a sidecar, or another found wanted row of the same file) is
queued for translation: the item stays "wanted" with ``translation_job_id`` set and a
note in ``last_error``; the next refresh marks it "found" once the translation is
beside the video. Otherwise the item waits ``backoff_base * 2^(attempts-1)`` seconds
(at most ``backoff_max``) before its next search.

A crash can leave an item "searching": ``repair_searching`` puts items whose job is no
longer queued or running back to "wanted"; the scheduled task runs it first.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import select

from db.models import HistoryEvent, Job, MediaFile, Movie, Series, WantedItem, utcnow
from job_queue.types import ACTIVE_STATUSES
from providers.base import SubtitleResult, VideoQuery
from wanted import (
    TRANSLATED_PROVIDER,
    ProfileResolver,
    add_sidecar,
    remove_sidecar,
    sidecar_for,
    variant_of,
)

if TYPE_CHECKING:
    from flask import Flask

    from config import Settings
    from db import Database

log = logging.getLogger(__name__)

TEXT_FORMATS_BELOW_ASS = ("srt", "vtt", "sub")


def job_id_for(item_id: int) -> str:
    return f"wanted-{item_id}"


def submit_wanted_search(item_id: int) -> str:
    """Queue one item's search; the same item is never queued twice at once."""
    queue = current_app.job_queue  # type: ignore[attr-defined]
    return str(queue.enqueue(process_wanted_item, int(item_id), job_id=job_id_for(item_id)))


def submit_wanted_batch_search(item_ids: list[int]) -> list[str]:
    return [submit_wanted_search(item_id) for item_id in item_ids]


# -- the job --------------------------------------------------------------------------


def process_wanted_item(item_id: int) -> dict[str, Any]:
    """Search, download and save one wanted item's subtitle (the queued job)."""
    app = current_app
    database: Database = app.database  # type: ignore[attr-defined]
    settings: Settings = app.settings  # type: ignore[attr-defined]
    started = _begin(database, settings, item_id)
    if started is None:
        return {"item": item_id, "status": "skipped"}
    query, language, variant, upgrade, languages = started
    try:
        return _search(app, item_id, query, language, variant, upgrade, languages)
    except Exception as exc:
        log.exception("wanted item %s: search failed", item_id)
        _finish_without(database, settings, item_id, f"{type(exc).__name__}: {exc}",
                        hard=True)
        raise


def _begin(database: Database, settings: Settings, item_id: int
           ) -> tuple[VideoQuery, str, str, bool, list[str]] | None:
    with database.session() as session:
        item = session.get(WantedItem, item_id)
        if item is None or item.status in ("ignored", "failed"):
            return None
        media = session.get(MediaFile, item.media_file_id)
        if media is None or media.missing:
            item.status, item.last_error = "failed", "the video file is missing"
            item.updated_at = utcnow()
            return None
        upgrade = item.status == "found"
        if upgrade and not upgradable(session, settings, item, media):
            item.next_search_at = None  # nothing to look for until it changes
            return None
        if not upgrade:
            item.status = "searching"
        item.last_search_at = item.updated_at = utcnow()
        owner = (session.get(Series, media.series_id) if media.series_id
                 else session.get(Movie, media.movie_id) if media.movie_id else None)
        return (build_query(media, owner, item.variant), item.language, item.variant,
                upgrade, search_languages(session, item))


def search_languages(session: Any, item: WantedItem) -> list[str]:
    """Every language wished for this file and variant, not only the item's own: the
    providers answer all of them in one request, and the file's other items then find
    that answer in the provider cache instead of asking again."""
    siblings = session.scalars(select(WantedItem.language).where(
        WantedItem.media_file_id == item.media_file_id, WantedItem.variant == item.variant,
        WantedItem.status != "ignored"))
    return sorted({item.language, *siblings})


def upgradable(session: Any, settings: Settings, item: WantedItem, media: MediaFile) -> bool:
    """A found subtitle we downloaded may be upgraded unless its wish is at or before
    the profile's cutoff (good enough) or it is already ASS with a perfect score."""
    if not settings.upgrade_enabled or item.provider in (None, TRANSLATED_PROVIDER):
        return False
    owner = (session.get(Series, media.series_id) if media.series_id
             else session.get(Movie, media.movie_id) if media.movie_id else None)
    resolver = ProfileResolver(session, settings)
    profile = resolver.for_owner(owner)
    keys = [(i["language"], variant_of(i)) for i in resolver.items(profile)]
    index = keys.index((item.language, item.variant)) if (
        item.language, item.variant) in keys else len(keys)
    if profile.cutoff is not None and index <= profile.cutoff:
        return False
    from providers.scoring import perfect_score

    query = build_query(media, owner, item.variant)
    return not (item.format in ("ass", "ssa") and (item.score or 0) >= perfect_score(query))


def build_query(media: MediaFile, owner: Series | Movie | None, variant: str) -> VideoQuery:
    """What the library knows about the video, with the wish's forced/HI preference."""
    query = VideoQuery(
        kind="movie" if media.kind == "movie" else "episode", path=media.path,
        size=media.size or None, season=media.season, episode=media.episode,
        absolute_episode=media.absolute_episode, release_group=media.release_group,
        source=media.source, resolution=media.resolution, video_codec=media.video_codec,
        forced=variant == "forced",
        hearing_impaired=True if variant == "hi" else None)
    if Path(media.path).is_file() and query.size:
        from providers.base import HASH_CHUNK, opensubtitles_hash

        if query.size >= HASH_CHUNK * 2:
            query.oshash = opensubtitles_hash(media.path)
    if isinstance(owner, Series):
        query.series, query.title, query.year = owner.title, owner.title, owner.year
        query.tvdb_id, query.imdb_id, query.tmdb_id = owner.tvdb_id, owner.imdb_id, owner.tmdb_id
        query.anidb_aid, query.anilist_id = owner.anidb_aid, owner.anilist_id
    elif isinstance(owner, Movie):
        query.title, query.year = owner.title, owner.year
        query.imdb_id, query.tmdb_id = owner.imdb_id, owner.tmdb_id
    elif media.title:
        query.title = media.title
        query.series = media.title if query.kind == "episode" else None
    return query


def _search(app: Flask, item_id: int, query: VideoQuery, language: str, variant: str,
            upgrade: bool, languages: list[str]) -> dict[str, Any]:
    from providers.matching import language_matches
    from providers.scoring import min_score_for

    database: Database = app.database  # type: ignore[attr-defined]
    settings: Settings = app.settings  # type: ignore[attr-defined]
    manager = app.provider_manager  # type: ignore[attr-defined]
    outcome = manager.search(query, languages)
    candidates = [r for r in outcome.results
                  if language_matches(r.language, {language}) and _fits(r, variant)]
    if upgrade:
        candidates = _better_than_current(database, settings, item_id, candidates)
    best = manager.download_best(query, candidates, min_score=min_score_for(query, settings))
    if best is None:
        if upgrade:
            _finish_without(database, settings, item_id, None, upgrade=True)
            return {"item": item_id, "status": "found", "upgraded": False}
        return _nothing_good_enough(app, item_id, language)
    result, prepared = best
    return _save(database, settings, item_id, query, language, variant, result, prepared,
                 upgrade)


def _fits(result: SubtitleResult, variant: str) -> bool:
    # A forced wish needs a forced track; full subtitles never stand in for one and a
    # forced track never stands in for full subtitles.
    return result.forced == (variant == "forced")


def _better_than_current(database: Database, settings: Settings, item_id: int,
                         candidates: list[SubtitleResult]) -> list[SubtitleResult]:
    with database.session() as session:
        item = session.get(WantedItem, item_id)
        current_format = (item.format if item else None) or "srt"
        current_score = (item.score if item else None) or 0
    margin = settings.upgrade_score_margin

    def clearly_better(result: SubtitleResult) -> bool:
        ass_over_text = (result.format in ("ass", "ssa")
                         and current_format in TEXT_FORMATS_BELOW_ASS
                         and result.score >= current_score)
        return ass_over_text or result.score >= current_score + margin

    return [r for r in candidates if clearly_better(r)]


def _save(database: Database, settings: Settings, item_id: int, query: VideoQuery,
          language: str, variant: str, result: SubtitleResult, prepared: Any,
          upgrade: bool) -> dict[str, Any]:
    from subtitles import save_subtitle

    with database.session() as session:
        item = session.get(WantedItem, item_id)
        old_path = item.subtitle_path if item is not None else None
    # The user's (or our earlier) file stays until the new one is written; only an
    # upgrade may overwrite a file of the same name.
    outcome = save_subtitle(prepared, query.path or "", language, hi=variant == "hi",
                            forced=variant == "forced", media_roots=settings.media_roots,
                            replace=upgrade)
    path = str(outcome.path)
    if upgrade and old_path and old_path != path:
        Path(old_path).unlink(missing_ok=True)
    now = utcnow()
    with database.session() as session:
        item = session.get(WantedItem, item_id)
        if item is None:
            return {"item": item_id, "status": "gone", "path": path}
        media = session.get(MediaFile, item.media_file_id)
        if media is not None:
            if upgrade and old_path and old_path != path:
                remove_sidecar(media, old_path)
            add_sidecar(media, path, language, variant, prepared.format)
        item.status, item.subtitle_path, item.provider = "found", path, result.provider
        item.score, item.format, item.last_error = result.score, prepared.format, None
        item.next_search_at = (now + timedelta(seconds=settings.wanted_backoff_base)
                               if settings.upgrade_enabled else None)
        item.updated_at = now
        session.add(HistoryEvent(
            at=now, action="upgraded" if upgrade else "downloaded",
            media_file_id=item.media_file_id, language=language, provider=result.provider,
            score=result.score, path=path,
            detail=json.dumps({"result": result.key, "format": prepared.format,
                               "variant": variant, "replaced": old_path if upgrade else None})))
    return {"item": item_id, "status": "found", "path": path, "provider": result.provider,
            "score": result.score, "upgraded": upgrade}


def _nothing_good_enough(app: Flask, item_id: int, language: str) -> dict[str, Any]:
    database: Database = app.database  # type: ignore[attr-defined]
    settings: Settings = app.settings  # type: ignore[attr-defined]
    source = _translation_source(database, settings, item_id, language) \
        if settings.auto_translate else None
    if source is None:
        _finish_without(database, settings, item_id, "no subtitle scored high enough")
        return {"item": item_id, "status": "wanted"}
    from translator import submit_translation_job

    path, source_lang = source
    job_id = submit_translation_job(path, target_lang=language, source_lang=source_lang)
    _finish_without(database, settings, item_id,
                    f"no subtitle scored high enough; translating {Path(path).name} "
                    f"({source_lang}) in job {job_id}", translation_job_id=job_id)
    return {"item": item_id, "status": "wanted", "translation_job_id": job_id}


def _translation_source(database: Database, settings: Settings, item_id: int,
                        language: str) -> tuple[str, str] | None:
    with database.session() as session:
        item = session.get(WantedItem, item_id)
        media = session.get(MediaFile, item.media_file_id) if item else None
        if item is None or media is None:
            return None
        found = {row.language: row.subtitle_path for row in session.scalars(
            select(WantedItem).where(WantedItem.media_file_id == media.id,
                                     WantedItem.status == "found",
                                     WantedItem.subtitle_path.is_not(None)))}
        for source_lang in settings.auto_translate_sources:
            if source_lang == language:
                continue
            sidecar = sidecar_for(media, source_lang, "normal")
            path = sidecar["path"] if sidecar else found.get(source_lang)
            if path and Path(path).is_file():
                return str(path), source_lang
    return None


def backoff_delay(settings: Settings, attempts: int) -> timedelta:
    seconds = settings.wanted_backoff_base * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.wanted_backoff_max))


def _finish_without(database: Database, settings: Settings, item_id: int,
                    error: str | None, *, hard: bool = False, upgrade: bool = False,
                    translation_job_id: str | None = None) -> None:
    now = utcnow()
    with database.session() as session:
        item = session.get(WantedItem, item_id)
        if item is None or item.status == "ignored":
            return
        item.attempts += 1
        item.next_search_at = now + backoff_delay(settings, item.attempts)
        item.updated_at = now
        if upgrade:
            return  # the found subtitle stays; only the next upgrade look moves
        item.status = "failed" if hard else "wanted"
        item.last_error = error
        if translation_job_id is not None:
            item.translation_job_id = translation_job_id


# -- repairs and the scheduled task ----------------------------------------------------


def repair_searching(database: Database) -> int:
    """Put items left "searching" by a crashed job back to "wanted" (due now)."""
    with database.session() as session:
        items = list(session.scalars(select(WantedItem).where(
            WantedItem.status == "searching")))
        if not items:
            return 0
        active = set(session.scalars(select(Job.id).where(
            Job.id.in_([job_id_for(i.id) for i in items]), Job.status.in_(ACTIVE_STATUSES))))
        now = utcnow()
        repaired = 0
        for item in items:
            if job_id_for(item.id) not in active:
                item.status, item.next_search_at, item.updated_at = "wanted", now, now
                item.last_error = "the search job ended without a result"
                repaired += 1
    if repaired:
        log.warning("%d wanted item(s) left searching by a lost job set back to wanted",
                    repaired)
    return repaired


def due_item_ids(database: Database, *, limit: int, now: datetime | None = None,
                 upgrades: bool = True) -> list[int]:
    """Wanted items due for a search, oldest-due first (then upgrade looks), at most
    `limit`: items that keep failing move back by their backoff and never starve the
    others."""
    when = now or utcnow()
    with database.session() as session:
        ids = list(session.scalars(
            select(WantedItem.id).where(WantedItem.status == "wanted",
                                        WantedItem.next_search_at <= when)
            .order_by(WantedItem.next_search_at, WantedItem.id).limit(limit)))
        if upgrades and len(ids) < limit:
            ids += list(session.scalars(
                select(WantedItem.id).where(WantedItem.status == "found",
                                            WantedItem.provider.is_not(None),
                                            WantedItem.provider != TRANSLATED_PROVIDER,
                                            WantedItem.next_search_at <= when)
                .order_by(WantedItem.next_search_at, WantedItem.id)
                .limit(limit - len(ids))))
    return ids


def search_wanted_task(app: Flask) -> dict[str, int]:
    """The scheduled "search wanted" task: repair, then queue the due items."""
    database: Database = app.database  # type: ignore[attr-defined]
    settings: Settings = app.settings  # type: ignore[attr-defined]
    repaired = repair_searching(database)
    ids = due_item_ids(database, limit=settings.wanted_batch_limit,
                       upgrades=settings.upgrade_enabled)
    submit_wanted_batch_search(ids)
    return {"repaired": repaired, "queued": len(ids)}


REFRESH_JOB_ID = "wanted-refresh"


def sync_library_task(app: Flask) -> str:
    """Scheduled: queue the library sync (a long scan must not hold up the scheduler
    thread that renews its lease)."""
    return submit_library_refresh(app)


def submit_library_refresh(app: Flask | None = None) -> str:
    """Queue the library sync and wanted refresh as job "wanted-refresh" — one id for the
    API, the web UI, profile changes and the scheduler, so two never run at once."""
    queue = (app or current_app).job_queue  # type: ignore[attr-defined]
    return str(queue.enqueue(refresh_job, job_id=REFRESH_JOB_ID))


def refresh_job() -> dict[str, Any]:
    """The queued `POST /wanted/refresh`: scan, then refresh the wanted rows."""
    from wanted import scan_and_refresh

    app = current_app
    return scan_and_refresh(app.database, app.settings)  # type: ignore[attr-defined]
