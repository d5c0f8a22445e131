"""The Library pages in a real browser against a live server: series -> seasons ->
episodes and movies, a badge per wished language (present, missing, embedded,
translated), and a Search that downloads from the provider fakes and turns a missing
badge into a present one without a page reload.

The media tree has, besides the fakes' series (3 episodes, no subtitles), real
ffmpeg-made files whose embedded tracks ffprobe reads: an episode and a movie with an
English *forced* track (which does not meet a plain English wish) and a German
hearing-impaired one (which does).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.models import MediaFile, WantedItem
from tests import media
from tests.provider_world import SERIES, video_name
from tests.web.conftest import Live, screenshots, start_live
from wanted import TRANSLATED_PROVIDER

LIVE_TIMEOUT = 20_000  # ms: a search is a job over five provider fakes
SHOW = "Show Name (2020) {tvdb-12345}"
SHOW_EPISODES = {1: "Season 1/Show.Name.S01E01.720p.WEB-DL.x264-GRP.mkv",
                 2: "Season 2/Show.Name.S02E01.720p.WEB-DL.x264-GRP.mkv"}
MOVIE = "movies/Heat (1995) {imdb-tt0113277}/Heat.1995.1080p.BluRay.x264-GRP.mkv"


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The usual live server, its media root seeded first with the ffmpeg-made files
    (start_live adds the fakes' episodes beside them and scans it all)."""
    tmp = tmp_path_factory.mktemp("library")
    root = tmp / "media"
    _copy(media.mkv_with_tracks(), root / SHOW / SHOW_EPISODES[1])
    _copy(media.plain_mkv(), root / SHOW / SHOW_EPISODES[2])
    _copy(media.mkv_with_tracks(), root / MOVIE)
    yield from start_live(tmp)



def _badges(page: Any, row: Any) -> list[str]:
    return [text.strip() for text in row.locator(".badge").all_inner_texts()]


def _episode_row(page: Any, code: str) -> Any:
    return page.locator("tbody tr").filter(has=page.get_by_role("cell", name=code, exact=True))


def test_series_list_sums_up_each_language(logged_in: Any) -> None:
    page = logged_in
    page.goto("/library")
    frieren = page.get_by_role("row").filter(has=page.get_by_role("link", name=SERIES))
    show = page.get_by_role("row").filter(has=page.get_by_role("link", name="Show Name"))
    expect(frieren).to_contain_text("3")  # episodes
    assert _badges(page, frieren)[:2] == ["en 0/3", "de 0/3"]
    # S01E01's German HI track counts as German; its forced English one does not.
    assert _badges(page, show)[:2] == ["en 0/2", "de 1/2"]
    expect(page.get_by_role("link", name="Series", exact=True)).to_have_attribute(
        "aria-current", "page")


def test_episodes_badges_and_a_search_that_makes_one_present(logged_in: Any,
                                                            live: Live) -> None:
    page = logged_in
    page.goto("/library")
    page.get_by_role("link", name=SERIES).click()
    expect(page.get_by_role("heading", name=SERIES, level=1)).to_be_visible()
    season = page.locator("details").filter(has=page.get_by_role("heading", name="Season 1"))
    row = _episode_row(page, "S01E01")
    expect(row).to_be_visible()
    assert _badges(page, row) == ["en missing", "de missing"]
    # Seasons fold away.
    season.locator("summary").click()
    expect(row).to_be_hidden()
    season.locator("summary").click()
    expect(row).to_be_visible()

    page.evaluate("window.__sameDocument = 'yes'")
    stem = Path(video_name(1)).stem
    folder = live.media_root / SERIES / "Season 01"
    assert list(folder.glob(f"{stem}.en.*")) == []
    row.get_by_role("button", name="Search S01E01 en").click()
    expect(row.locator(".badge").first).to_have_text("en present", timeout=LIVE_TIMEOUT)
    assert page.evaluate("window.__sameDocument") == "yes"  # no reload
    assert _badges(page, row) == ["en present", "de missing"]
    expect(row.get_by_role("button", name="Search S01E01 en")).to_have_count(0)
    expect(row.get_by_role("button", name="Search S01E01 de")).to_be_visible()
    assert len(list(folder.glob(f"{stem}.en.*"))) == 1
    # The other episodes were left alone; a fresh load shows the same.
    page.reload()
    assert _badges(page, _episode_row(page, "S01E01")) == ["en present", "de missing"]
    assert _badges(page, _episode_row(page, "S01E02")) == ["en missing", "de missing"]


def test_embedded_tracks_show_as_embedded(logged_in: Any) -> None:
    page = logged_in
    page.goto("/library")
    page.get_by_role("link", name="Show Name").click()
    expect(page.get_by_role("heading", name="Season 2")).to_be_visible()
    assert _badges(page, _episode_row(page, "S01E01")) == ["en missing", "de embedded"]
    assert _badges(page, _episode_row(page, "S02E01")) == ["en missing", "de missing"]

    page.get_by_role("link", name="Library").first.click()
    page.get_by_role("link", name="Movies").click()
    expect(page).to_have_url(re.compile(r"/library/movies$"))
    heat = page.get_by_role("row").filter(has_text="Heat")
    expect(heat).to_contain_text("(1995)")
    assert _badges(page, heat) == ["en missing", "de embedded"]
    expect(heat.get_by_role("button", name="Search Heat en")).to_be_visible()
    expect(heat.get_by_role("button", name="Search Heat de")).to_have_count(0)


def test_a_translated_subtitle_shows_as_translated(logged_in: Any, live: Live) -> None:
    # What the wanted search records once an auto-translation lands beside the video:
    # the row found, its provider the translation marker.
    with live.app.database.session() as session:
        item = session.scalars(
            select(WantedItem).join(MediaFile, MediaFile.id == WantedItem.media_file_id)
            .where(MediaFile.episode == 3, MediaFile.path.contains("Frieren"),
                   WantedItem.language == "de")).one()
        item.status, item.provider, item.translation_job_id = (
            "found", TRANSLATED_PROVIDER, "translate-test")
        series_id = session.get(MediaFile, item.media_file_id).series_id
    page = logged_in
    page.goto(f"/library/series/{series_id}")
    assert _badges(page, _episode_row(page, "S01E03")) == ["en missing", "de translated"]


def test_an_unknown_series_is_a_404_page(logged_in: Any) -> None:
    response = logged_in.goto("/library/series/999999")
    assert response is not None and response.status == 404
    expect(logged_in.get_by_text("series 999999 does not exist")).to_be_visible()


def test_screenshots(browser: Any, live: Live) -> None:
    with live.app.database.session() as session:
        series_id = session.scalars(select(MediaFile.series_id).where(
            MediaFile.path.contains("Frieren"))).first()
    saved = [*screenshots(browser, live, "/library", "library-series"),
             *screenshots(browser, live, f"/library/series/{series_id}", "library-detail"),
             *screenshots(browser, live, "/library/movies", "library-movies")]
    assert all(path.stat().st_size > 1000 for path in saved)
