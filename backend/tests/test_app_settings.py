"""Settings saved from the web UI (settings_store): the priority order defaults < config
file < saved < SUBLARR_* < create_app mapping, all-or-nothing validation naming the
setting, locked values, and what a running app does with a save."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

import settings_store
from app import apply_settings, create_app, saved_settings_overrides
from config import ConfigError, load_settings
from db import Database
from db.migrate import upgrade_to_head
from db.models import AppSetting, utcnow
from settings_store import SettingsInvalid
from tests.test_api_helpers import close_app, make_app
from web.accounts import SESSION_SECRET, session_secret


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'settings.db'}")
    upgrade_to_head(db)
    yield db
    db.dispose()


def rows(database: Database) -> dict[str, Any]:
    with database.session() as session:
        return {row.name: json.loads(row.value_json)
                for row in session.scalars(select(AppSetting))}


def store_raw(database: Database, name: str, value: Any) -> None:
    with database.session() as session:
        session.add(AppSetting(name=name, value_json=json.dumps(value), updated_at=utcnow()))


def toml(tmp_path: Path, body: str) -> dict[str, str]:
    path = tmp_path / "sublarr.toml"
    path.write_text(body, encoding="utf-8")
    return {"SUBLARR_CONFIG_FILE": str(path)}


# -- priority order -------------------------------------------------------------------------


def test_each_layer_beats_the_one_below(tmp_path: Path) -> None:
    env = toml(tmp_path, "min_score_episode = 100\nmin_score_movie = 100\n"
                         "provider_timeout = 3.0\nwanted_batch_limit = 7\n")
    env.update({"SUBLARR_MIN_SCORE_MOVIE": "300", "SUBLARR_PROVIDER_TIMEOUT": "4"})
    stored = {"min_score_episode": 200, "min_score_movie": 200, "provider_timeout": 5.0,
              "upgrade_score_margin": 42}
    settings = load_settings({"provider_timeout": 6}, env, stored=stored)
    # default < stored (no file, env or override for it)
    assert settings.upgrade_score_margin == 42
    assert settings.sources["upgrade_score_margin"] == "stored"
    # file only
    assert (settings.wanted_batch_limit, settings.sources["wanted_batch_limit"]) == (7, "file")
    # file < stored
    assert (settings.min_score_episode, settings.sources["min_score_episode"]) == (200, "stored")
    # stored < env
    assert (settings.min_score_movie, settings.sources["min_score_movie"]) == (300, "env")
    # env < override
    assert (settings.provider_timeout, settings.sources["provider_timeout"]) == (6.0, "override")
    assert settings.sources["port"] == "default"


def test_load_settings_without_stored_values_is_unchanged() -> None:
    assert load_settings(environ={}) == load_settings(environ={}, stored={})
    assert load_settings(environ={}).min_score_episode == 240


def test_a_bad_stored_value_names_the_setting_and_where_it_was_saved() -> None:
    with pytest.raises(ConfigError, match=r"SUBLARR_MIN_SCORE_EPISODE: invalid value 'x'.*"
                                          r"saved in the web UI"):
        load_settings(environ={}, stored={"min_score_episode": "x"})


def test_only_editable_groups_are_read_back_and_the_session_key_is_left_alone(
        database: Database) -> None:
    secret = session_secret(database)
    store_raw(database, "min_score_episode", 123)
    store_raw(database, "database_url", "postgresql://elsewhere/db")  # never from the DB
    store_raw(database, "port", 1)
    assert settings_store.read_stored(database) == {"min_score_episode": 123}
    settings = settings_store.resolve({}, database, environ={})
    assert settings.database_url == "" and settings.port == 5765
    settings_store.save(database, {}, settings, {"min_score_episode": "124"})
    assert rows(database)[SESSION_SECRET] == secret


# -- saving and validation --------------------------------------------------------------------


def test_a_save_writes_only_what_changed_and_reads_back(database: Database,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBLARR_MIN_SCORE_EPISODE", raising=False)
    current = settings_store.resolve({}, database)
    plan, now = settings_store.save(database, {}, current, {
        "min_score_episode": "300", "podnapisi_rate_limit": "1/second",
        "min_score_movie": str(current.min_score_movie)})
    assert plan.written == {"min_score_episode": 300, "podnapisi_rate_limit": "1/second"}
    assert rows(database) == {"min_score_episode": 300, "podnapisi_rate_limit": "1/second"}
    assert now.min_score_episode == 300 and now.sources["min_score_episode"] == "stored"
    # Back to the value below (the default): the row goes, so a later config file or
    # default change shows through again.
    plan, now = settings_store.save(database, {}, now, {"min_score_episode": "240"})
    assert plan.removed == ["min_score_episode"] and plan.written == {}
    assert "min_score_episode" not in rows(database)
    assert now.sources["min_score_episode"] == "default"


def test_a_bad_value_is_refused_naming_it_and_nothing_is_saved(database: Database) -> None:
    current = settings_store.resolve({}, database, environ={})
    with pytest.raises(SettingsInvalid) as caught:
        settings_store.save(database, {}, current, {
            "podnapisi_rate_limit": "1/second", "min_score_episode": "abc",
            "hearing_impaired": "always"})
    errors = caught.value.errors
    assert set(errors) == {"min_score_episode", "hearing_impaired"}
    assert errors["min_score_episode"] \
        == "SUBLARR_MIN_SCORE_EPISODE: invalid value 'abc'; expected an integer >= 0"
    assert "prefer, avoid, neutral" in errors["hearing_impaired"]
    assert rows(database) == {}


@pytest.mark.parametrize(("name", "raw", "fragment"), [
    ("podnapisi_rate_limit", "fast", "SUBLARR_PODNAPISI_RATE_LIMIT: invalid rate limit"),
    ("providers_enabled", "podnapisi,addic7ed", "unknown provider(s) 'addic7ed'"),
    ("translation_backends", "ollama,babelfish", "unknown backend(s) 'babelfish'"),
    ("arr_instances", "[{", "SUBLARR_ARR_INSTANCES: not valid JSON"),
    ("path_mappings", "/data/tv", "is not arr_prefix=local_prefix"),
    ("default_languages", "en,klingonese", "unknown language code 'klingonese'"),
    ("auto_translate_sources", "xx-yy-zz", "SUBLARR_AUTO_TRANSLATE_SOURCES"),
])
def test_values_are_checked_as_the_app_would_use_them(database: Database, name: str,
                                                      raw: str, fragment: str) -> None:
    current = settings_store.resolve({}, database, environ={})
    with pytest.raises(SettingsInvalid) as caught:
        settings_store.save(database, {}, current, {name: raw})
    assert list(caught.value.errors) == [name]
    assert fragment in caught.value.errors[name]
    assert rows(database) == {}


def test_a_default_instance_clashing_with_a_named_one_is_refused(database: Database) -> None:
    current = settings_store.resolve({}, database, environ={})
    instances = json.dumps([{"name": "sonarr", "kind": "sonarr", "url": "http://a",
                             "api_key": "k"}])
    settings_store.save(database, {}, current, {"arr_instances": instances})
    current = settings_store.resolve({}, database, environ={})
    with pytest.raises(SettingsInvalid) as caught:
        settings_store.save(database, {}, current, {"sonarr_url": "http://b"})
    assert "used twice" in caught.value.errors["arr_instances"]


def test_environment_overrides_and_read_only_groups_are_locked(database: Database) -> None:
    current = settings_store.resolve({"min_score_movie": 10}, database,
                                     environ={"SUBLARR_MIN_SCORE_EPISODE": "99"})
    assert settings_store.lock_reason(current, "min_score_episode") == \
        "set by SUBLARR_MIN_SCORE_EPISODE"
    assert settings_store.lock_reason(current, "min_score_movie") == \
        "set by the start-up configuration"
    assert settings_store.lock_reason(current, "job_workers") == "read-only in the web UI"
    assert settings_store.lock_reason(current, "subdl_rate_limit") is None
    with pytest.raises(SettingsInvalid) as caught:
        settings_store.parse_changes(current, {"min_score_episode": "1",
                                               "min_score_movie": "2", "job_workers": "9",
                                               "no_such_setting": "1"})
    assert caught.value.errors == {
        "min_score_episode": "cannot be changed here: set by SUBLARR_MIN_SCORE_EPISODE",
        "min_score_movie": "cannot be changed here: set by the start-up configuration",
        "job_workers": "cannot be changed here: read-only in the web UI",
        "no_such_setting": "unknown setting"}


def test_a_secret_is_never_shown_in_an_error(database: Database) -> None:
    current = settings_store.resolve({}, database, environ={})
    with pytest.raises(SettingsInvalid) as caught:
        settings_store.save(database, {}, current, {"arr_instances": "top-secret-key ["})
    assert "top-secret-key" not in str(caught.value)


# -- a running app -------------------------------------------------------------------------------


def test_create_app_sees_saved_values_and_the_environment_still_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_app(tmp_path / "data")
    try:
        settings_store.save(first.database,  # type: ignore[attr-defined]
                            saved_settings_overrides(first), first.settings,  # type: ignore[attr-defined]
                            {"min_score_episode": "275", "wanted_batch_limit": "9"})
    finally:
        close_app(first)
    second = make_app(tmp_path / "data")
    try:
        assert second.settings.min_score_episode == 275  # type: ignore[attr-defined]
        assert second.settings.wanted_batch_limit == 9  # type: ignore[attr-defined]
    finally:
        close_app(second)
    monkeypatch.setenv("SUBLARR_MIN_SCORE_EPISODE", "111")
    third = make_app(tmp_path / "data", wanted_batch_limit=3)
    try:
        assert third.settings.min_score_episode == 111  # type: ignore[attr-defined]
        assert third.settings.wanted_batch_limit == 3  # type: ignore[attr-defined]
    finally:
        close_app(third)


def test_a_bad_saved_value_stops_start_up_naming_it(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'data' / 'sublarr.db'}")
    upgrade_to_head(database)
    store_raw(database, "min_score_movie", "lots")
    database.dispose()
    with pytest.raises(ConfigError, match=r"SUBLARR_MIN_SCORE_MOVIE.*saved in the web UI"):
        create_app({"data_dir": str(tmp_path / "data")}, testing=True)


def test_applying_a_save_rebuilds_the_provider_manager_and_moves_intervals(
        tmp_path: Path) -> None:
    app: Flask = make_app(tmp_path / "data")
    try:
        old_manager = app.provider_manager  # type: ignore[attr-defined]
        _, settings = settings_store.save(
            app.database, saved_settings_overrides(app),  # type: ignore[attr-defined]
            app.settings,  # type: ignore[attr-defined]
            {"providers_enabled": "podnapisi,subdl", "wanted_search_interval": "30"})
        apply_settings(app, settings)
        assert app.settings.wanted_search_interval == 30  # type: ignore[attr-defined]
        manager = app.provider_manager  # type: ignore[attr-defined]
        assert manager is not old_manager
        assert manager.provider_names() == ["podnapisi", "subdl"]
        tasks = {t["name"]: t for t in app.scheduler.status()["tasks"]}  # type: ignore[attr-defined]
        assert tasks["search wanted"]["interval_seconds"] == 30
        assert tasks["sync library"]["interval_seconds"] == 21600
    finally:
        close_app(app)
