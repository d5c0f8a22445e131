"""Settings pages in a real browser against a live server: the API key, saving provider,
translation and *arr settings into app_settings (and what a new app sees), refusals
naming the setting, locked values, secrets never in the HTML, language profiles, the
Sonarr "Test connection" against the fake Sonarr, and the read-only System section."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from db.models import AppSetting, LanguageProfile, Series
from tests.fakes.server import FakeServer, serve
from tests.fakes.sonarr import FakeSonarr
from tests.provider_world import OPENSUBTITLES_KEY
from tests.web.conftest import DESKTOP, Live, login, screenshots, start_live
from web.accounts import SESSION_SECRET
from web.views.settings.forms import every_editable_setting_has_a_section

LOCKED_VAR, LOCKED_VALUE = "SUBLARR_UPGRADE_SCORE_MARGIN", "33"
SONARR_KEY = "sonarr-key-7f3a9c1e"
DEEPL_SECRET = "deepl-secret-5b21e0d4:fx"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    # One setting comes from the environment for the whole module, to be shown locked.
    with pytest.MonkeyPatch.context() as env:
        env.setenv(LOCKED_VAR, LOCKED_VALUE)
        yield from start_live(tmp_path_factory.mktemp("settings"))



@pytest.fixture(scope="module")
def sonarr() -> Iterator[tuple[FakeSonarr, FakeServer]]:
    fake = FakeSonarr(api_key=SONARR_KEY)
    with serve(fake.app) as server:
        yield fake, server


def stored(live: Live) -> dict[str, Any]:
    with live.app.database.session() as session:
        return {row.name: json.loads(row.value_json)
                for row in session.scalars(select(AppSetting))
                if row.name != SESSION_SECRET}


def configure_sonarr(live: Live, url: str, key: str) -> None:
    """What saving the Sonarr/Radarr section does, without the browser."""
    import settings_store
    from app import apply_settings, saved_settings_overrides

    _, settings = settings_store.save(live.app.database, saved_settings_overrides(live.app),
                                      live.app.settings,
                                      {"sonarr_url": url, "sonarr_api_key": key})
    apply_settings(live.app, settings)


def save_section(page: Any) -> None:
    page.get_by_role("button", name=re.compile(r"^Save ")).click()
    page.wait_for_load_state()


def flash(page: Any) -> str:
    return str(page.locator(".alert").first.inner_text())


# -- general ----------------------------------------------------------------------------------


def test_general_shows_the_api_key_and_folders(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/settings")
    key = page.get_by_role("textbox", name="API key")
    expect(key).to_have_value(live.app.api_key)
    assert key.get_attribute("readonly") is not None
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#api-key-copied")).to_have_text(re.compile(r"Copied|Selected"))
    assert str(live.media_root) in page.content()
    assert live.app.settings.data_dir in page.content()
    assert "pick them up when they next start" in page.content()


def test_section_tabs_are_links_reachable_by_keyboard(logged_in: Any) -> None:
    page = logged_in
    page.goto("/settings")
    tabs = page.get_by_role("navigation", name="Settings sections")
    expect(tabs.get_by_role("link", name="General")).to_have_attribute("aria-current", "page")
    tabs.get_by_role("link", name="Providers").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/settings/providers$"))
    expect(tabs.get_by_role("link", name="Providers")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="Settings", exact=True)).to_have_attribute(
        "aria-current", "page")


def test_every_editable_setting_is_on_a_section() -> None:
    assert every_editable_setting_has_a_section() == []


# -- saving -------------------------------------------------------------------------------------


def test_a_provider_setting_is_saved_applied_and_seen_by_a_new_app(logged_in: Any,
                                                                   live: Live) -> None:
    from app import close_app, create_app

    page = logged_in
    old_manager = live.app.provider_manager
    page.goto("/settings/providers")
    field = page.get_by_label("Min score episode")
    expect(field).to_have_value("240")
    field.fill("275")
    save_section(page)
    assert "Saved: min_score_episode" in flash(page)
    assert stored(live) == {"min_score_episode": 275}
    assert live.app.settings.min_score_episode == 275
    assert live.app.provider_manager is not old_manager  # rebuilt with the new settings
    page.reload()
    expect(page.get_by_label("Min score episode")).to_have_value("275")
    other = create_app({"data_dir": live.app.settings.data_dir, "scheduler_enabled": False},
                       testing=True)
    try:
        assert other.settings.min_score_episode == 275  # type: ignore[attr-defined]
    finally:
        close_app(other)
    # Back to the default: the saved row goes away again.
    page.get_by_label("Min score episode").fill("240")
    save_section(page)
    assert stored(live) == {}
    assert live.app.settings.min_score_episode == 240


def test_a_bad_value_is_refused_naming_the_setting_and_nothing_is_saved(
        logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/settings/providers")
    page.get_by_label("Provider workers").fill("7")  # a good change in the same form
    page.get_by_label("Min score movie").fill("abc")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=re.compile(r"^Save ")).click()
    assert answer.value.status == 400
    error = page.locator("#err-min_score_movie")
    expect(error).to_have_text("SUBLARR_MIN_SCORE_MOVIE: invalid value 'abc'; "
                               "expected an integer >= 0")
    expect(page.get_by_label("Min score movie")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Min score movie")).to_have_value("abc")  # what was typed stays
    assert "Nothing was saved" in flash(page)
    assert stored(live) == {}
    assert live.app.settings.provider_workers == 10


def test_values_from_the_environment_or_start_up_are_locked(logged_in: Any,
                                                            live: Live) -> None:
    page = logged_in
    page.goto("/settings/library")
    margin = page.get_by_label("Upgrade score margin")
    expect(margin).to_be_disabled()
    expect(margin).to_have_value(LOCKED_VALUE)
    assert f"set by {LOCKED_VAR}" in page.content()
    page.goto("/settings/providers")
    expect(page.get_by_label("Podnapisi URL")).to_be_disabled()
    assert "set by the start-up configuration" in page.content()
    # A form forced to send the locked value anyway changes nothing.
    page.goto("/settings/library")
    page.evaluate("(() => { const i = document.getElementById('f-upgrade_score_margin');"
                  " i.disabled = false; i.value = '99'; })()")
    save_section(page)
    assert live.app.settings.upgrade_score_margin == int(LOCKED_VALUE)
    assert "upgrade_score_margin" not in stored(live)


def test_secrets_are_saved_but_never_rendered(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/settings/translation")
    page.get_by_label("DeepL API key").fill(DEEPL_SECRET)
    save_section(page)
    assert "Saved: deepl_api_key" in flash(page)
    assert stored(live)["deepl_api_key"] == DEEPL_SECRET
    assert live.app.settings.deepl_api_key == DEEPL_SECRET
    deepl = page.locator("#f-deepl_api_key").locator("..")
    expect(deepl.locator(".secret-state")).to_have_text("\u2022" * 6 + " (set)")
    expect(page.get_by_label("DeepL API key", exact=True)).to_have_value("")
    for path in ("/settings", "/settings/providers", "/settings/translation",
                 "/settings/arr", "/settings/library", "/settings/system",
                 "/settings/languages"):
        page.goto(path)
        html = page.content()
        assert DEEPL_SECRET not in html and OPENSUBTITLES_KEY not in html, path
    # An empty field keeps the secret; the clear box unsets it.
    page.goto("/settings/translation")
    page.get_by_label("OpenAI-compatible model").fill("gpt-4o")
    save_section(page)
    assert live.app.settings.deepl_api_key == DEEPL_SECRET
    page.get_by_label("Clear DeepL API key").check()
    save_section(page)
    assert live.app.settings.deepl_api_key == ""
    assert "deepl_api_key" not in stored(live)
    page.get_by_label("OpenAI-compatible model").fill("gpt-4o-mini")
    save_section(page)
    assert stored(live) == {}


# -- language profiles -----------------------------------------------------------------------


def profile_rows(live: Live) -> dict[str, LanguageProfile]:
    with live.app.database.session() as session:
        return {p.name: p for p in session.scalars(select(LanguageProfile))}


def test_language_profiles_round_trip(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/settings/languages")
    page.get_by_role("link", name="New profile").click()
    page.get_by_label("Name").fill("Anime")
    page.get_by_label("Language 1", exact=True).fill("ja")
    page.get_by_label("Language 2", exact=True).fill("klingonese")
    page.get_by_role("button", name="Save profile").click()
    assert "unknown language code 'klingonese'" in page.locator("#lang-err-1").inner_text()
    assert "Anime" not in profile_rows(live)
    page.get_by_label("Language 2", exact=True).fill("English")
    page.get_by_label("Language 2 hearing impaired").check()
    page.get_by_label("Cutoff at language 1").check()
    page.get_by_label("Sonarr/Radarr tags").fill("anime, Subbed")
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_url(re.compile(r"/settings/languages$"))
    row = page.get_by_role("row").filter(has_text="Anime")
    expect(row).to_contain_text("ja")
    expect(row).to_contain_text("en HI")
    anime = profile_rows(live)["Anime"]
    assert json.loads(anime.items_json) == [
        {"language": "ja", "hi": False, "forced": False},
        {"language": "en", "hi": True, "forced": False}]
    assert anime.cutoff == 0 and json.loads(anime.tags_json) == ["anime", "subbed"]

    # Edit: rename, drop the second language, make it forced-only Japanese.
    row.get_by_role("link", name="Edit Anime").click()
    expect(page.get_by_label("Language 2", exact=True)).to_have_value("en")
    page.get_by_label("Name").fill("Anime JP")
    page.get_by_label("Language 2", exact=True).fill("")
    page.get_by_label("Language 1 forced").check()
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_url(re.compile(r"/settings/languages$"))
    edited = profile_rows(live)["Anime JP"]
    assert json.loads(edited.items_json) == [{"language": "ja", "hi": False, "forced": True}]
    expect(page.get_by_role("row").filter(has_text="Anime JP")).to_contain_text("ja forced")

    # Default moves to it and back; the default offers no delete.
    page.get_by_role("button", name="Make Anime JP the default").click()
    page.wait_for_load_state()
    assert profile_rows(live)["Anime JP"].is_default
    expect(page.get_by_role("button", name="Delete Anime JP")).to_have_count(0)
    page.get_by_role("button", name="Make Default the default").click()
    page.wait_for_load_state()
    assert not profile_rows(live)["Anime JP"].is_default

    # A series using it falls back (to tags or the default) when it is deleted.
    with live.app.database.session() as session:
        session.execute(update(Series).values(profile_id=edited.id))
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete Anime JP").click()
    page.wait_for_load_state()
    assert "1 series/movies now use" in flash(page)
    assert "Anime JP" not in profile_rows(live)
    expect(page.get_by_role("row").filter(has_text="Anime JP")).to_have_count(0)
    with live.app.database.session() as session:
        assert session.scalars(select(Series.profile_id)).all() == [None]


# -- Sonarr / Radarr ----------------------------------------------------------------------------


def test_sonarr_test_connection_shows_the_version_or_the_error(
        logged_in: Any, live: Live, sonarr: tuple[FakeSonarr, FakeServer]) -> None:
    _, server = sonarr
    page = logged_in
    page.goto("/settings/arr")
    page.get_by_label("Sonarr URL").fill(server.url)
    page.get_by_label("Sonarr API key", exact=True).fill("wrong-key")
    save_section(page)
    assert live.app.settings.sonarr_url == server.url
    page.get_by_role("button", name="Test connection to sonarr").click()
    expect(page.locator(".test-result")).to_contain_text("API key refused (401)")
    page.get_by_label("Sonarr API key", exact=True).fill(SONARR_KEY)
    save_section(page)
    page.get_by_role("button", name="Test connection to sonarr").click()
    expect(page.locator(".test-result")).to_contain_text("Connected")
    expect(page.locator(".test-result")).to_contain_text("3.0.10.1567")
    assert SONARR_KEY not in page.content()
    assert stored(live)["sonarr_api_key"] == SONARR_KEY


def test_test_connection_works_without_javascript(browser: Any, live: Live,
                                                  sonarr: tuple[FakeSonarr, FakeServer]) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=live.url,
                                  java_script_enabled=False)
    try:
        page = context.new_page()
        login(page)
        page.goto("/settings/arr")
        page.get_by_role("button", name="Test connection to sonarr").click()
        page.wait_for_url(re.compile(r"/settings/arr$"))
        assert "sonarr: connected, Sonarr 3.0.10.1567" in flash(page)
    finally:
        context.close()


def test_clearing_sonarr_leaves_no_instance(logged_in: Any, live: Live) -> None:
    page = logged_in
    page.goto("/settings/arr")
    page.get_by_label("Sonarr URL").fill("")
    page.get_by_label("Clear Sonarr API key").check()
    save_section(page)
    assert live.app.settings.sonarr_url == ""
    assert "No Sonarr or Radarr configured yet" in page.content()
    assert "sonarr_url" not in stored(live)


# -- system -------------------------------------------------------------------------------------


def test_system_section_shows_engines_and_status(logged_in: Any, live: Live) -> None:
    from db.migrate import head_revisions

    page = logged_in
    page.goto("/settings/system")
    database = page.get_by_role("region", name="Database")
    expect(database).to_contain_text("sqlite")
    expect(database).to_contain_text(head_revisions()[0])
    expect(database).to_contain_text("answers")
    expect(page.get_by_role("region", name="Cache")).to_contain_text("memory")
    queue = page.get_by_role("region", name="Job queue")
    expect(queue).to_contain_text("memory")
    expect(queue).to_contain_text("Queued jobs")
    expect(page.get_by_role("region", name="Scheduler")).to_contain_text("search wanted")
    storage = page.get_by_role("region", name="Storage settings")
    expect(storage).to_contain_text("SUBLARR_DATABASE_URL")
    expect(page.get_by_role("region", name="Server settings")).to_contain_text(
        "SUBLARR_DATA_DIR")


# -- screenshots --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "name"), [
    ("/settings", "settings-general"), ("/settings/providers", "settings-providers"),
    ("/settings/languages", "settings-languages"),
    ("/settings/languages/new", "settings-profile-form"),
    ("/settings/translation", "settings-translation"), ("/settings/arr", "settings-arr"),
    ("/settings/library", "settings-library"), ("/settings/system", "settings-system"),
])
def test_screenshots(browser: Any, live: Live, sonarr: tuple[FakeSonarr, FakeServer],
                     path: str, name: str) -> None:
    from wanted import create_profile

    if name == "settings-languages" and "Anime" not in profile_rows(live):
        with live.app.database.session() as session:
            create_profile(session, "Anime", [{"language": "ja"}, {"language": "en", "hi": True},
                                              {"language": "en", "forced": True}],
                           cutoff=1, tags=["anime"])
    prepare = None
    if name == "settings-arr":
        configure_sonarr(live, sonarr[1].url, SONARR_KEY)

        def prepare(tab: Any) -> None:
            tab.get_by_role("button", name="Test connection to sonarr").click()
            expect(tab.locator(".test-result")).to_contain_text("Connected")
    try:
        saved = screenshots(browser, live, path, name, prepare=prepare)
    finally:
        if name == "settings-arr":
            configure_sonarr(live, "", "")
    assert all(file.stat().st_size > 1000 for file in saved)
