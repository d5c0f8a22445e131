"""Sonarr/Radarr clients and library sync against fake Sonarr and Radarr servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from config import ConfigError, Settings
from db.models import LanguageProfile, MediaFile, Movie, Series, WantedItem, utcnow
from library.arr import (
    ArrBadResponse,
    ArrClient,
    ArrConfigError,
    ArrInstance,
    ArrUnavailable,
    configured_instances,
    map_path,
    parse_path_mappings,
    quality_fields,
    test_connection,
)
from library.arr_sync import sync_arr
from tests.fakes.radarr import FakeRadarr
from tests.fakes.server import FakeServer, serve
from tests.fakes.sonarr import FakeSonarr
from tests.test_api_helpers import close_app, make_app


@dataclass
class World:
    app: Flask
    sonarr: FakeSonarr
    radarr: FakeRadarr
    sonarr_server: FakeServer
    media: Path

    def sync(self) -> Any:
        return sync_arr(self.app.database, self.app.settings)  # type: ignore[attr-defined]


def seed_sonarr(sonarr: FakeSonarr, root: str = "/data/tv", offset: int = 0) -> None:
    sonarr.tags = [{"id": 1, "label": "anime"}, {"id": 2, "label": "4k"}]
    sonarr.add_series(1 + offset, "Frieren", f"{root}/Frieren", tvdb_id=424536 + offset,
                      tags=[1], imdb_id="tt22248376", year=2023)
    sonarr.add_episode_file(1 + offset, 11 + offset, 1, 5, "Season 01/Frieren - S01E05.mkv",
                            absolute=5, release_group="SubsPlease")
    sonarr.add_episode_file(1 + offset, 12 + offset, 1, 6, "Season 01/Frieren - S01E06.mkv",
                            absolute=6, release_group="SubsPlease")
    sonarr.add_series(2 + offset, "Severance", f"{root}/Severance/", tvdb_id=371980 + offset)
    sonarr.add_episode_file(2 + offset, 21 + offset, 2, 1, "Season 02/Severance.S02E01.mkv",
                            release_group="NTb", source="television", resolution=720)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sonarr, radarr = FakeSonarr(), FakeRadarr()
    seed_sonarr(sonarr)
    radarr.tags = [{"id": 5, "label": "Kids"}]
    radarr.add_movie(7, "Spirited Away", 2001, "/movies/Spirited Away (2001)",
                     tmdb_id=129, imdb_id="tt0245429", file_name="Spirited.Away.2001.mkv",
                     tags=[5], release_group="FLUX")
    radarr.add_movie(8, "Dune Part Three", 2026, "/movies/Dune Part Three (2026)",
                     tmdb_id=999, imdb_id="tt9999999")
    media = tmp_path / "media"
    with serve(sonarr.app) as s_server, serve(radarr.app) as r_server:
        app = make_app(tmp_path / "data", sonarr_url=s_server.url,
                       sonarr_api_key="sonarr-key", radarr_url=r_server.url + "/",
                       radarr_api_key="radarr-key", media_roots=[str(media)],
                       path_mappings=[f"/data/tv={media}/tv", f"/movies/={media}/movies"])
        with app.database.session() as session:  # type: ignore[attr-defined]
            now = utcnow()
            session.add(LanguageProfile(name="Anime", items_json='[{"language": "de"}]',
                                        tags_json='["ANIME"]', created_at=now, updated_at=now))
            session.add(LanguageProfile(name="Kids", items_json='[{"language": "fr"}]',
                                        tags_json='["kids"]', created_at=now, updated_at=now))
        try:
            yield World(app, sonarr, radarr, s_server, media)
        finally:
            close_app(app)


def with_values(settings: Settings, **changes: Any) -> Settings:
    return Settings({**settings.values, **changes})


def snapshot(app: Flask) -> dict[str, list[dict[str, Any]]]:
    result = {}
    with app.database.session() as session:  # type: ignore[attr-defined]
        for model in (Series, Movie, MediaFile, WantedItem):
            rows = session.scalars(select(model).order_by(model.id)).all()
            result[model.__tablename__] = [
                {c.name: getattr(r, c.name) for c in model.__table__.columns} for r in rows]
    return result


def profile_id(app: Flask, name: str) -> int:
    with app.database.session() as session:  # type: ignore[attr-defined]
        return session.scalars(select(LanguageProfile.id)
                               .where(LanguageProfile.name == name)).one()


def test_sync_creates_rows_with_mapped_paths_and_tag_profiles(world: World) -> None:
    report = world.sync()
    assert report.errors == []
    assert (report.series_created, report.movies_created, report.files_created) == (2, 2, 4)
    assert report.profiles_assigned == 2
    media = world.media
    anime, kids = profile_id(world.app, "Anime"), profile_id(world.app, "Kids")
    with world.app.database.session() as session:  # type: ignore[attr-defined]
        frieren = session.scalars(select(Series).where(Series.title == "Frieren")).one()
        assert frieren.path == f"{media}/tv/Frieren"
        assert (frieren.tvdb_id, frieren.imdb_id, frieren.year) == (424536, "tt22248376", 2023)
        assert (frieren.arr_instance, frieren.arr_id) == ("sonarr", 1)
        assert json.loads(frieren.tags_json) == ["anime"]
        assert frieren.profile_id == anime
        severance = session.scalars(select(Series).where(Series.title == "Severance")).one()
        assert severance.path == f"{media}/tv/Severance"
        assert severance.profile_id is None
        episode = session.scalars(select(MediaFile).where(
            MediaFile.path == f"{media}/tv/Frieren/Season 01/Frieren - S01E05.mkv")).one()
        assert (episode.kind, episode.series_id, episode.season, episode.episode,
                episode.absolute_episode, episode.arr_episode_id) == (
            "episode", frieren.id, 1, 5, 5, 1011)
        assert (episode.release_group, episode.source, episode.resolution,
                episode.video_codec) == ("SubsPlease", "Web", "1080p", "h264")
        assert episode.missing is False
        hdtv = session.scalars(select(MediaFile).where(MediaFile.season == 2)).one()
        assert (hdtv.source, hdtv.resolution) == ("HDTV", "720p")
        movie = session.scalars(select(Movie).where(Movie.tmdb_id == 129)).one()
        assert movie.path == f"{media}/movies/Spirited Away (2001)"
        assert movie.profile_id == kids
        movie_file = session.scalars(select(MediaFile).where(MediaFile.movie_id == movie.id)).one()
        assert movie_file.path == f"{media}/movies/Spirited Away (2001)/Spirited.Away.2001.mkv"
        assert (movie_file.kind, movie_file.source, movie_file.resolution,
                movie_file.release_group) == ("movie", "Blu-ray", "1080p", "FLUX")
    calls = world.sonarr_server.calls("/api/v3/episode")
    assert sorted(c.args["seriesId"] for c in calls) == ["1", "2"]
    assert all(c.headers.get("X-Api-Key") == "sonarr-key" for c in world.sonarr_server.calls())


def test_second_sync_changes_nothing(world: World) -> None:
    world.sync()
    before = snapshot(world.app)
    report = world.sync()
    assert report.changed == 0 and report.errors == []
    assert snapshot(world.app) == before


def test_user_profile_choice_is_kept(world: World) -> None:
    world.sync()
    kids = profile_id(world.app, "Kids")
    with world.app.database.session() as session:  # type: ignore[attr-defined]
        session.scalars(select(Series).where(Series.title == "Frieren")).one().profile_id = kids
    world.sync()
    with world.app.database.session() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(Series.profile_id)
                               .where(Series.title == "Frieren")).one() == kids


@pytest.mark.parametrize("failure", ["500", "401", "empty"])
def test_failing_or_empty_arr_leaves_rows_untouched(world: World, failure: str) -> None:
    world.sync()
    with world.app.database.session() as session:  # type: ignore[attr-defined]
        media_file = session.scalars(select(MediaFile).order_by(MediaFile.id)).first()
        assert media_file is not None
        now = utcnow()
        session.add(WantedItem(media_file_id=media_file.id, language="de", status="ignored",
                               attempts=3, created_at=now, updated_at=now))
    before = snapshot(world.app)
    for fake in (world.sonarr, world.radarr):
        if failure == "empty":
            fake.empty = True
        else:
            fake.fail_with = int(failure)
    report = world.sync()
    assert report.changed == 0
    assert snapshot(world.app) == before
    if failure == "empty":
        assert report.errors == []
    else:
        assert [e["instance"] for e in report.errors] == ["sonarr", "radarr"]
        assert all(failure in e["error"] for e in report.errors)


def test_one_series_failing_keeps_the_others(world: World) -> None:
    world.sonarr.files.append({"id": 99, "seriesId": 2, "path": 5})  # a malformed entry
    report = world.sync()
    assert report.files_created == 4


def test_several_instances(world: World, tmp_path: Path) -> None:
    anime = FakeSonarr(api_key="anime-key")
    seed_sonarr(anime, root="/anime", offset=100)
    with serve(anime.app) as server:
        settings = with_values(
            world.app.settings,  # type: ignore[attr-defined]
            arr_instances=json.dumps([{"name": "anime", "kind": "sonarr", "url": server.url,
                                       "api_key": "anime-key"}]),
            path_mappings=[*world.app.settings.path_mappings,  # type: ignore[attr-defined]
                           f"/anime={world.media}/anime"])
        report = sync_arr(world.app.database, settings)  # type: ignore[attr-defined]
    assert report.instances == ["sonarr", "radarr", "anime"]
    assert report.errors == [] and report.series_created == 4
    with world.app.database.session() as session:  # type: ignore[attr-defined]
        rows = session.scalars(select(Series).where(Series.arr_instance == "anime")).all()
        assert sorted(r.path for r in rows) == [f"{world.media}/anime/Frieren",
                                                f"{world.media}/anime/Severance"]
        assert sorted(r.arr_id for r in rows) == [101, 102]


def test_instances_setting_errors_name_the_setting(world: World) -> None:
    settings = world.app.settings  # type: ignore[attr-defined]
    for raw in ("[{", '{"name": "x"}', '[{"name": "a", "kind": "lidarr", "url": "u", '
                '"api_key": "k"}]', '[{"name": "sonarr", "kind": "sonarr", "url": "u", '
                '"api_key": "k"}]'):
        with pytest.raises(ConfigError, match="SUBLARR_ARR_INSTANCES"):
            configured_instances(with_values(settings, arr_instances=raw))


def test_client_error_mapping(world: World) -> None:
    url = world.sonarr_server.url
    assert test_connection(ArrInstance("s", "sonarr", url, "sonarr-key"))["version"] == \
        "3.0.10.1567"
    refused = test_connection(ArrInstance("s", "sonarr", url, "wrong"))
    assert refused["ok"] is False and "API key" in refused["error"]
    with pytest.raises(ArrConfigError):
        ArrClient(ArrInstance("s", "sonarr", url, "wrong")).series()
    world.sonarr.fail_with = 503
    with pytest.raises(ArrUnavailable):
        ArrClient(ArrInstance("s", "sonarr", url, "sonarr-key")).series()
    with pytest.raises(ArrUnavailable):
        ArrClient(ArrInstance("s", "sonarr", "http://127.0.0.1:9", "k"), timeout=2).series()
    html = Flask("not_sonarr")
    html.add_url_rule("/api/v3/series", "series", lambda: "<html>login</html>")
    with serve(html) as server, pytest.raises(ArrBadResponse):
        ArrClient(ArrInstance("s", "sonarr", server.url, "k")).series()


def test_path_mappings() -> None:
    mappings = parse_path_mappings(["/data=/mnt/data", "/data/tv/=/srv/tv",
                                    r"D:\Media=/media"])
    assert map_path("/data/tv/Show/e.mkv", mappings) == "/srv/tv/Show/e.mkv"
    assert map_path("/data/movies/m.mkv", mappings) == "/mnt/data/movies/m.mkv"
    assert map_path("/data/tvshows/x.mkv", mappings) == "/mnt/data/tvshows/x.mkv"
    assert map_path("/database/x.mkv", mappings) == "/database/x.mkv"
    assert map_path("/data/tv", mappings) == "/srv/tv"
    assert map_path(r"D:\Media\Show\S01E01.mkv", mappings) == "/media/Show/S01E01.mkv"
    assert map_path(r"E:\Other\x.mkv", mappings) == r"E:\Other\x.mkv"
    with pytest.raises(ConfigError, match="SUBLARR_PATH_MAPPINGS"):
        parse_path_mappings(["/no-equals"])


def test_quality_fields() -> None:
    assert quality_fields("WEBDL-1080p") == ("Web", "1080p")
    assert quality_fields("Bluray-2160p") == ("Blu-ray", "2160p")
    assert quality_fields("HDTV-720p") == ("HDTV", "720p")
    assert quality_fields({"quality": {"source": "webRip", "resolution": 480}}) == ("Web", "480p")
    assert quality_fields({"quality": {"name": "Unknown", "source": "unknown",
                                       "resolution": 0}}) == (None, None)
    assert quality_fields(None) == (None, None)


def test_library_sync_runs_the_arr_sync_then_fills_the_wanted_list(world: World) -> None:
    from wanted import scan_and_refresh

    report = scan_and_refresh(world.app.database, world.app.settings)  # type: ignore[attr-defined]
    assert report["arr"]["errors"] == []
    assert report["arr"]["files_created"] == 4
    assert report["scan"]["files_seen"] == 0  # nothing on disk yet: rows stay as Sonarr said
    with world.app.database.session() as session:  # type: ignore[attr-defined]
        wanted = session.execute(
            select(MediaFile.path, WantedItem.language).join(WantedItem)
            .where(MediaFile.absolute_episode == 5)).all()
    assert [language for _, language in wanted] == ["de"]  # the "anime" tag's profile


def test_api_lists_the_instances_and_tests_one(world: World) -> None:
    from tests.test_api_helpers import Api, assert_error

    api = Api(world.app)
    listed = api.get("/api/v1/system/arr").get_json()["instances"]
    assert [(i["name"], i["kind"]) for i in listed] == [("sonarr", "sonarr"),
                                                       ("radarr", "radarr")]
    assert all("api_key" not in i for i in listed)
    answer = api.post("/api/v1/system/arr/sonarr/test").get_json()
    assert answer == {"name": "sonarr", "kind": "sonarr", "ok": True,
                      "version": "3.0.10.1567"}
    world.sonarr.fail_with = 503
    down = api.post("/api/v1/system/arr/sonarr/test").get_json()
    assert down["ok"] is False and "503" in down["error"]
    assert_error(api.post("/api/v1/system/arr/lidarr/test"), 404, "not_found")
