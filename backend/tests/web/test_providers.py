"""Provider Stats page, in a real browser against a live server over the five provider
fakes, with Podnapisi pointed at a closed port (a broken provider)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import func, select

from db.models import ProviderCache
from db.repositories.provider_history import StatsBucket, bucket_start
from tests.provider_world import PROVIDERS, SERIES, video_name
from tests.web.conftest import DESKTOP, Live, login, screenshots, start_live
from web.views.provider_chart import BOTTOM, LEFT, RIGHT, TOP, build_chart

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
                           json={"path": str(path), "languages": ["en"]},
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


def test_a_throttled_provider_shows_until_when(logged_in: Any, live: Live) -> None:
    """Last but one: Jimaku stays throttled for the rest of the module."""
    live.world.jimaku.fault, live.world.jimaku.reset_after = "429", 600.0
    try:
        logged_in.goto("/providers")
        jimaku = card(logged_in, "jimaku")
        jimaku.get_by_role("button", name="Test jimaku").click()
        expect(jimaku.get_by_role("alert")).to_contain_text("rate_limited")
        # Shown by the next poll, relative to now.
        expect(jimaku.locator(".badge-warn")).to_have_text(
            re.compile(r"^throttled until in (9|10) min$"), timeout=POLL_TIMEOUT)
        expect(jimaku.locator(".badge-danger")).to_contain_text("rate_limited 1")
    finally:
        live.world.jimaku.fault = None


def test_screenshots(browser: Any, live: Live) -> None:
    api_search(live, episode=1)
    saved = screenshots(browser, live, "/providers", "providers")
    assert all(path.stat().st_size > 0 for path in saved)


# -- the chart's geometry (no browser) ----------------------------------------------------


NOW = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def _bucket(minutes_ago: int, searches: int, failures: int = 0,
            p50: float | None = None, p95: float | None = None) -> StatsBucket:
    return StatsBucket(provider="jimaku",
                       bucket_start=bucket_start(NOW - timedelta(minutes=minutes_ago)),
                       searches=searches, results=searches, cache_hits=0, failures=failures,
                       response_count=searches if p50 is not None else 0, mean_ms=p50,
                       p50_ms=p50, p95_ms=p95)


def test_chart_scales_bars_and_lines_to_the_day() -> None:
    chart = build_chart("Jimaku", [_bucket(60 * 25, 9, p50=1, p95=1),  # before the window
                                   _bucket(60 * 12, 4, p50=30, p95=80),
                                   _bucket(10, 2, failures=2, p50=60, p95=140)], NOW)
    assert chart.ms_max == 200  # 140 rounded up to a readable axis
    assert len(chart.bars) == 2
    half_day, recent = chart.bars
    assert LEFT + (RIGHT - LEFT) * 0.49 < half_day.x < LEFT + (RIGHT - LEFT) * 0.51
    assert recent.x > half_day.x and recent.x + recent.width <= RIGHT
    # 4 searches is the tallest stack (2 searches + 2 failures ties it): full height.
    assert half_day.y == TOP and half_day.fail_height == 0
    assert recent.fail_y == TOP and recent.height == recent.fail_height == (BOTTOM - TOP) / 2
    assert len(chart.p50.split()) == 2 and len(chart.p95.split()) == 2
    assert chart.dots50 == [] and not chart.empty
    assert chart.summary == ("Jimaku over the last 24 hours: 6 searches and 2 failed calls "
                             "in 2 five-minute periods; median response 30 to 60 ms, "
                             "95th percentile up to 140 ms.")


def test_chart_of_one_bucket_marks_its_point_and_an_empty_one_says_so() -> None:
    single = build_chart("SubDL", [_bucket(3, 1, p50=12, p95=12)], NOW)
    assert len(single.dots50) == 1 and len(single.dots95) == 1
    empty = build_chart("SubDL", [], NOW)
    assert empty.empty and empty.ms_max == 0
    assert empty.summary == "SubDL: no searches in the last 24 hours."
