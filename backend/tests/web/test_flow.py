"""The issue's walk through the UI in one browser session, against a live server over the
five provider fakes: log in, see the wanted list, search an item, watch its job finish
and the subtitle appear on disk, and see Provider Stats change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db.models import MediaFile, WantedItem
from tests.provider_world import PROVIDERS, SERIES, video_name
from tests.web.conftest import DESKTOP, PASSWORD, USERNAME, Live, start_live

LIVE = 20_000  # ms: a search is a job over five fakes; pages poll every 2-5 s


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(tmp_path_factory.mktemp("flow"), episodes=(1, 2))


def searches_shown(page: Any) -> dict[str, int]:
    return {name: int(page.locator(f"#live-{name} [data-metric=searches]").inner_text())
            for name in PROVIDERS}


def item_id(live: Live, episode: int, language: str) -> int:
    with live.app.database.session() as session:
        return int(session.scalars(select(WantedItem.id).join(
            MediaFile, MediaFile.id == WantedItem.media_file_id).where(
            MediaFile.episode == episode, WantedItem.language == language)).one())


def test_log_in_search_a_wanted_item_and_watch_it_land(browser: Any, live: Live) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=live.url)
    page = context.new_page()
    try:
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login"))
        page.get_by_label("User name").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

        page.get_by_role("link", name="Providers").click()
        before = searches_shown(page)
        assert before == dict.fromkeys(PROVIDERS, 0)

        page.get_by_role("link", name="Wanted").click()
        rows = page.locator("#wanted-table tbody tr")
        expect(rows).to_have_count(4)  # 2 episodes x en, de
        subtitle = (live.media_root / SERIES / "Season 01"
                    / f"{Path(video_name(2)).stem}.en.srt")
        assert not subtitle.exists()
        page.evaluate("window.__sameDocument = true")
        page.get_by_role("button", name=f"Search {SERIES} S01E02 en").click()
        row = rows.filter(has=page.get_by_role(
            "checkbox", name=f"Select {SERIES} S01E02 en", exact=True))
        expect(row.locator(".pill")).to_have_text("found", timeout=LIVE)
        assert page.evaluate("window.__sameDocument") is True  # no reload
        saved = sorted(subtitle.parent.glob(f"{Path(video_name(2)).stem}.en.*"))
        assert len(saved) == 1 and "episode 2 en" in saved[0].read_text(encoding="utf-8")

        page.get_by_role("link", name="Jobs").click()
        job = page.locator(f"tr[data-job-id='wanted-{item_id(live, 2, 'en')}']")
        expect(job).to_have_attribute("data-status", "completed")
        expect(job).to_contain_text("Wanted search")

        page.get_by_role("link", name="Providers").click()
        for name in PROVIDERS:
            # The stats flush every 2 s and the page polls every 5 s: no reload needed.
            expect(page.locator(f"#live-{name} [data-metric=searches]")).to_have_text(
                "1", timeout=LIVE)
        expect(page.locator("#live-opensubtitles")).to_contain_text(
            re.compile(r"Last success\s+\d+ s ago|Last success\s+just now"))
    finally:
        context.close()


def test_the_menu_works_by_keyboard_at_phone_width(browser: Any, live: Live) -> None:
    from tests.web.conftest import PHONE, login

    context = browser.new_context(viewport=PHONE, base_url=live.url, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    try:
        login(page)
        page.goto("/wanted")
        nav = page.get_by_role("navigation", name="Main")
        menu = page.get_by_role("button", name="Menu")
        expect(nav.get_by_role("link", name="Jobs")).not_to_be_in_viewport()
        # The first Tab reaches the skip link; Enter moves focus past the menu.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        menu.focus()
        page.keyboard.press("Enter")
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(nav.get_by_role("link", name="Dashboard")).to_be_focused()
        expect(nav.get_by_role("link", name="Jobs")).to_be_in_viewport()
        page.keyboard.press("Escape")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(menu).to_be_focused()
        menu.press("Enter")
        nav.get_by_role("link", name="Jobs").press("Enter")
        expect(page).to_have_url(re.compile(r"/jobs$"))
    finally:
        context.close()
