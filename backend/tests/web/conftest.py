"""A live Sublarr on loopback, backed by the five provider fakes and a small media tree,
and a real browser (Debian's Chromium driven by Playwright) to use it with.

Each test module gets its own server and database (`live`); the browser is shared by the
session. `login(page)` logs the module's account in through the form; `screenshots(...)`
saves a page at desktop and phone width under test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.provider_world import SERIES, World, make_video

CHROMIUM = os.environ.get("SUBLARR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT_DIR = Path(os.environ.get(
    "SUBLARR_SCREENSHOT_DIR",
    Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"))
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
USERNAME = "admin"
PASSWORD = "correct horse battery"
EPISODES = (1, 2, 3)


@dataclass
class Live:
    """A running server: its URL, the Flask app behind it, its media root and fakes."""

    url: str
    app: Any
    media_root: Path
    world: World
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, relative: str = "/") -> str:
        return self.url + relative


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        from tests.services import unavailable

        unavailable(f"Chromium not found at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
                                              headless=True)
        yield instance
        instance.close()


def start_live(tmp: Path, *, episodes: tuple[int, ...] = EPISODES,
               config: dict[str, Any] | None = None,
               create_account: bool = True) -> Iterator[Live]:
    """Fakes up, media tree made, library scanned, server listening; torn down after."""
    from waitress.server import create_server

    from app import close_app, create_app
    from wanted import scan_and_refresh
    from web.accounts import create_first_user

    world = World(episodes=episodes, languages=("en", "de"))
    with world.running():
        media_root = tmp / "media"
        for episode in episodes:
            make_video(media_root / SERIES / "Season 01", episode)
        settings = {**world.settings(), "data_dir": str(tmp / "data"),
                    "media_roots": [str(media_root)], "default_languages": ["en", "de"],
                    "scheduler_enabled": False, "job_workers": 2, **(config or {})}
        app = create_app(settings, testing=True)
        scan_and_refresh(app.database, app.settings)  # type: ignore[attr-defined]
        if create_account:
            create_first_user(app.database, USERNAME, PASSWORD)  # type: ignore[attr-defined]
        server = create_server(app, host="127.0.0.1", port=0, threads=8, ident="Sublarr")
        app.job_queue.start()  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.run, name="live-server", daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]  # type: ignore[attr-defined]
        try:
            yield Live(f"http://127.0.0.1:{port}", app, media_root, world)
        finally:
            server.close()
            thread.join(timeout=5)
            close_app(app)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(tmp_path_factory.mktemp("live"))


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh desktop browser context (no cookies) on the live server."""
    context = browser.new_context(viewport=DESKTOP, base_url=live.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def login(page: Any, username: str = USERNAME, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


@pytest.fixture
def logged_in(page: Any) -> Any:
    login(page)
    return page


def screenshots(browser: Any, live: Live, path: str, name: str,
                prepare: Callable[[Any], None] | None = None) -> list[Path]:
    """Open `path` logged in at desktop and at phone width and save a full-page
    screenshot of each as <name>-desktop.png / <name>-phone.png; returns the files."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    saved = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, base_url=live.url,
                                      is_mobile=label == "phone",
                                      has_touch=label == "phone")
        try:
            tab = context.new_page()
            login(tab)
            tab.goto(path)
            tab.wait_for_load_state("networkidle")
            if prepare is not None:
                prepare(tab)
            target = SCREENSHOT_DIR / f"{name}-{label}.png"
            tab.screenshot(path=str(target), full_page=True)
            # At phone width nothing may force the page wider than the screen.
            width = tab.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"] + 1, (
                f"{path} is {width}px wide at {viewport['width']}px ({label})")
            saved.append(target)
        finally:
            context.close()
    return saved
