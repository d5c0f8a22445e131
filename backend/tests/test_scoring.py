"""Scoring: what the weights mean against the default minimum scores, and ranking."""

from __future__ import annotations

from itertools import chain, combinations

import pytest

from config import load_settings
from providers.base import SubtitleResult, VideoQuery
from providers.scoring import (
    BONUSES,
    EPISODE_WEIGHTS,
    MOVIE_WEIGHTS,
    min_score_for,
    perfect_score,
    rank,
    score_result,
)

SETTINGS = load_settings(environ={})
EPISODE = VideoQuery(kind="episode", series="The Expanse", year=2015, season=2,
                     episode=5, release_group="NTb", source="Web", resolution="1080p",
                     video_codec="H.264")
MOVIE = VideoQuery(kind="movie", title="Arrival", year=2016, release_group="SPARKS",
                   source="Blu-ray", resolution="1080p", video_codec="H.264")
MAX_BONUS = BONUSES["format_ass"] + BONUSES["hi_preference_met"]


def result(*names: str, **fields) -> SubtitleResult:
    return SubtitleResult(**{"provider": "p", "id": "1", "language": "en",
                             "release_names": list(names), **fields})


def subsets(items):
    items = list(items)
    return chain.from_iterable(combinations(items, n) for n in range(len(items) + 1))


def best_case(matches, query) -> int:
    """The score of a result vouching for exactly `matches`, with every bonus."""
    scored = score_result(result(matches=list(matches), format="ass",
                                 hearing_impaired=True), query, hi_preference="prefer")
    return scored.score


def test_default_minimum_scores():
    assert min_score_for(EPISODE, SETTINGS) == 240
    assert min_score_for(MOVIE, SETTINGS) == 60


@pytest.mark.parametrize("missing", ["series", "episode", "season"])
def test_no_episode_passes_without_a_core_match(missing):
    others = [m for m in EPISODE_WEIGHTS if m not in (missing, "absolute_episode")]
    for subset in subsets(others):
        assert best_case(subset, EPISODE) < 240, subset


def test_series_season_episode_alone_pass():
    assert best_case((), EPISODE) < 240
    scored = score_result(result(matches=["series", "season", "episode"]), EPISODE)
    assert scored.score >= 240


def test_absolute_numbering_stands_in_for_season_and_episode():
    query = VideoQuery(kind="episode", series="Frieren", season=1, episode=28,
                       absolute_episode=28)
    scored = score_result(result("[SubsPlease] Frieren - 28 (1080p) [ABCD1234].mkv"), query)
    assert {"series", "absolute_episode"} <= set(scored.matches)
    assert scored.score >= 240
    # Never counted twice with season + episode.
    both = score_result(result(matches=["series", "season", "episode",
                                        "absolute_episode"]), query)
    assert both.score == EPISODE_WEIGHTS["series"] + EPISODE_WEIGHTS["absolute_episode"]


def test_movie_title_alone_fails_and_nothing_passes_without_it():
    assert best_case(("title",), MOVIE) < 60
    for subset in subsets(m for m in MOVIE_WEIGHTS if m != "title"):
        assert best_case(subset, MOVIE) < 60, subset
    assert score_result(result(matches=["title", "year"]), MOVIE).score >= 60
    assert score_result(result(matches=["title", "release_group"]), MOVIE).score >= 60


@pytest.mark.parametrize("query", [EPISODE, MOVIE], ids=["episode", "movie"])
def test_a_hash_match_is_perfect_and_passes(query):
    scored = score_result(result("unrelated name", matches=["hash"]), query)
    assert scored.score == perfect_score(query)
    assert scored.score >= min_score_for(query, SETTINGS)
    assert "hash" in scored.matches


def test_ids_vouch_for_the_title():
    assert score_result(result(matches=["imdb_id"]), MOVIE).matches == \
        ["imdb_id", "title", "year"]
    episode = score_result(result(matches=["anidb_eid"]), EPISODE)
    assert episode.score >= 240


def test_matches_read_from_release_names():
    scored = score_result(result("The.Expanse.S02E05.1080p.WEB.H264-NTb"), EPISODE)
    assert set(scored.matches) == {"series", "season", "episode", "resolution", "source",
                                   "video_codec", "release_group"}
    assert scored.score == sum(EPISODE_WEIGHTS[m] for m in scored.matches)
    wrong = score_result(result("The.Expanse.S02E06.720p.HDTV.x264-KILLERS"), EPISODE)
    assert set(wrong.matches) == {"series", "season", "video_codec"}  # x264 is H.264
    assert wrong.score < 240


def test_the_best_release_name_counts_not_a_mix():
    scored = score_result(result("The.Expanse.S02E05.720p.HDTV.x264-KILLERS",
                                 "The.Expanse.S02E05.1080p.WEB.H264-NTb"), EPISODE)
    assert "release_group" in scored.matches and "resolution" in scored.matches
    assert "source" in scored.matches


def test_movie_title_matching_ignores_case_punctuation_and_accents():
    query = VideoQuery(kind="movie", title="Amélie", year=2001)
    scored = score_result(result("Amelie.2001.1080p.BluRay.x264-GRP"), query)
    assert {"title", "year"} <= set(scored.matches)


@pytest.mark.parametrize("query", [EPISODE, MOVIE], ids=["episode", "movie"])
def test_breakdown_sums_to_the_score(query):
    scored = score_result(result("The.Expanse.S02E05.1080p.WEB.H264-NTb",
                                 "Arrival.2016.1080p.BluRay.x264-SPARKS", format="ass",
                                 hearing_impaired=True, machine_translated=True), query,
                          hi_preference="avoid")
    assert sum(scored.score_breakdown.values()) == scored.score
    assert scored.score_breakdown["format_ass"] == BONUSES["format_ass"]
    assert scored.score_breakdown["hi_preference_missed"] < 0
    assert scored.score_breakdown["machine_translated"] < 0


def test_hearing_impaired_preferences():
    hi = result(matches=["series", "season", "episode"], hearing_impaired=True)
    plain = result(matches=["series", "season", "episode"], hearing_impaired=False)
    assert score_result(hi, EPISODE, hi_preference="prefer").score > \
        score_result(plain, EPISODE, hi_preference="prefer").score
    assert score_result(hi, EPISODE, hi_preference="avoid").score < \
        score_result(plain, EPISODE, hi_preference="avoid").score
    assert score_result(hi, EPISODE).score == score_result(plain, EPISODE).score
    # The query's own wish wins over the setting.
    wants_hi = VideoQuery(**{**EPISODE.to_dict(), "hearing_impaired": True})
    assert score_result(hi, wants_hi, hi_preference="avoid").score > \
        score_result(plain, wants_hi, hi_preference="avoid").score
    with pytest.raises(ValueError):
        score_result(hi, EPISODE, hi_preference="sometimes")


def test_forced_must_match_the_wish():
    forced = result(matches=["hash"], forced=True)
    assert score_result(forced, EPISODE).score < 0
    wants_forced = VideoQuery(**{**EPISODE.to_dict(), "forced": True})
    assert score_result(forced, wants_forced).score >= 240
    assert score_result(result(matches=["hash"]), wants_forced).score < 0


def test_machine_translation_ranks_below_a_human_one():
    human = result(matches=["series", "season", "episode", "release_group"])
    machine = result(matches=["series", "season", "episode", "release_group"],
                     machine_translated=True)
    assert score_result(machine, EPISODE).score < score_result(human, EPISODE).score
    assert score_result(machine, EPISODE).score < 240


def test_rank_orders_best_first_with_stable_ties():
    items = [
        result(id="weak", matches=["series"]),
        result(id="srt-a", matches=["series", "season", "episode"]),
        result(id="ass", matches=["series", "season", "episode"], format="ass"),
        result(id="srt-b", matches=["series", "season", "episode"]),
        result(id="hash", matches=["hash"], format="srt"),
    ]
    ranked = rank(items, EPISODE)
    assert [r.id for r in ranked] == ["hash", "ass", "srt-a", "srt-b", "weak"]
    # Scores stay on the results; the originals are untouched.
    assert ranked[0].score == perfect_score(EPISODE) and items[0].score == 0


def test_unknown_provider_matches_are_ignored():
    scored = score_result(result(matches=["series", "moon_phase"]), EPISODE)
    assert scored.matches == ["series"]


def test_a_query_from_a_path_reads_only_the_show_and_season_folders(tmp_path):
    # A folder far above the show, named like a title with a number, must not win.
    video = (tmp_path / "pytest-77" / "media-2" / "Sousou no Frieren" / "Season 1"
             / "[SubsPlease] Sousou no Frieren - 05 (1080p).mkv")
    video.parent.mkdir(parents=True)
    video.write_bytes(b"\0" * 1024)
    query = VideoQuery.from_path(video)
    assert (query.kind, query.series, query.season, query.episode) == (
        "episode", "Sousou no Frieren", 1, 5)
    assert query.path == str(video) and query.size == 1024


def test_scene_and_fansub_names_are_scored_without_guessit(monkeypatch):
    import guessit

    def refuse(*_args, **_kwargs):
        raise AssertionError("guessit was asked about a scene name")

    monkeypatch.setattr(guessit, "guessit", refuse)
    scored = score_result(result("The.Expanse.S02E05.1080p.WEB.H264-NTb.en.srt"), EPISODE)
    assert set(scored.matches) == {"series", "season", "episode", "resolution", "source",
                                   "video_codec", "release_group"}
    fansub = score_result(result("[NTb] The Expanse - 05 (1080p) [0A1B2C3D].mkv"), EPISODE)
    assert {"series", "episode", "resolution", "release_group"} <= set(fansub.matches)
    with pytest.raises(AssertionError, match="guessit was asked"):
        score_result(result("The Expanse - 2x05 - Doors and Corners.mkv"), EPISODE)
