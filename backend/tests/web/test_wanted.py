"""The Wanted page in a real browser against a live server over the provider fakes:
the list of scanned items, filters in the URL, searches (one, a selection, all) that
really run as jobs and write subtitles beside the videos, and ignore / un-ignore, with
status changes showing without a page reload.

The tests of this module share one server and run in order: each one starts from the
state the one before left.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from db.models import WantedItem
from tests.provider_world import SERIES, make_video, video_name
from tests.web.conftest import DESKTOP, Live, login, screenshots

LIVE_TIMEOUT = 20_000  # ms: a search is a job over five provider fakes



def _row(page: Any, episode: int, language: str) -> Any:
    """The table row of one item, found through its labelled checkbox."""
    label = f"Select {SERIES} S01E{episode:02d} {language}"
    return page.locator("#wanted-table tbody tr").filter(
        has=page.get_by_role("checkbox", name=label, exact=True))


def _status(page: Any, episode: int, language: str) -> Any:
    return _row(page, episode, language).locator(".pill")


def _db_status(live: Live, episode: int, language: str) -> str:
    with live.app.database.session() as session:
        items = session.scalars(select(WantedItem).where(WantedItem.language == language))
        for item in items:
            from db.models import MediaFile

            media = session.get(MediaFile, item.media_file_id)
            if media is not None and media.episode == episode:
                return str(item.status)
    raise AssertionError(f"no wanted row for episode {episode} {language}")


def _subtitles_beside(live: Live, episode: int, language: str) -> list[Path]:
    stem = Path(video_name(episode)).stem
    folder = live.media_root / SERIES / "Season 01"
    return sorted(folder.glob(f"{stem}.{language}.*"))


def _mark_page(page: Any) -> None:
    """A marker only this document has: still there afterwards means no reload."""
    page.evaluate("window.__sameDocument = 'yes'")


def _same_document(page: Any) -> bool:
    return bool(page.evaluate("window.__sameDocument === 'yes'"))


def test_the_list_shows_every_scanned_item(logged_in: Any) -> None:
    page = logged_in
    page.goto("/wanted")
    rows = page.locator("#wanted-table tbody tr")
    expect(rows).to_have_count(6)  # 3 episodes x en, de
    for episode in (1, 2, 3):
        for language in ("en", "de"):
            expect(_status(page, episode, language)).to_have_text("wanted")
    summary = page.locator("#wanted-summary")
    expect(summary.get_by_role("link", name=re.compile(r"^6\s+Wanted$"))).to_be_visible()
    select_all = page.get_by_role("checkbox", name="Select all items on this page")
    checks = page.locator("#wanted-table tbody").get_by_role("checkbox")
    select_all.check()
    assert all(box.is_checked() for box in checks.all())
    checks.first.uncheck()
    expect(select_all).not_to_be_checked()
    select_all.check()
    assert all(box.is_checked() for box in checks.all())
    select_all.uncheck()
    assert not any(box.is_checked() for box in checks.all())


def test_filters_change_the_url_and_the_rows(logged_in: Any) -> None:
    page = logged_in
    page.goto("/wanted")
    _mark_page(page)
    page.get_by_label("Language").select_option("de")
    expect(page).to_have_url(re.compile(r"language=de"))
    rows = page.locator("#wanted-table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#wanted-table")).not_to_contain_text(re.compile(r"\ben\b"))
    page.get_by_label("Status").select_option("found")
    expect(page).to_have_url(re.compile(r"status=found"))
    expect(page.get_by_text("Nothing here: no wanted item matches.")).to_be_visible()
    assert _same_document(page)  # swapped in place, not reloaded
    # The URL is shareable: opened fresh, it shows the same filtered list.
    page.goto("/wanted?language=en&status=wanted")
    expect(rows).to_have_count(3)
    expect(page.get_by_label("Language")).to_have_value("en")
    expect(page.get_by_label("Status")).to_have_value("wanted")
    # The search box filters too.
    page.get_by_role("searchbox", name="Search").fill("S01E02")
    expect(page).to_have_url(re.compile(r"q=S01E02"))
    expect(rows).to_have_count(1)
    # A column head sorts (and says so).
    page.goto("/wanted")
    page.get_by_role("link", name="Media").click()
    expect(page).to_have_url(re.compile(r"sort=title"))
    expect(page.get_by_role("columnheader", name=re.compile("Media"))).to_have_attribute(
        "aria-sort", "ascending")
    page.get_by_role("link", name=re.compile("Media")).click()
    expect(page.get_by_role("columnheader", name=re.compile("Media"))).to_have_attribute(
        "aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"sort=title&order=desc"))
    expect(page.get_by_label("Order")).to_have_value("desc")
    # A hand-edited URL with a bad value gets an error page naming the field.
    response = page.goto("/wanted?status=bogus")
    assert response is not None and response.status == 400
    expect(page.get_by_text(re.compile(r"status: unknown status bogus"))).to_be_visible()


def test_actions_work_without_javascript(browser: Any, live: Live) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=live.url,
                                  java_script_enabled=False)
    try:
        page = context.new_page()
        login(page)
        page.goto("/wanted?language=de")
        _row(page, 2, "de").get_by_role("button", name=f"Ignore {SERIES} S01E02 de").click()
        # A plain POST, then back to the same filtered list with a message.
        page.wait_for_url(re.compile(r"/wanted\?language=de$"))
        expect(page.get_by_role("alert")).to_contain_text("Ignoring")
        expect(_status(page, 2, "de")).to_have_text("ignored")
        assert _db_status(live, 2, "de") == "ignored"
        _row(page, 2, "de").get_by_role("button", name=f"Un-ignore {SERIES} S01E02 de").click()
        page.wait_for_url(re.compile(r"/wanted\?language=de$"))
        expect(_status(page, 2, "de")).to_have_text("wanted")
        assert _db_status(live, 2, "de") == "wanted"
    finally:
        context.close()


def test_search_one_turns_found_without_a_reload(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/wanted")
    _mark_page(page)
    url = page.url
    assert _subtitles_beside(live, 1, "en") == []
    _row(page, 1, "en").get_by_role("button", name=f"Search {SERIES} S01E01 en").click()
    expect(_status(page, 1, "en")).to_have_text("found", timeout=LIVE_TIMEOUT)
    assert _same_document(page) and page.url == url
    # The other items were not searched.
    expect(_status(page, 1, "de")).to_have_text("wanted")
    assert _db_status(live, 1, "en") == "found"
    saved = _subtitles_beside(live, 1, "en")
    assert len(saved) == 1 and saved[0].stat().st_size > 0
    # The counts above the table follow.
    expect(page.locator("#wanted-summary").get_by_role(
        "link", name=re.compile(r"^1\s+Found$"))).to_be_visible()
    expect(page.locator("#wanted-table")).not_to_have_attribute("data-polling", "true")


def test_search_a_selection_of_two(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/wanted")
    _mark_page(page)
    page.get_by_role("checkbox", name=f"Select {SERIES} S01E02 en", exact=True).check()
    page.get_by_role("checkbox", name=f"Select {SERIES} S01E02 de", exact=True).check()
    page.get_by_role("button", name="Search selected").click()
    expect(_status(page, 2, "en")).to_have_text("found", timeout=LIVE_TIMEOUT)
    expect(_status(page, 2, "de")).to_have_text("found", timeout=LIVE_TIMEOUT)
    expect(_status(page, 3, "en")).to_have_text("wanted")
    assert _same_document(page)
    assert _db_status(live, 2, "de") == "found"
    assert len(_subtitles_beside(live, 2, "en")) == 1
    assert len(_subtitles_beside(live, 2, "de")) == 1


def test_ignore_then_search_all_skips_it_then_unignore(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/wanted")
    _mark_page(page)
    _row(page, 3, "de").get_by_role("button", name=f"Ignore {SERIES} S01E03 de").click()
    expect(_status(page, 3, "de")).to_have_text("ignored")
    assert _db_status(live, 3, "de") == "ignored"

    page.get_by_role("button", name="Search all").click()
    expect(_status(page, 1, "de")).to_have_text("found", timeout=LIVE_TIMEOUT)
    expect(_status(page, 3, "en")).to_have_text("found", timeout=LIVE_TIMEOUT)
    expect(_status(page, 3, "de")).to_have_text("ignored")
    assert _subtitles_beside(live, 3, "de") == []
    assert len(_subtitles_beside(live, 3, "en")) == 1
    assert _same_document(page)

    _row(page, 3, "de").get_by_role("button", name=f"Un-ignore {SERIES} S01E03 de").click()
    expect(_status(page, 3, "de")).to_have_text("wanted")
    assert _db_status(live, 3, "de") == "wanted"
    expect(page.locator("#wanted-summary").get_by_role(
        "link", name=re.compile(r"^5\s+Found$"))).to_be_visible()


def test_refresh_scans_the_library_and_offers_the_new_list(logged_in: Any,
                                                           live: Live) -> None:
    page = logged_in
    page.goto("/wanted")
    _mark_page(page)
    rows = page.locator("#wanted-table tbody tr")
    expect(rows).to_have_count(6)
    make_video(live.media_root / SERIES / "Season 01", 4)
    page.get_by_role("button", name="Refresh (scan library)").click()
    page.get_by_role("link", name="Reload the list").click(timeout=LIVE_TIMEOUT)
    expect(rows).to_have_count(8)  # episode 4 in en and de
    expect(_status(page, 4, "de")).to_have_text("wanted")
    assert _same_document(page)
    assert _db_status(live, 4, "en") == "wanted"


def test_screenshots(browser: Any, live: Live) -> None:
    saved = screenshots(browser, live, "/wanted", "wanted")
    assert all(path.stat().st_size > 1000 for path in saved)
