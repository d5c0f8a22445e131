"""Login, first-start account, logout and CSRF, in a real browser against a live server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from db.models import WebUser
from tests.web.conftest import (
    DESKTOP,
    PASSWORD,
    PHONE,
    SCREENSHOT_DIR,
    USERNAME,
    Live,
    login,
    start_live,
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server that has never been set up: no account yet."""
    yield from start_live(tmp_path_factory.mktemp("fresh"), episodes=(1,),
                          create_account=False)


def test_first_start_asks_for_an_account_and_stores_only_a_hash(browser: Any,
                                                                 fresh: Live) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=fresh.url)
    page = context.new_page()
    try:
        page.goto("/wanted")
        assert page.url.endswith("/setup")
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT_DIR / "setup-desktop.png"), full_page=True)
        page.get_by_label("User name").fill("owner")
        page.get_by_label("Password", exact=True).fill("short")
        page.get_by_label("Repeat the password").fill("short")
        # The browser's own minlength check stops the form; the server checks too.
        page.evaluate("document.querySelectorAll('input')"
                      ".forEach(i => i.removeAttribute('minlength'))")
        page.get_by_role("button", name="Create account").click()
        assert "at least 8 characters" in page.get_by_role("alert").inner_text()
        page.get_by_label("Password", exact=True).fill("a long enough secret")
        page.get_by_label("Repeat the password").fill("a long enough secret")
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(re.compile(r"/$"))
        assert page.get_by_role("navigation", name="Main").is_visible()
    finally:
        context.close()
    with fresh.app.database.session() as session:
        stored = session.scalars(select(WebUser)).one()
    assert stored.username == "owner"
    assert "a long enough secret" not in stored.password_hash
    assert stored.password_hash.startswith(("scrypt:", "pbkdf2:"))
    # Once an account exists, the form is gone for everyone.
    assert requests.get(fresh.path("/setup"), allow_redirects=False,
                        timeout=5).headers["Location"].endswith("/login")


def test_pages_need_a_login_and_come_back_after_it(page: Any) -> None:
    page.goto("/jobs")
    assert "/login" in page.url
    page.get_by_label("User name").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/jobs$"))
    assert page.get_by_role("link", name="Jobs").get_attribute("aria-current") == "page"


def test_a_wrong_password_is_refused(page: Any, live: Live) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(USERNAME)
    page.get_by_label("Password").fill("not the password")
    response_status: list[int] = []
    page.on("response", lambda r: response_status.append(r.status)
            if r.url.endswith("/login") and r.request.method == "POST" else None)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "Wrong user name or password" in page.get_by_role("alert").inner_text()
    assert response_status == [401]
    page.goto("/")
    assert "/login" in page.url


def test_a_form_posted_without_its_csrf_token_is_refused(page: Any, live: Live) -> None:
    login(page)
    # The logout form, stripped of its token, posted by the browser with the session cookie.
    page.goto("/")
    page.evaluate("document.querySelector('form.logout input[name=csrf_token]').remove()")
    with page.expect_response(lambda r: r.url.endswith("/logout")) as answer:
        page.get_by_role("button", name="Log out").click()
    assert answer.value.status == 400
    assert "CSRF" in page.content()
    # Still logged in: the refused form changed nothing.
    page.goto("/")
    assert "/login" not in page.url
    # A login form without its token is refused too, even with the right password.
    status = requests.post(live.path("/login"), data={"username": USERNAME,
                                                      "password": PASSWORD},
                           allow_redirects=False, timeout=5).status_code
    assert status == 400


def test_logout_ends_the_session(logged_in: Any) -> None:
    logged_in.goto("/")
    logged_in.get_by_role("button", name="Log out").click()
    logged_in.wait_for_url(re.compile(r"/login$"))
    logged_in.goto("/")
    assert "/login" in logged_in.url


def test_next_never_leads_off_the_server(page: Any) -> None:
    page.goto("/login?next=https://evil.example/")
    page.get_by_label("User name").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert page.url.startswith(page.context.pages[0].url.split("/login")[0])
    assert "evil.example" not in page.url


def test_the_api_keeps_its_key_and_needs_no_csrf(live: Live) -> None:
    key = live.app.api_key
    assert requests.get(live.path("/api/v1/system/status"), timeout=5).status_code == 401
    answer = requests.post(live.path("/api/v1/system/cache/clear"),
                           headers={"X-Api-Key": key}, timeout=5)
    assert answer.status_code == 200


def test_login_page_screenshots(browser: Any, live: Live) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, base_url=live.url)
        try:
            page = context.new_page()
            page.goto("/login")
            target = SCREENSHOT_DIR / f"login-{label}.png"
            page.screenshot(path=str(target), full_page=True)
            assert target.stat().st_size > 1000
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        finally:
            context.close()


def test_guessing_is_throttled_per_address_and_name(live: Live) -> None:
    from web.views.auth import LOGIN_LIMIT

    def attempt(password: str, username: str = "guesser") -> int:
        return session.post(live.path("/login"), data={
            "csrf_token": token(), "username": username, "password": password},
            allow_redirects=False, timeout=5).status_code

    session = requests.Session()

    def token() -> str:
        page = session.get(live.path("/login"), timeout=5).text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found is not None
        return found.group(1)

    statuses = [attempt(f"wrong {n}") for n in range(LOGIN_LIMIT.amount)]
    assert statuses == [401] * LOGIN_LIMIT.amount
    assert attempt("wrong again") == 429
    # Another name from the same address is not locked out by someone else's guessing.
    assert attempt("wrong", username="someone") == 401
