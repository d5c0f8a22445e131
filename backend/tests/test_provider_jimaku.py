"""Jimaku provider against a fake jimaku.cc over real HTTP: raw-key authentication on
every call, search by AniList id and by name, episode filtering, formats, languages,
throttling and error replies, exact downloads (real zip and 7z archives)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import py7zr
import pytest

from config import load_settings
from providers.base import (
    AuthenticationError,
    BadResponse,
    ProviderConfigError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SubtitleResult,
    VideoQuery,
)
from providers.jimaku import JimakuProvider, file_format, file_language
from providers.matching import episode_in_name
from subtitles import prepare_download
from tests.fakes.jimaku import API_KEY, FakeEntry, FakeFile, FakeJimaku
from tests.fakes.server import FakeServer, serve

SERIES = "Hoshizora no Tabibito"
ASS_05 = (
    "[Script Info]\nTitle: 星空の旅人 第5話\nScriptType: v4.00+\nPlayResX: 1920\n"
    "PlayResY: 1080\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, "
    "SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, "
    "ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
    "MarginR, MarginV, Encoding\nStyle: Default,Noto Sans CJK JP,52,&H00FFFFFF,"
    "&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,2,40,40,40,1\n\n"
    "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
    "Effect, Text\nDialogue: 0,0:00:01.00,0:00:03.50,Default,,0,0,0,,夜空に一番近い駅へ\n"
    "Dialogue: 0,0:00:04.00,0:00:06.00,Default,,0,0,0,,切符を二枚ください\n"
).encode("utf-8-sig")
SRT_05 = "1\r\n00:00:01,000 --> 00:00:03,500\r\n汽笛が鳴る\r\n".encode("shift_jis")


def zip_bytes(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def seven_zip_bytes(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(data, name)
    return buffer.getvalue()


ZIP_05 = zip_bytes(f"{SERIES} - 05.ass", ASS_05)
SEVEN_Z_05 = seven_zip_bytes(f"{SERIES} - 05.ass", ASS_05)
RAR_STUB = b"Rar!\x1a\x07\x01\x00" + b"\x00" * 64


def catalogue() -> list[FakeEntry]:
    return [
        FakeEntry(3101, SERIES, anilist_id=990001, english_name="Starlit Wayfarer",
                  japanese_name="星空の旅人", files=[
                      FakeFile(f"[Kaze-Subs] {SERIES} - 04 (1080p) [1A2B3C4D].ass", b"ep4"),
                      FakeFile(f"[Kaze-Subs] {SERIES} - 05 (1080p) [5E6F7A8B].ass", ASS_05),
                      FakeFile("Hoshizora.no.Tabibito.S01E05.1080p.WEB-DL.ja[cc].srt", SRT_05),
                      FakeFile("Hoshizora.no.Tabibito.S01E05.1080p.WEB-DL.en.srt", b"1\n"),
                      FakeFile(f"{SERIES} - 05 [Fansub].zip", ZIP_05),
                      FakeFile(f"{SERIES} - 05 [BD].7z", SEVEN_Z_05),
                      FakeFile(f"{SERIES} - 05 [Web].rar", RAR_STUB),
                      FakeFile(f"{SERIES} - 05 notes.txt", b"thanks for watching"),
                  ]),
        FakeEntry(3102, f"{SERIES} 2", anilist_id=990002,
                  english_name="Starlit Wayfarer Season 2", files=[
                      FakeFile(f"[Kaze-Subs] {SERIES} S2 - 05 (1080p).ass", b"s2e5")]),
        FakeEntry(3200, "Kessoku Gakuen", anilist_id=990100, files=[
            FakeFile("Kessoku Gakuen S01 1-12 [BD].zip", ZIP_05),
            FakeFile("Kessoku Gakuen - 03 [WEB].ass", b"ep3")]),
        FakeEntry(4001, "Yoru no Kissaten", anime=False, files=[
            FakeFile("Yoru no Kissaten E05.srt", SRT_05)]),
        FakeEntry(5001, f"{SERIES} Gekijouban", anilist_id=990050, movie=True, files=[
            FakeFile(f"{SERIES} Gekijouban [BD 1080p].ass", ASS_05)]),
    ]


@pytest.fixture
def fake() -> FakeJimaku:
    return FakeJimaku(catalogue())


@pytest.fixture
def server(fake: FakeJimaku) -> Iterator[FakeServer]:
    with serve(fake.app) as running:
        yield running


def make(server: FakeServer, **kwargs: object) -> JimakuProvider:
    options: dict[str, object] = {"base_url": server.url, "api_key": API_KEY, "timeout": 5.0}
    options.update(kwargs)
    return JimakuProvider(**options)  # type: ignore[arg-type]


def episode(number: int = 5, **kwargs: object) -> VideoQuery:
    fields: dict[str, object] = {"kind": "episode", "series": SERIES, "season": 1,
                                 "episode": number}
    fields.update(kwargs)
    return VideoQuery(**fields)  # type: ignore[arg-type]


def names(results: list[SubtitleResult]) -> list[str]:
    return sorted(r.release_names[0] for r in results)


# -- search -----------------------------------------------------------------------------


def test_search_by_anilist_id_sends_the_raw_key_on_every_call(
        server: FakeServer) -> None:
    provider = make(server)
    results = provider.search(episode(anilist_id=990001), ["ja"])

    searches = server.calls("/api/entries/search")
    assert [c.args for c in searches] == [{"anilist_id": "990001", "anime": "true"}]
    assert [c.args for c in server.calls("/api/entries/3101/files")] == [{"episode": "5"}]
    assert names(results) == sorted([
        f"[Kaze-Subs] {SERIES} - 05 (1080p) [5E6F7A8B].ass",
        "Hoshizora.no.Tabibito.S01E05.1080p.WEB-DL.ja[cc].srt",
        f"{SERIES} - 05 [Fansub].zip", f"{SERIES} - 05 [BD].7z", f"{SERIES} - 05 [Web].rar",
    ])
    provider.download(results[0])
    assert server.requests and all(
        r.headers.get("Authorization") == API_KEY for r in server.requests)
    assert all("User-Agent" in r.headers and r.headers["User-Agent"].startswith("Sublarr v")
               for r in server.requests)


def test_the_entry_of_a_series_is_looked_up_once_for_all_its_episodes(
        server: FakeServer) -> None:
    provider = make(server)
    fourth = provider.search(episode(4, anilist_id=990001), ["ja"])
    fifth = provider.search(episode(5, anilist_id=990001), ["ja"])
    assert names(fourth) == [f"[Kaze-Subs] {SERIES} - 04 (1080p) [1A2B3C4D].ass"]
    assert len(fifth) == 5
    assert server.count("/api/entries/search") == 1
    assert [c.args for c in server.calls("/api/entries/3101/files")] == [
        {"episode": "4"}, {"episode": "5"}]
    # An unknown id is asked again next time: nothing empty is remembered.
    provider.search(episode(5, anilist_id=424242), ["ja"])
    provider.search(episode(5, anilist_id=424242), ["ja"])
    assert server.count("/api/entries/search") == 1 + 2 * 2


def test_search_by_name_without_anilist_id(server: FakeServer) -> None:
    results = make(server).search(episode(), ["ja"])
    assert [c.args for c in server.calls("/api/entries/search")] == [
        {"query": SERIES, "anime": "true"}]
    # "Hoshizora no Tabibito 2" matched the words too, but only the exact name is used.
    assert server.count("/api/entries/3102/files") == 0
    assert {r.extra["entry_id"] for r in results} == {3101}
    assert results[0].page_url == f"{server.url}/entry/3101"


def test_later_season_searches_by_name_with_the_season(server: FakeServer) -> None:
    results = make(server).search(episode(season=2), ["ja"])
    assert server.calls("/api/entries/search")[0].args["query"] == f"{SERIES} 2"
    assert names(results) == [f"[Kaze-Subs] {SERIES} S2 - 05 (1080p).ass"]


def test_live_action_titles_are_found_with_anime_false(server: FakeServer) -> None:
    query = VideoQuery(kind="episode", series="Yoru no Kissaten", season=1, episode=5)
    results = make(server).search(query, ["ja"])
    assert [c.args["anime"] for c in server.calls("/api/entries/search")] == ["true", "false"]
    assert names(results) == ["Yoru no Kissaten E05.srt"]


def test_absolute_episode_is_the_number_asked_for(server: FakeServer) -> None:
    query = episode(number=1, season=2, absolute_episode=5, anilist_id=990001)
    results = make(server).search(query, ["ja"])
    assert server.calls("/api/entries/3101/files")[0].args == {"episode": "5"}
    assert f"[Kaze-Subs] {SERIES} - 05 (1080p) [5E6F7A8B].ass" in names(results)


def test_episode_filter_is_checked_again_on_our_side(server: FakeServer,
                                                     fake: FakeJimaku) -> None:
    # A server-side guess that lets another episode through must not become a result.
    fake.entries[0].files.append(FakeFile(f"{SERIES} - 04 [E05 preview].ass", b"x"))
    results = make(server).search(episode(anilist_id=990001), ["ja"])
    assert not any(" - 04 " in n for n in names(results))


def test_season_pack_is_kept_when_no_file_names_the_episode(server: FakeServer) -> None:
    query = VideoQuery(kind="episode", series="Kessoku Gakuen", season=1, episode=5,
                       anilist_id=990100)
    results = make(server).search(query, ["ja"])
    assert [c.args for c in server.calls("/api/entries/3200/files")] == [{"episode": "5"}, {}]
    assert names(results) == ["Kessoku Gakuen S01 1-12 [BD].zip"]
    assert results[0].format == "unknown"
    assert results[0].extra["archive"] == "zip"


def test_movie_lists_files_without_an_episode(server: FakeServer) -> None:
    query = VideoQuery(kind="movie", title=f"{SERIES} Gekijouban", anilist_id=990050)
    results = make(server).search(query, ["ja"])
    assert server.calls("/api/entries/5001/files")[0].args == {}
    assert names(results) == [f"{SERIES} Gekijouban [BD 1080p].ass"]


def test_formats_languages_and_hearing_impaired(server: FakeServer) -> None:
    results = {r.release_names[0]: r for r in
               make(server).search(episode(anilist_id=990001), ["ja", "en"])}
    formats = {name.rsplit(".", 1)[1]: (r.format, r.extra.get("archive"))
               for name, r in results.items() if r.language == "ja"}
    assert formats == {"ass": ("ass", None), "srt": ("srt", None),
                       "zip": ("unknown", "zip"), "7z": ("unknown", "7z"),
                       "rar": ("unknown", "rar")}
    english = results["Hoshizora.no.Tabibito.S01E05.1080p.WEB-DL.en.srt"]
    assert english.language == "en"
    assert results["Hoshizora.no.Tabibito.S01E05.1080p.WEB-DL.ja[cc].srt"].hearing_impaired
    assert not english.hearing_impaired
    assert not any(n.endswith(".txt") for n in results)


def test_language_filter(server: FakeServer) -> None:
    english = make(server).search(episode(anilist_id=990001), ["en"])
    assert names(english) == ["Hoshizora.no.Tabibito.S01E05.1080p.WEB-DL.en.srt"]
    server.reset()
    assert make(server).search(episode(anilist_id=990001), ["de", "fr"]) == []
    assert server.requests == []  # Jimaku has no German or French: no call at all


def test_nothing_to_search_by_makes_no_call(server: FakeServer) -> None:
    assert make(server).search(VideoQuery(kind="episode", episode=5), ["ja"]) == []
    assert server.requests == []


def test_results_round_trip_through_json(server: FakeServer) -> None:
    results = make(server).search(episode(anilist_id=990001), ["ja", "en"])
    assert results
    for result in results:
        copy = SubtitleResult.from_dict(json.loads(json.dumps(result.to_dict())))
        assert copy == result
        assert set(copy.download_ref) == {"url", "name"}
        assert copy.id.startswith("3101/")


@pytest.mark.parametrize(("name", "expected"), [
    ("[Kaze-Subs] Show - 05 (1080p) [5E6F7A8B].ass", (5, None)),
    ("Show.S02E07.1080p.WEB-DL.ja[cc].srt", (7, 2)),
    ("Show 第12話.srt", (12, None)),
    ("[Grp][Show][05v2][1080P].ass", (5, None)),
    ("Show_05_[720p].ass", (5, None)),
    ("Show 01-12 [BD].zip", (None, None)),
    ("Show - 01~12.rar", (None, None)),
    ("Show (2023) S01 1080p x265.7z", (None, None)),
])
def test_episode_numbers_in_names(name: str, expected: tuple[int | None, int | None]) -> None:
    found = episode_in_name(name)
    assert (found.episode, found.season) == expected


def test_format_and_language_from_names() -> None:
    assert file_format("a.ASS") == ("ass", None)
    assert file_format("a.vtt") == ("vtt", None)
    assert file_format("a.7z") == ("unknown", "7z")
    assert file_format("a.sup") is None
    assert file_language("Show - 05 [English].ass") == "en"
    assert file_language("Show - 05 [GB_BIG5_JP].ass") == "ja"
    assert file_language("Show - 05.chs.ass") == "zh"
    assert file_language("Show - 05.srt") == "ja"


# -- errors -----------------------------------------------------------------------------


def test_missing_key_is_a_configuration_error_at_search_time(server: FakeServer) -> None:
    provider = JimakuProvider(base_url=server.url)  # constructing needs no key, no I/O
    with pytest.raises(ProviderConfigError, match="SUBLARR_JIMAKU_API_KEY"):
        provider.search(episode(anilist_id=990001), ["ja"])
    with pytest.raises(ProviderConfigError):
        provider.test_connection()
    assert server.requests == []


def test_wrong_key_is_an_authentication_error(server: FakeServer) -> None:
    with pytest.raises(AuthenticationError, match="401"):
        make(server, api_key="not-the-key").search(episode(anilist_id=990001), ["ja"])


def test_bearer_prefix_is_not_what_jimaku_wants(server: FakeServer) -> None:
    with pytest.raises(AuthenticationError):
        make(server, api_key=f"Bearer {API_KEY}").test_connection()


def test_429_gives_retry_at_from_x_ratelimit_reset_after(server: FakeServer,
                                                         fake: FakeJimaku) -> None:
    fake.fault = "429"
    fake.reset_after = 42.5
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        make(server).search(episode(anilist_id=990001), ["ja"])
    after = datetime.now(UTC)
    assert before + timedelta(seconds=42.5) <= caught.value.retry_at
    assert caught.value.retry_at <= after + timedelta(seconds=42.5)


def test_exceeding_the_real_limit_is_rate_limited(server: FakeServer,
                                                  fake: FakeJimaku) -> None:
    fake.limit = 1  # the search passes, the file listing is the second request
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        make(server).search(episode(anilist_id=990001), ["ja"])
    assert server.count("/api/entries/3101/files") == 1
    assert before < caught.value.retry_at <= before + timedelta(seconds=fake.window + 1)


@pytest.mark.parametrize(("fault", "error"), [
    ("html", BadResponse), ("truncated", BadResponse), ("500", ProviderUnavailable)])
def test_unreadable_or_failed_answers(server: FakeServer, fake: FakeJimaku, fault: str,
                                      error: type[Exception]) -> None:
    fake.fault = fault
    with pytest.raises(error):
        make(server).search(episode(anilist_id=990001), ["ja"])


def test_slow_answer_is_a_timeout(server: FakeServer, fake: FakeJimaku) -> None:
    fake.fault, fake.delay = "slow", 1.0
    with pytest.raises(ProviderTimeout):
        make(server, timeout=0.2).search(episode(anilist_id=990001), ["ja"])


def test_connection_probe(server: FakeServer) -> None:
    answer = make(server).test_connection()
    assert answer["ok"] is True
    assert answer["rate_limit_remaining"] is not None
    assert server.calls("/api/entries/search")[0].args == {"anilist_id": "1", "anime": "true"}
    with pytest.raises(AuthenticationError):
        make(server, api_key="wrong").test_connection()


# -- download ---------------------------------------------------------------------------


def by_suffix(results: list[SubtitleResult], suffix: str) -> SubtitleResult:
    return next(r for r in results if r.release_names[0].endswith(suffix))


def test_downloads_are_byte_exact(server: FakeServer, tmp_path: Path) -> None:
    provider = make(server)
    results = provider.search(episode(anilist_id=990001), ["ja"])
    assert provider.download(by_suffix(results, "[5E6F7A8B].ass")) == ASS_05
    assert provider.download(by_suffix(results, "ja[cc].srt")) == SRT_05
    zipped = provider.download(by_suffix(results, ".zip"))
    assert zipped == ZIP_05
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        assert archive.read(f"{SERIES} - 05.ass") == ASS_05
    seven = provider.download(by_suffix(results, ".7z"))
    assert seven == SEVEN_Z_05
    with py7zr.SevenZipFile(io.BytesIO(seven)) as archive:
        archive.extractall(path=tmp_path)
    assert (tmp_path / f"{SERIES} - 05.ass").read_bytes() == ASS_05


def test_download_follows_a_redirect_without_leaking_the_key(server: FakeServer,
                                                             fake: FakeJimaku) -> None:
    provider = make(server)
    result = by_suffix(provider.search(episode(anilist_id=990001), ["ja"]), ".7z")
    fake.storage_redirect = True
    assert provider.download(result) == SEVEN_Z_05
    storage = [r for r in server.requests if r.path.startswith("/storage/")]
    assert len(storage) == 1
    assert "Authorization" not in storage[0].headers


def test_key_is_not_sent_to_a_file_url_on_another_host(server: FakeServer) -> None:
    result = by_suffix(make(server).search(episode(anilist_id=990001), ["ja"]), ".zip")
    elsewhere = result.download_ref["url"].replace("127.0.0.1", "localhost")
    result.download_ref = {**result.download_ref, "url": elsewhere}
    assert make(server).download(result) == ZIP_05
    assert "Authorization" not in server.requests[-1].headers


def test_download_from_a_cached_result_after_restart(server: FakeServer) -> None:
    result = by_suffix(make(server).search(episode(anilist_id=990001), ["ja"]), ".zip")
    cached = SubtitleResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert make(server).download(cached) == ZIP_05


def test_downloaded_archive_goes_through_the_download_pipeline(server: FakeServer) -> None:
    query = episode(anilist_id=990001)
    result = by_suffix(make(server).search(query, ["ja"]), ".7z")
    prepared = prepare_download(make(server).download(result), result=result, query=query,
                                max_bytes=1024 * 1024, max_entries=10)
    assert prepared.format == "ass"
    assert "夜空に一番近い駅へ" in prepared.text
    assert prepared.source_name is not None and prepared.source_name.endswith(".ass")


def test_download_limit_and_missing_file(server: FakeServer, fake: FakeJimaku) -> None:
    results = make(server).search(episode(anilist_id=990001), ["ja"])
    with pytest.raises(BadResponse, match="larger than"):
        make(server, max_download_bytes=100).download(by_suffix(results, ".7z"))
    fake.entries[0].files.clear()
    with pytest.raises(BadResponse, match="404"):
        make(server).download(by_suffix(results, ".zip"))


def test_from_settings_reads_jimaku_settings(server: FakeServer) -> None:
    settings = load_settings({"jimaku_url": server.url + "/", "jimaku_api_key": API_KEY,
                              "provider_timeout": 3.5, "archive_max_bytes": 4096},
                             environ={})
    provider = JimakuProvider.from_settings(settings)
    assert (provider.base_url, provider.api_key, provider.http.timeout,
            provider.max_download_bytes) == (server.url, API_KEY, 3.5, 4096)
    assert server.requests == []
    assert provider.test_connection()["ok"] is True
