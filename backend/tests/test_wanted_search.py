"""process_wanted_item end to end: the five real providers against their fakes, the
subtitle saved beside the video, history, the backoff schedule, auto-translation
through a fake LibreTranslate, and upgrades that replace only a clearly better one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from db import Database
from db.models import HistoryEvent, MediaFile, WantedItem, utcnow
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.server import serve
from tests.provider_world import World, line, srt, video_name
from tests.test_api_helpers import close_app, make_app, wait_for_job
from tests.test_wanted_helpers import (
    add_episode,
    add_series,
    frieren_fields,
    item,
    items,
    media_file,
    sidecar,
)
from wanted import create_profile, refresh_wanted
from wanted_search import backoff_delay, submit_wanted_search


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    fakes = World()
    with fakes.running():
        yield fakes


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    return root


def start(tmp_path: Path, media: Path, **settings: Any) -> Flask:
    settings.setdefault("default_languages", ["en"])
    return make_app(tmp_path / "data", media_roots=[str(media)], **settings)


def search(app: Flask, item_id: int) -> dict[str, Any]:
    with app.app_context():
        job_id = submit_wanted_search(item_id)
    info = wait_for_job(app, job_id)
    assert info.status.value == "completed", info
    return info.result  # type: ignore[no-any-return]


def one_item(app: Flask, media: Path, episode: int = 5, **episode_fields: Any) -> int:
    database: Database = app.database  # type: ignore[attr-defined]
    series = add_series(database, media, **frieren_fields())
    add_episode(database, media, series, episode, **episode_fields)
    refresh_wanted(database, app.settings)  # type: ignore[attr-defined]
    (wanted,) = items(database)
    return wanted.id


def history(database: Database) -> list[HistoryEvent]:
    with database.session() as session:
        rows = list(session.scalars(select(HistoryEvent).order_by(HistoryEvent.id)))
        session.expunge_all()
        return rows


def test_the_best_subtitle_is_saved_beside_the_video(tmp_path: Path, media: Path,
                                                     world: World) -> None:
    app = start(tmp_path, media, **world.settings())
    try:
        database: Database = app.database  # type: ignore[attr-defined]
        item_id = one_item(app, media)
        result = search(app, item_id)
        found = item(database, item_id)
        assert found.status == "found" and found.provider and found.score
        saved = Path(found.subtitle_path or "")
        assert saved.parent == media / "Sousou no Frieren" / "Season 1"
        assert saved.name.startswith(video_name(5).removesuffix(".mkv") + ".en.")
        assert saved.suffix == f".{found.format}"
        assert line(found.provider, 5, "en") in saved.read_text(encoding="utf-8")
        assert result["path"] == str(saved)
        (event,) = history(database)
        assert (event.action, event.language, event.provider, event.path) == (
            "downloaded", "en", found.provider, str(saved))
        # The saved file counts as present: a refresh leaves the item found.
        assert json.loads(media_file(database, found.media_file_id).sidecars_json)[0][
            "path"] == str(saved)
        refresh_wanted(database, app.settings)  # type: ignore[attr-defined]
        assert item(database, item_id).status == "found"
    finally:
        close_app(app)


def test_nothing_good_enough_waits_a_doubling_capped_backoff(tmp_path: Path, media: Path,
                                                            world: World) -> None:
    app = start(tmp_path, media, min_score_episode=100_000, wanted_backoff_base=100,
                wanted_backoff_max=150, **world.settings())
    try:
        database: Database = app.database  # type: ignore[attr-defined]
        item_id = one_item(app, media)
        for attempt, delay in ((1, 100), (2, 150), (3, 150)):
            before = utcnow()
            search(app, item_id)
            after = utcnow()
            waiting = item(database, item_id)
            assert (waiting.status, waiting.attempts) == ("wanted", attempt)
            assert waiting.last_error == "no subtitle scored high enough"
            assert waiting.next_search_at is not None
            assert before + timedelta(seconds=delay) <= waiting.next_search_at
            assert waiting.next_search_at <= after + timedelta(seconds=delay)
        assert not list((media / "Sousou no Frieren" / "Season 1").glob("*.srt"))
        assert history(database) == []
        settings = app.settings  # type: ignore[attr-defined]
        assert backoff_delay(settings, 1) == timedelta(seconds=100)
        assert backoff_delay(settings, 40) == timedelta(seconds=150)
    finally:
        close_app(app)


def test_an_english_sidecar_is_translated_when_no_german_subtitle_is_found(
        tmp_path: Path, media: Path) -> None:
    libre = FakeLibreTranslate()
    with serve(libre.app) as server:
        app = start(tmp_path, media, providers_enabled=[], auto_translate=True,
                    auto_translate_sources=["en"], default_languages=["de"],
                    translation_backends=["libretranslate"], libretranslate_url=server.url)
        try:
            database: Database = app.database  # type: ignore[attr-defined]
            folder = media / "Sousou no Frieren" / "Season 1"
            english = folder / (video_name(5).removesuffix(".mkv") + ".en.srt")
            folder.mkdir(parents=True)
            english.write_bytes(srt("Hello friend."))
            item_id = one_item(app, media, sidecars=[sidecar(english, "en")])
            result = search(app, item_id)
            waiting = item(database, item_id)
            assert waiting.status == "wanted" and waiting.attempts == 1
            assert waiting.translation_job_id == result["translation_job_id"]
            assert "translating" in (waiting.last_error or "")
            job = wait_for_job(app, waiting.translation_job_id or "")
            assert job.status.value == "completed", job
            assert job.func.endswith("run_translation_job")
            assert job.args == [str(english)]
            german = folder / (video_name(5).removesuffix(".mkv") + ".de.srt")
            assert german.is_file()
            assert libre.calls
        finally:
            close_app(app)


def _found(app: Flask, media: Path, *, score: int, fmt: str = "srt") -> tuple[int, Path]:
    """An item already found (an earlier download of ours) with a given score."""
    database: Database = app.database  # type: ignore[attr-defined]
    item_id = one_item(app, media)
    with database.session() as session:
        profile = create_profile(session, "English", [{"language": "en"}])
        from db.models import Series

        for series in session.scalars(select(Series)):
            series.profile_id = profile.id
    wanted = item(database, item_id)
    media_row = media_file(database, wanted.media_file_id)
    old = Path(media_row.path).with_name(
        video_name(5).removesuffix(".mkv") + f".en.{fmt}")
    old.write_text("1\n00:00:01,000 --> 00:00:02,000\nold one\n", encoding="utf-8")
    with database.session() as session:
        session.execute(update(WantedItem).where(WantedItem.id == item_id).values(
            status="found", provider="subdl", score=score, format=fmt,
            subtitle_path=str(old), next_search_at=utcnow()))
        session.execute(update(MediaFile).where(MediaFile.id == wanted.media_file_id)
                        .values(sidecars_json=json.dumps([sidecar(old, "en")])))
    return item_id, old


def test_an_upgrade_replaces_a_weak_srt_with_a_clearly_better_subtitle(
        tmp_path: Path, media: Path, world: World) -> None:
    app = start(tmp_path, media, upgrade_score_margin=20, **world.settings())
    try:
        database: Database = app.database  # type: ignore[attr-defined]
        item_id, old = _found(app, media, score=1)
        result = search(app, item_id)
        upgraded = item(database, item_id)
        assert result["upgraded"] is True
        assert upgraded.status == "found" and (upgraded.score or 0) >= 21
        new = Path(upgraded.subtitle_path or "")
        assert "old one" not in new.read_text(encoding="utf-8")
        assert new == old or not old.exists()
        (event,) = history(database)
        assert event.action == "upgraded"
        paths = [s["path"] for s in json.loads(
            media_file(database, upgraded.media_file_id).sidecars_json)]
        assert paths == [str(new)]
    finally:
        close_app(app)


def test_an_upgrade_leaves_the_file_alone_when_nothing_is_clearly_better(
        tmp_path: Path, media: Path, world: World) -> None:
    app = start(tmp_path, media, upgrade_score_margin=20, **world.settings())
    try:
        database: Database = app.database  # type: ignore[attr-defined]
        item_id, old = _found(app, media, score=100_000)
        result = search(app, item_id)
        kept = item(database, item_id)
        assert result["upgraded"] is False
        assert (kept.status, kept.score, kept.subtitle_path) == ("found", 100_000, str(old))
        assert old.read_text(encoding="utf-8").endswith("old one\n")
        assert kept.attempts == 1 and kept.next_search_at is not None
        assert history(database) == []
        assert not any(p.suffix == ".ass" for p in old.parent.iterdir())
    finally:
        close_app(app)


def test_the_other_languages_of_a_file_come_from_the_first_search(
        tmp_path: Path, media: Path, world: World) -> None:
    app = start(tmp_path, media, default_languages=["en", "de"], **world.settings())
    try:
        database: Database = app.database  # type: ignore[attr-defined]
        series = add_series(database, media, **frieren_fields())
        add_episode(database, media, series, 6)
        refresh_wanted(database, app.settings)  # type: ignore[attr-defined]
        english, german = sorted(items(database), key=lambda row: row.language != "en")
        assert (english.language, german.language) == ("en", "de")
        world.reset_counts()
        search(app, english.id)
        searches = {"subdl": "/api/v1/subtitles", "podnapisi": "/subtitles/search/advanced",
                    "opensubtitles": "/api/v1/subtitles", "animetosho": "/json"}
        asked = {name: world.servers[name].count(path) for name, path in searches.items()}
        assert all(count >= 1 for count in asked.values()), asked
        # The search asked for both languages at once ...
        (subdl_search,) = world.servers["subdl"].calls("/api/v1/subtitles")
        assert set(subdl_search.args["languages"].split(",")) == {"EN", "DE"}
        search(app, german.id)
        # ... so the German item found its candidates in the cache and only downloaded.
        again = {name: world.servers[name].count(path) for name, path in searches.items()}
        assert again == asked
        found = item(database, german.id)
        assert found.status == "found" and found.language == "de"
        assert line(found.provider or "", 6, "de") in Path(
            found.subtitle_path or "").read_text(encoding="utf-8")
    finally:
        close_app(app)
