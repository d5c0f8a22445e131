"""/api/v1/glossary: add, change, list and remove translation glossary terms over the
API; what the translator reads back; bad input named by field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.test_api_helpers import Api, assert_error, close_app, make_app
from translation.glossary import GlossaryStore

GLOSSARY = "/api/v1/glossary"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    application = make_app(tmp_path / "data", providers_enabled=[])
    yield application
    close_app(application)


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app)


def test_terms_round_trip_and_reach_the_translator(api: Api, app: Flask) -> None:
    made = api.request("PUT", GLOSSARY, json={
        "source_lang": "ja", "target_lang": "EN", "term": " 勇者 ", "translation": "Hero"})
    assert made.status_code == 200, made.get_data(as_text=True)
    assert {k: made.get_json()[k] for k in ("source_lang", "target_lang", "term",
                                            "translation", "series")} == {
        "source_lang": "ja", "target_lang": "en", "term": "勇者", "translation": "Hero",
        "series": None}
    api.request("PUT", GLOSSARY, json={"source_lang": "ja", "target_lang": "en",
                                       "term": "勇者", "translation": "Brave",
                                       "series": "Sousou no Frieren"})
    changed = api.request("PUT", GLOSSARY, json={"source_lang": "ja", "target_lang": "en",
                                                 "term": "勇者", "translation": "The Hero"})
    assert changed.get_json()["id"] == made.get_json()["id"]  # changed, not added

    listed = api.get(GLOSSARY, query_string={"source_lang": "ja"}).get_json()["terms"]
    assert [(t["translation"], t["series"]) for t in listed] == [
        ("The Hero", None), ("Brave", "Sousou no Frieren")]
    store = GlossaryStore(app.database)  # type: ignore[attr-defined]
    assert store.terms_for("ja", "en") == {"勇者": "The Hero"}
    assert store.terms_for("ja", "en", series="Sousou no Frieren") == {"勇者": "Brave"}

    gone = api.request("DELETE", GLOSSARY, json={"source_lang": "ja", "target_lang": "en",
                                                 "term": "勇者", "series": "Sousou no Frieren"})
    assert gone.get_json() == {"deleted": "勇者"}
    assert store.terms_for("ja", "en", series="Sousou no Frieren") == {"勇者": "The Hero"}
    assert_error(api.request("DELETE", GLOSSARY, json={
        "source_lang": "ja", "target_lang": "en", "term": "魔王"}), 404, "not_found")


@pytest.mark.parametrize(("body", "field"), [
    ({"target_lang": "en", "term": "x", "translation": "y"}, "source_lang"),
    ({"source_lang": "xx-nope", "target_lang": "en", "term": "x", "translation": "y"},
     "source_lang"),
    ({"source_lang": "ja", "target_lang": "en", "term": "  ", "translation": "y"}, "term"),
    ({"source_lang": "ja", "target_lang": "en", "term": "x", "translation": 5},
     "translation"),
    ({"source_lang": "ja", "target_lang": "en", "term": "x", "translation": "y",
      "series": ["a"]}, "series"),
])
def test_bad_input_names_the_field_and_saves_nothing(api: Api, body: dict[str, object],
                                                     field: str) -> None:
    error = assert_error(api.request("PUT", GLOSSARY, json=body), 400, "validation_failed")
    assert error["details"]["field"] == field
    assert api.get(GLOSSARY).get_json()["terms"] == []


def test_the_glossary_needs_the_api_key(app: Flask) -> None:
    response = app.test_client().get(GLOSSARY)
    assert response.status_code == 401
