"""/api/v1/profiles: language profiles over the API — create, read, change, delete, one
default, validation naming the field, and the wanted list following every change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from db import Database
from tests.test_api_helpers import Api, assert_error, close_app, make_app, wait_for_job
from tests.test_wanted_helpers import add_episode, add_series, items
from wanted import DEFAULT_PROFILE_NAME

PROFILES = "/api/v1/profiles"
ANIME = {"name": "Anime", "items": [{"language": "ja"}, {"language": "en", "hi": True}],
         "cutoff": 0, "tags": ["Anime"]}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    media = tmp_path / "media"
    media.mkdir()
    application = make_app(tmp_path / "data", media_roots=[str(media)],
                           default_languages=["en"], providers_enabled=[])
    yield application
    close_app(application)


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app)


def names(api: Api) -> list[str]:
    """Profile names, less the "Default" that a queued refresh makes from
    SUBLARR_DEFAULT_LANGUAGES when it finds no default (it may or may not have run)."""
    return [p["name"] for p in api.get(PROFILES).get_json()["profiles"]
            if p["name"] != DEFAULT_PROFILE_NAME]


def test_create_read_change_delete(api: Api) -> None:
    made = api.post(PROFILES, json=ANIME)
    assert made.status_code == 201, made.get_data(as_text=True)
    profile = made.get_json()
    assert profile["items"] == [{"language": "ja", "hi": False, "forced": False},
                                {"language": "en", "hi": True, "forced": False}]
    assert (profile["cutoff"], profile["tags"], profile["is_default"]) == (0, ["anime"], False)
    assert profile["refresh_job_id"] == "wanted-refresh"
    url = f"{PROFILES}/{profile['id']}"
    assert api.get(url).get_json()["name"] == "Anime"

    changed = api.request("PATCH", url, json={"cutoff": 1, "is_default": True})
    assert changed.status_code == 200
    assert (changed.get_json()["cutoff"], changed.get_json()["is_default"]) == (1, True)
    listed = api.get(PROFILES).get_json()["profiles"]
    assert [p["name"] for p in listed if p["is_default"]] == ["Anime"]

    # The default stays until another one takes its place.
    assert_error(api.request("DELETE", url), 409, "conflict")
    other = api.post(PROFILES, json={"name": "Plain", "items": [{"language": "de"}],
                                     "is_default": True}).get_json()
    assert api.request("DELETE", url).get_json()["deleted"] == profile["id"]
    assert_error(api.get(url), 404, "not_found")
    assert names(api) == ["Plain"]
    assert api.get(f"{PROFILES}/{other['id']}").get_json()["is_default"] is True


@pytest.mark.parametrize(("body", "field"), [
    ({"items": [{"language": "en"}]}, "name"),
    ({"name": "X"}, "items"),
    ({"name": "X", "items": []}, "items"),
    ({"name": "X", "items": [{"language": "klingonish"}]}, "items"),
    ({"name": "X", "items": [{"language": "en"}], "cutoff": 3}, "cutoff"),
    ({"name": "X", "items": [{"language": "en"}], "cutoff": "first"}, "cutoff"),
    ({"name": "X", "items": [{"language": "en"}], "tags": "anime"}, "tags"),
    ({"name": "X", "items": [{"language": "en"}], "colour": "red"}, "colour"),
])
def test_bad_input_names_the_field_and_saves_nothing(api: Api, body: dict[str, object],
                                                     field: str) -> None:
    error = assert_error(api.post(PROFILES, json=body), 400, "validation_failed")
    assert error["details"]["field"] == field
    assert api.get(PROFILES).get_json()["profiles"] == []


def test_names_are_unique(api: Api) -> None:
    assert api.post(PROFILES, json=ANIME).status_code == 201
    error = assert_error(api.post(PROFILES, json=ANIME), 409, "conflict")
    assert error["details"]["field"] == "name"
    assert names(api) == ["Anime"]


def test_the_wanted_list_follows_a_profile_change(api: Api, app: Flask,
                                                  tmp_path: Path) -> None:
    database: Database = app.database  # type: ignore[attr-defined]
    series = add_series(database, tmp_path / "media", title="Sousou no Frieren")
    add_episode(database, tmp_path / "media", series, 1)
    made = api.post(PROFILES, json={"name": "Both", "items": [{"language": "en"},
                                                               {"language": "de"}],
                                    "is_default": True})
    assert wait_for_job(app, made.get_json()["refresh_job_id"]).status.value == "completed"
    assert sorted(row.language for row in items(database)) == ["de", "en"]
    changed = api.request("PUT", f"{PROFILES}/{made.get_json()['id']}",
                          json={"name": "Both", "items": [{"language": "fr"}]})
    assert wait_for_job(app, changed.get_json()["refresh_job_id"]).status.value == "completed"
    assert [row.language for row in items(database)] == ["fr"]
