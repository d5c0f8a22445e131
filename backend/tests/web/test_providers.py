"""Provider Stats page, in a real browser against a live server over the five provider
fakes, with Podnapisi pointed at a closed port (a broken provider)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import func, select

from db.models import ProviderCache
from tests.provider_world import PROVIDERS, SERIES, video_name
from tests.web.conftest import Live, screenshots, start_live

POLL_TIMEOUT = 20_000  # ms: the page polls every 5 s


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(tmp_path_factory.mktemp("providers"), config={
        "podnapisi_url": f"http://127.0.0.1:{closed_port()}",
        "provider_timeout": 5.0})


def card(page: Any, name: str) -> Any:
    return page.get_by_role("region", name=name)


def api_search(live: Live, episode: int = 1) -> dict[str, Any]:
    path = live.media_root / SERIES / "Season 01" / video_name(episode)
    answer = requests.post(live.path("/api/v1/providers/search"),
                           # pytest's folder names ("pytest-25") would pass for the
                           # series title in a guess from the whole path.
                           json={"path": str(path), "languages": ["en"],
                                 "query": {"title": SERIES, "series": SERIES}},
                           headers={"X-Api-Key": live.app.api_key}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def cache_rows(live: Live) -> dict[str, int]:
    with live.app.database.engine.connect() as conn:
        rows = conn.execute(select(ProviderCache.provider, func.count())
                            .group_by(ProviderCache.provider)).all()
    return {provider: int(n) for provider, n in rows}


def test_the_page_shows_every_provider_with_its_numbers_and_chart(logged_in: Any) -> None:
    logged_in.goto("/providers")
    expect(logged_in.get_by_role("heading", name="Provider Stats")).to_be_visible()
    for name in PROVIDERS:
        section = card(logged_in, name)
        expect(section).to_be_visible()
        expect(section.locator(".pill")).to_have_text("closed")
        expect(section.get_by_role("button", name=f"Test {name}")).to_be_visible()
        expect(section.get_by_role("button", name=f"Clear the {name} cache")).to_be_visible()
        expect(section.get_by_role("img")).to_have_attribute(
            "aria-label", re.compile(f"^{name}: no searches in the last 24 hours", re.IGNORECASE))


def test_numbers_and_chart_follow_a_search_without_a_reload(logged_in: Any,
                                                            live: Live) -> None:
    logged_in.goto("/providers")
    jimaku = card(logged_in, "jimaku")
    searches = jimaku.locator("[data-metric=searches]")
    before = int(searches.inner_text())
    logged_in.evaluate("window.__sameDocument = true")

    document = api_search(live, episode=2)
    assert document["runs"]["jimaku"]["status"] == "ok"
    assert document["runs"]["jimaku"]["count"] == 1, document["runs"]
    assert document["runs"]["podnapisi"]["status"] == "failed"

    expect(searches).to_have_text(str(before + 1), timeout=POLL_TIMEOUT)
    expect(jimaku.locator("rect.bar")).to_have_count(1)
    expect(jimaku.locator("[data-metric=p50]")).not_to_have_text("\u2013")
    expect(jimaku.locator("[data-metric=success]")).to_have_text("100%")
    expect(jimaku.locator("[data-metric=results-per-search]")).to_have_text("1.0")
    chart = jimaku.get_by_role("img")
    expect(chart).to_have_attribute("aria-label", re.compile("searches in 1 five-minute"))
    # The failing provider shows its failure, kind and error.
    podnapisi = card(logged_in, "podnapisi")
    expect(podnapisi.locator("[data-metric=success]")).to_have_text("0%")
    expect(podnapisi.locator(".badge-danger").first).to_contain_text("unavailable")
    expect(podnapisi.locator(".last-error")).to_be_visible()
    expect(podnapisi.locator("rect.bar-failed")).to_have_count(1)
    expect(podnapisi.get_by_role("img")).to_have_attribute(
        "aria-label", re.compile("0 searches and [1-9][0-9]* failed calls"))
    assert logged_in.evaluate("window.__sameDocument") is True


def test_test_button_answers_inline_for_a_working_and_a_broken_provider(
        logged_in: Any) -> None:
    logged_in.goto("/providers")
    jimaku = card(logged_in, "jimaku")
    jimaku.get_by_role("button", name="Test jimaku").click()
    expect(jimaku.get_by_role("status")).to_contain_text("jimaku: OK")
    expect(jimaku.get_by_role("status")).to_contain_text(" ms")

    podnapisi = card(logged_in, "podnapisi")
    podnapisi.get_by_role("button", name="Test podnapisi").click()
    alert = podnapisi.get_by_role("alert")
    expect(alert).to_contain_text("podnapisi: failed", timeout=POLL_TIMEOUT)
    expect(alert).to_contain_text("unavailable")
    # The next poll keeps the answer in place.
    logged_in.wait_for_timeout(6000)
    expect(jimaku.get_by_role("status")).to_contain_text("jimaku: OK")


def test_clear_cache_empties_only_that_provider(logged_in: Any, live: Live) -> None:
    api_search(live, episode=3)
    rows = cache_rows(live)
    assert rows.get("jimaku", 0) > 0 and rows.get("subdl", 0) > 0
    logged_in.goto("/providers")
    jimaku = card(logged_in, "jimaku")
    expect(jimaku.locator("[data-metric=cached]")).not_to_have_text("0")
    jimaku.get_by_role("button", name="Clear the jimaku cache").click()
    expect(logged_in.locator("#toasts")).to_contain_text("jimaku: ")
    expect(jimaku.locator("[data-metric=cached]")).to_have_text("0")
    after = cache_rows(live)
    assert after.get("jimaku", 0) == 0
    assert {k: v for k, v in after.items() if k != "jimaku"} == {
        k: v for k, v in rows.items() if k != "jimaku"}


def test_buttons_work_without_javascript(browser: Any, live: Live) -> None:
    from tests.web.conftest import DESKTOP, login

    context = browser.new_context(viewport=DESKTOP, base_url=live.url,
                                  java_script_enabled=False)
    try:
        page = context.new_page()
        login(page)
        page.goto("/providers")
        card(page, "jimaku").get_by_role("button", name="Test jimaku").click()
        page.wait_for_url("**/providers")
        expect(page.get_by_role("alert")).to_contain_text("jimaku: test passed")
    finally:
        context.close()


def test_screenshots(browser: Any, live: Live) -> None:
    api_search(live, episode=1)
    saved = screenshots(browser, live, "/providers", "providers")
    assert all(path.stat().st_size > 0 for path in saved)
