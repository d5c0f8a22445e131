"""Podnapisi.NET provider against the fake site (real HTTP on loopback)."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from config import load_settings
from providers.base import (
    BadResponse,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SubtitleRejected,
    SubtitleResult,
    VideoQuery,
)
from providers.http import USER_AGENT
from providers.podnapisi import PodnapisiProvider
from tests.fakes.podnapisi import FakePodnapisi, podnapisi_entry
from tests.fakes.server import FakeServer, serve

SEARCH = "/subtitles/search/advanced"
CP1250_SRT = ("1\r\n00:00:01,000 --> 00:00:02,000\r\nČez žito šumi veter.\r\n"
              ).encode("cp1250")
SRT = b"1\n00:00:01,000 --> 00:00:02,000\nHello\n"
EPISODE = VideoQuery(kind="episode", series="Breaking Bad", year=2008, season=1, episode=2)
MOVIE = VideoQuery(kind="movie", title="The Matrix", year=1999)


def catalogue() -> list:
    return [
        podnapisi_entry(pid="bB12", title="Breaking Bad", year=2008, kind="tv-series",
                        season=1, episode=2, language="sl", content=CP1250_SRT,
                        releases=["Breaking.Bad.S01E02.720p.BluRay-DEMAND"],
                        custom_releases=["Breaking.Bad.S01E02.HDTV-XOR",
                                         "Breaking.Bad.S01E02.720p.BluRay-DEMAND"],
                        flags=["hearing_impaired"], fps=23.976, uploader="miha",
                        file_name="Breaking.Bad.S01E02.sl.srt"),
        podnapisi_entry(pid="bB12e", title="Breaking Bad", year=2008, kind="tv-series",
                        season=1, episode=2, language="en", content=SRT,
                        flags=["foreign_only"], releases=["Breaking.Bad.S01E02.WEB"]),
        podnapisi_entry(pid="bB13", title="Breaking Bad", year=2008, kind="mini-series",
                        season=1, episode=3, language="en", content=SRT),
        podnapisi_entry(pid="bBmv", title="Breaking Bad", year=2008, kind="movie",
                        language="en", content=SRT),
        podnapisi_entry(pid="mX01", title="The Matrix", year=1999, language="en", content=SRT,
                        releases=["The.Matrix.1999.1080p.BluRay"], uploader=None),
        podnapisi_entry(pid="mX02", title="The Matrix", year=1999, language="pt-BR",
                        content=SRT, releases=["Matrix.1999.BRRip"]),
        podnapisi_entry(pid="mX03", title="The Matrix Reloaded", year=2003, language="en",
                        content=SRT),
    ]


@pytest.fixture
def fake() -> FakePodnapisi:
    site = FakePodnapisi()
    site.add(*catalogue())
    return site


@pytest.fixture
def server(fake: FakePodnapisi) -> Iterator[FakeServer]:
    with serve(fake.app) as running:
        yield running


def provider(server: FakeServer, **kwargs: object) -> PodnapisiProvider:
    options: dict[str, object] = {"base_url": server.url, "timeout": 5.0}
    options.update(kwargs)
    return PodnapisiProvider(**options)  # type: ignore[arg-type]


def by_id(results: list[SubtitleResult]) -> dict[str, SubtitleResult]:
    return {r.id: r for r in results}


# -- search -------------------------------------------------------------------------------


def test_episode_search_sends_json_accept_and_the_documented_parameters(
        server: FakeServer, fake: FakePodnapisi) -> None:
    results = by_id(provider(server).search(EPISODE, ["sl", "en"]))

    calls = server.calls(SEARCH)
    assert len(calls) == 2  # one language per request
    for call in calls:
        assert call.headers.get("Accept") == "application/json"
        assert call.headers.get("User-Agent") == USER_AGENT
    series = [("keywords", "Breaking Bad"), ("seasons", "1"), ("episodes", "2"),
              ("movie_type", "tv-series"), ("movie_type", "mini-series"), ("year", "2008")]
    # Asked side by side, so in either order.
    assert sorted(fake.searches) == [[*series, ("language", "en")],
                                     [*series, ("language", "sl")]]
    # The movie with the series' name and the other episode are not this episode.
    assert set(results) == {"bB12", "bB12e"}


def test_the_languages_are_asked_side_by_side(fake: FakePodnapisi) -> None:
    # Each search waits at a barrier for the other: asked one after the other, the first
    # would time out there and the site would answer 500.
    barrier = threading.Barrier(2, timeout=5)
    site = fake.app.wsgi_app

    def meet_then_answer(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == SEARCH:
            barrier.wait()
        return site(environ, start_response)

    fake.app.wsgi_app = meet_then_answer  # type: ignore[method-assign]
    with serve(fake.app) as running:
        results = by_id(provider(running).search(EPISODE, ["sl", "en"]))
    assert set(results) == {"bB12", "bB12e"}
    assert not barrier.broken


def test_mini_series_episodes_are_found(server: FakeServer) -> None:
    query = VideoQuery(kind="episode", series="Breaking Bad", season=1, episode=3)

    assert [r.id for r in provider(server).search(query, ["en"])] == ["bB13"]


def test_anime_without_season_searches_the_absolute_number(
        server: FakeServer, fake: FakePodnapisi) -> None:
    fake.add(podnapisi_entry(pid="fr25", title="Frieren", year=2023, kind="tv-series",
                             season=None, episode=25, language="en", content=SRT))
    query = VideoQuery(kind="episode", series="Frieren", absolute_episode=25)

    assert [r.id for r in provider(server).search(query, ["en"])] == ["fr25"]
    assert ("seasons", "1") not in fake.searches[0]
    assert ("episodes", "25") in fake.searches[0]


def test_search_parses_flags_releases_and_links(server: FakeServer) -> None:
    results = by_id(provider(server).search(EPISODE, ["sl", "en"]))

    sl = results["bB12"]
    assert sl.provider == "podnapisi" and sl.language == "sl"
    assert sl.hearing_impaired and not sl.forced
    assert sl.release_names == ["Breaking.Bad.S01E02.720p.BluRay-DEMAND",
                                "Breaking.Bad.S01E02.HDTV-XOR"]
    assert sl.fps == 23.976 and sl.uploader == "miha" and sl.format == "unknown"
    assert sl.download_ref == {"id": "bB12"}
    assert sl.page_url == f"{server.url}/subtitles/sl-breaking-bad-2008/bB12"
    assert sl.extra == {"title": "Breaking Bad", "year": 2008, "type": "tv-series",
                        "season": 1, "episode": 2}
    en = results["bB12e"]
    assert en.forced and not en.hearing_impaired and en.fps is None


def test_movie_search_and_regional_language(server: FakeServer,
                                            fake: FakePodnapisi) -> None:
    results = provider(server).search(MOVIE, ["pt-BR", "en"])

    assert {(r.id, r.language) for r in results} == {("mX01", "en"), ("mX02", "pt-BR")}
    movie = [("keywords", "The Matrix"), ("movie_type", "movie"), ("year", "1999")]
    assert sorted(fake.searches) == [[*movie, ("language", "en")],
                                     [*movie, ("language", "pt-BR")]]
    assert by_id(results)["mX01"].uploader is None


def test_duplicates_are_dropped_and_pages_followed(server: FakeServer,
                                                  fake: FakePodnapisi) -> None:
    fake.per_page = 1
    fake.duplicate_ids.add("mX01")
    fake.add(podnapisi_entry(pid="mX04", title="The Matrix", year=1999, language="en",
                             content=SRT))

    results = provider(server, max_pages=5).search(MOVIE, ["en"])

    assert [r.id for r in results] == ["mX01", "mX04"]
    assert [c.args.get("page") for c in server.calls(SEARCH)] == [None, "2", "3"]


def test_nothing_to_search_by_makes_no_call(server: FakeServer) -> None:
    assert provider(server).search(VideoQuery(kind="movie"), ["en"]) == []
    assert provider(server).search(VideoQuery(kind="episode", series="X"), ["en"]) == []
    assert provider(server).search(MOVIE, ["not-a-language"]) == []
    assert server.count() == 0


def test_fake_answers_html_without_the_json_accept_header(server: FakeServer) -> None:
    page = requests.get(server.url + SEARCH, params={"keywords": "matrix"}, timeout=5)
    data = requests.get(server.url + SEARCH, params={"keywords": "matrix"},
                        headers={"Accept": "application/json"}, timeout=5)

    assert page.headers["Content-Type"].startswith("text/html")
    assert {item["id"] for item in data.json()["data"]} == {"mX01", "mX02", "mX03"}


# -- download -----------------------------------------------------------------------------


def test_download_returns_the_zip_bytes_through_the_redirect(
        server: FakeServer, fake: FakePodnapisi) -> None:
    client = provider(server)
    result = by_id(client.search(EPISODE, ["sl"]))["bB12"]

    data = client.download(result)

    assert data == fake.entries[0].archive
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("Breaking.Bad.S01E02.sl.srt") == CP1250_SRT
    hops = [(c.path, c.args) for c in server.requests if "download" in c.path]
    assert hops == [("/subtitles/bB12/download", {"container": "zip"}),
                    ("/en/subtitles/sl-breaking-bad-2008/bB12/download",
                     {"container": "zip"})]


def test_download_of_a_removed_subtitle_is_rejected(server: FakeServer) -> None:
    client = provider(server)
    result = by_id(client.search(MOVIE, ["en"]))["mX01"]
    gone = SubtitleResult.from_dict({**result.to_dict(), "download_ref": {"id": "zz99"}})

    with pytest.raises(SubtitleRejected):
        client.download(gone)
    with pytest.raises(BadResponse):
        client.download(SubtitleResult.from_dict({**result.to_dict(), "download_ref": {}}))


def test_download_answering_html_instead_of_a_zip_is_a_bad_response(
        server: FakeServer, fake: FakePodnapisi) -> None:
    client = provider(server)
    result = by_id(client.search(MOVIE, ["en"]))["mX01"]
    fake.fail_next("/en/subtitles/", "not-zip")

    with pytest.raises(BadResponse, match="zip"):
        client.download(result)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error"), [
    ("500", ProviderUnavailable), ("503", ProviderUnavailable), ("403", ProviderUnavailable),
    ("html", BadResponse), ("truncated", BadResponse)])
def test_broken_answers_map_to_the_error_hierarchy(server: FakeServer, fake: FakePodnapisi,
                                                   kind: str, error: type) -> None:
    fake.fail_next(SEARCH, kind)

    with pytest.raises(error) as caught:
        provider(server).search(MOVIE, ["en"])

    assert type(caught.value) is error


def test_throttling_raises_rate_limited_until_retry_after(server: FakeServer,
                                                          fake: FakePodnapisi) -> None:
    fake.rate_limit = (1, 60.0)
    client = provider(server)
    client.search(MOVIE, ["en"])
    before = datetime.now(UTC)

    with pytest.raises(RateLimited) as caught:
        client.search(MOVIE, ["en"])

    assert before + timedelta(seconds=55) <= caught.value.retry_at
    assert caught.value.retry_at <= datetime.now(UTC) + timedelta(seconds=60)


def test_maintenance_503_with_retry_after_is_rate_limited(server: FakeServer,
                                                         fake: FakePodnapisi) -> None:
    fake.fail_next(SEARCH, "503-retry")
    before = datetime.now(UTC)

    with pytest.raises(RateLimited) as caught:
        provider(server).search(MOVIE, ["en"])

    assert before + timedelta(seconds=119) <= caught.value.retry_at
    assert caught.value.retry_at <= datetime.now(UTC) + timedelta(seconds=120)


def test_unreachable_site_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        PodnapisiProvider(base_url="http://127.0.0.1:9", timeout=1.0).search(MOVIE, ["en"])
    assert not isinstance(caught.value, ProviderTimeout)


# -- contract -----------------------------------------------------------------------------


def test_results_round_trip_through_json(server: FakeServer) -> None:
    results = provider(server).search(EPISODE, ["sl", "en"])

    assert results
    for result in results:
        assert SubtitleResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_connection_test_makes_one_json_search(server: FakeServer) -> None:
    assert provider(server).test_connection() == {"ok": True, "results": 0}
    assert server.calls(SEARCH)[0].headers.get("Accept") == "application/json"


def test_from_settings_reads_its_settings_and_does_no_io() -> None:
    settings = load_settings({"podnapisi_url": "http://127.0.0.1:9/",
                              "provider_timeout": 2.5}, environ={})

    client = PodnapisiProvider.from_settings(settings)

    assert client.name == "podnapisi" and client.base_url == "http://127.0.0.1:9"
    assert client.http.timeout == 2.5
    assert set(client.query_keys) <= set(VideoQuery.__dataclass_fields__)
    client.close()
