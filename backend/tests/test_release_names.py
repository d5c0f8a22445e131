"""The scene-name fast path agrees with guessit on what scoring and the scanner read,
and hands every other shape to guessit."""

from __future__ import annotations

import pytest
from guessit import guessit

from release_names import anime_guess, fast_guess, scene_guess

KEYS = ("title", "year", "season", "episode", "absolute_episode", "release_group", "source",
        "screen_size", "video_codec")


@pytest.mark.parametrize("name", [
    "Sousou.no.Frieren.S01E05.1080p.WEB-DL.x264-SubsPlease",
    "Sousou.no.Frieren.S01E05.1080p.WEB-DL.x264-SubsPlease.srt",
    "Sousou.no.Frieren.S01E05.1080p.WEB-DL.en.ass",
    "The.Show.2019.S03E11.720p.HDTV.x264-KILLERS",
    "Breaking.Bad.S01E02.720p.BluRay.x264-DEMAND.en.srt",
    "Doctor.Who.2005.S01E01.720p.BluRay.x264-SHORTBREHD.en.srt",
    "show.s10e05.2160p.web.h265-xyz",
    "Show.S02E03.DVDRip.XviD",
    "Severance.S02E01.1080p.ATVP.WEB-DL.DDP5.1.H.264-NTb",
    "Show.S01E05.720p.web.mkv",
])
def test_scene_names_read_as_guessit_reads_them(name: str) -> None:
    fast = scene_guess(name)
    slow = guessit(name, {"type": "episode"})
    assert fast is not None
    assert {key: fast.get(key) for key in KEYS} == {key: slow.get(key) for key in KEYS}


def test_subtitle_marks_are_not_taken_for_a_release_group() -> None:
    fast = scene_guess("Show.S01E05.1080p.WEB-DL.x264-GRP.pt-BR.forced.srt")
    assert fast is not None and fast["release_group"] == "GRP"


@pytest.mark.parametrize("name", [
    "[SubsPlease] Sousou no Frieren - 05 (1080p) [ABCD0005].mkv",
    "[SubsPlease] Sousou no Frieren - 05 (1080p) [ABCD0005].en.ass",
    "[SubsPlease] Kusuriya no Hitorigoto - 27v2 (720p) [12345678].mkv",
    "[Judas] Frieren - 05 (1080p HEVC x265 10-bit).mkv",
    "[HorribleSubs] Boku no Hero Academia - 100 [720p].mkv",
    "[SubsPlease] Dungeon Meshi - 12 (1080p).mkv",
])
def test_fansub_names_read_as_guessit_reads_them(name: str) -> None:
    fast = anime_guess(name)
    slow = guessit(name, {"type": "episode"})
    assert fast is not None and fast_guess(name) == fast
    assert {key: fast.get(key) for key in KEYS} == {key: slow.get(key) for key in KEYS}


@pytest.mark.parametrize("name", [
    "[Erai-raws] Sousou no Frieren - 05 [1080p][Multiple Subtitle][ABCD1234].mkv",
    "[Group] Show S2 - 05 (1080p).mkv",  # a season in the title
    "[Group] Show 2023 - 05 (1080p).mkv",  # a year in the title
    "[Group] Show - 05 (BD 1080p).mkv",  # a source tag
    "[Group] Show - 01-12 (1080p).mkv",  # a batch
    "Show Name - S01E02 - Pilot.mkv",  # episode title
    "Show.S01E01E02.1080p.WEB-DL.x264-GRP",  # two episodes in one file
    "Heat.1995.1080p.BluRay.x264-GRP",  # a movie
])
def test_other_shapes_are_left_to_guessit(name: str) -> None:
    assert fast_guess(name) is None
