"""How well a subtitle fits a video: matches, weights, and the score the manager ranks by.

Matches come from two places: what the provider vouches for (it searched by hash or by
an id, or its JSON names the season and episode) arrives in ``result.matches``; the rest
is read from the result's release names with guessit and compared with the query.

The weights are chosen so that the default minimum scores mean something:

* episodes (240): series + season + episode (or series + absolute episode) pass on their
  own; without any one of them, every other match and bonus together stays below 240;
* movies (60): title + year, or title + release group, pass; the title alone does not,
  and neither does everything except the title;
* a hash match vouches for everything and always passes.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Set
from functools import lru_cache
from typing import Any

from providers.base import SubtitleResult, VideoQuery

EPISODE_WEIGHTS: dict[str, int] = {
    "series": 110,
    "season": 60,
    "episode": 70,
    "absolute_episode": 130,  # stands in for season + episode (anime numbering)
    "year": 15,
    "release_group": 18,
    "source": 8,
    "resolution": 4,
    "video_codec": 2,
}

MOVIE_WEIGHTS: dict[str, int] = {
    "title": 50,
    "year": 20,
    "release_group": 15,
    "source": 7,
    "resolution": 4,
    "video_codec": 3,
}

# Adjustments that are not matches: small enough never to lift a missing core match
# over the minimum, big enough to order otherwise equal results.
BONUSES: dict[str, int] = {
    "format_ass": 5,  # ASS keeps styling and typesetting
    "hi_preference_met": 4,
    "hi_preference_missed": -4,
    "machine_translated": -60,
    "forced_mismatch": -1000,  # a forced track for a full one (or back) is never right
}

# A provider-vouched match that stands for others: a hash identifies the exact file,
# an id the series or film, an AniDB episode id the episode.
EPISODE_IMPLIES: dict[str, tuple[str, ...]] = {
    "hash": tuple(EPISODE_WEIGHTS),
    "imdb_id": ("series",),
    "tvdb_id": ("series",),
    "tmdb_id": ("series",),
    "anidb_aid": ("series",),
    "anilist_id": ("series",),
    "anidb_eid": ("series", "season", "episode", "absolute_episode"),
}
MOVIE_IMPLIES: dict[str, tuple[str, ...]] = {
    "hash": tuple(MOVIE_WEIGHTS),
    "imdb_id": ("title", "year"),
    "tmdb_id": ("title", "year"),
}

FORMAT_RANK = {"ass": 0, "ssa": 1, "srt": 2, "vtt": 3, "sub": 4}
HI_PREFERENCES = ("prefer", "avoid", "neutral")


def weights_for(query: VideoQuery) -> dict[str, int]:
    return EPISODE_WEIGHTS if query.kind == "episode" else MOVIE_WEIGHTS


def perfect_score(query: VideoQuery) -> int:
    """What a hash match scores (before bonuses)."""
    return sum(_match_points(set(weights_for(query)), query).values())


def min_score_for(query: VideoQuery, settings: Any) -> int:
    """The lowest score an automatic download needs for this kind of video."""
    if query.kind == "episode":
        return int(settings.min_score_episode)
    return int(settings.min_score_movie)


def score_result(result: SubtitleResult, query: VideoQuery, *,
                 hi_preference: str = "neutral") -> SubtitleResult:
    """A copy of `result` with its matches, score and score breakdown filled in; the
    breakdown's values sum to the score."""
    matches = compute_matches(result, query)
    breakdown = _match_points(matches, query)
    breakdown.update(_adjustments(result, query, hi_preference))
    return dataclasses.replace(result, matches=sorted(matches),
                               score=sum(breakdown.values()), score_breakdown=breakdown)


def rank(results: Iterable[SubtitleResult], query: VideoQuery, *,
         hi_preference: str = "neutral") -> list[SubtitleResult]:
    """Scored results, best first; ties go to ASS, then human translations, then the
    order the results came in (stable)."""
    scored = [score_result(r, query, hi_preference=hi_preference) for r in results]
    return sorted(scored, key=lambda r: (-r.score, FORMAT_RANK.get(r.format, 5),
                                         r.machine_translated))


# -- matches ------------------------------------------------------------------------------


def compute_matches(result: SubtitleResult, query: VideoQuery) -> set[str]:
    """Provider-vouched matches (with what they imply) plus those of the release name
    that fits the query best."""
    implies = EPISODE_IMPLIES if query.kind == "episode" else MOVIE_IMPLIES
    weights = weights_for(query)
    vouched = {m for m in result.matches if m in weights or m in implies}
    for match in list(vouched):
        vouched.update(implies.get(match, ()))
    best: frozenset[str] = frozenset()
    best_points = -1
    facts = _facts(query)
    for name in result.release_names:
        found = _release_matches(name, facts)
        points = sum(_match_points(found | vouched, query).values())
        if points > best_points:
            best, best_points = found, points
    return vouched | best


def release_matches(release_name: str, query: VideoQuery) -> set[str]:
    """What a release name has in common with the query."""
    return set(_release_matches(release_name, _facts(query)))


def _facts(query: VideoQuery) -> tuple[Any, ...]:
    """The query fields release names are compared with (the cache key of a comparison:
    warm searches re-score the same names for the same video)."""
    return (query.kind, query.name, query.title, query.year, query.season, query.episode,
            query.absolute_episode, query.release_group, query.source, query.resolution,
            query.video_codec)


_FACT_NAMES = ("kind", "name", "title", "year", "season", "episode", "absolute_episode",
               "release_group", "source", "resolution", "video_codec")


@lru_cache(maxsize=16384)
def _release_matches(release_name: str, facts: tuple[Any, ...]) -> frozenset[str]:
    wanted = dict(zip(_FACT_NAMES, facts, strict=True))
    kind = wanted["kind"]
    guess = _guess(release_name, kind)
    found: set[str] = set()
    if wanted["name"] and _same_title(guess.get("title"), wanted["name"], wanted["title"]):
        found.add("series" if kind == "episode" else "title")
    if wanted["year"] is not None and guess.get("year") == wanted["year"]:
        found.add("year")
    if kind == "episode":
        found.update(_numbering_matches(guess, wanted["season"], wanted["episode"],
                                        wanted["absolute_episode"]))
    for field, key in (("release_group", "release_group"), ("source", "source"),
                       ("resolution", "screen_size"), ("video_codec", "video_codec")):
        if wanted[field] and _norm(guess.get(key)) == _norm(wanted[field]):
            found.add(field)
    return frozenset(found)


def _numbering_matches(guess: dict[str, Any], season: int | None, episode: int | None,
                       absolute_episode: int | None) -> set[str]:
    found: set[str] = set()
    seasons = _ints(guess.get("season"))
    episodes = _ints(guess.get("episode"))
    if season is not None and season in seasons:
        found.add("season")
    if episode is not None and episode in episodes:
        found.add("episode")
    absolute = _ints(guess.get("absolute_episode")) or (episodes if not seasons else set())
    if absolute_episode is not None and absolute_episode in absolute:
        found.add("absolute_episode")
    return found


@lru_cache(maxsize=8192)
def _guess_cached(release_name: str, kind: str) -> tuple[tuple[str, Any], ...]:
    from guessit import guessit

    from release_names import fast_guess

    # Most episode releases are scene- or fansub-named: read those without guessit's
    # CPU cost.
    info = (fast_guess(release_name) if kind == "episode" else None) or guessit(
        release_name, {"type": kind})
    return tuple((key, value) for key, value in info.items()
                 if key in ("title", "year", "season", "episode", "absolute_episode",
                            "release_group", "source", "screen_size", "video_codec"))


def _guess(release_name: str, kind: str) -> dict[str, Any]:
    return dict(_guess_cached(release_name, kind))


def _ints(value: Any) -> set[int]:
    values = value if isinstance(value, list) else [value]
    return {v for v in values if isinstance(v, int)}


def _same_title(guessed: Any, name: str, title: str | None) -> bool:
    if isinstance(guessed, list):
        guessed = guessed[0] if guessed else None
    if not guessed:
        return False
    found = _norm_title(str(guessed))
    return found in {_norm_title(name), _norm_title(title or "")} - {""}


_ARTICLE = re.compile(r"^(the|a|an) ")
_YEAR_SUFFIX = re.compile(r" \(?(19|20)\d\d\)?$")


def _norm_title(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ")
    text = re.sub(r"[^\w]+", " ", text).strip()
    text = _YEAR_SUFFIX.sub("", text)
    return _ARTICLE.sub("", text)


def _norm(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    return re.sub(r"[^a-z0-9]", "", str(value).lower()) if value else ""


# -- points -----------------------------------------------------------------------------


def _match_points(matches: Set[str], query: VideoQuery) -> dict[str, int]:
    weights = weights_for(query)
    points = {m: weights[m] for m in matches if m in weights}
    if query.kind == "episode":
        # Season + episode and the absolute number are two ways to say the same thing:
        # count whichever says more, never both.
        pair = points.get("season", 0) + points.get("episode", 0)
        absolute = points.pop("absolute_episode", 0)
        if absolute > pair:
            points.pop("season", None)
            points.pop("episode", None)
            points["absolute_episode"] = absolute
    return dict(sorted(points.items()))


def _adjustments(result: SubtitleResult, query: VideoQuery,
                 hi_preference: str) -> dict[str, int]:
    points: dict[str, int] = {}
    if result.format == "ass":
        points["format_ass"] = BONUSES["format_ass"]
    wish = _hi_wish(query, hi_preference)
    if wish is not None:
        if result.hearing_impaired == wish:
            points["hi_preference_met"] = BONUSES["hi_preference_met"]
        else:
            points["hi_preference_missed"] = BONUSES["hi_preference_missed"]
    if result.machine_translated:
        points["machine_translated"] = BONUSES["machine_translated"]
    if result.forced != query.forced:
        points["forced_mismatch"] = BONUSES["forced_mismatch"]
    return points


def _hi_wish(query: VideoQuery, hi_preference: str) -> bool | None:
    """True: HI wanted, False: HI unwanted, None: indifferent. The query's own wish
    (from the language profile) wins over the global setting."""
    if query.hearing_impaired is not None:
        return query.hearing_impaired
    if hi_preference not in HI_PREFERENCES:
        raise ValueError(f"hi_preference must be one of {', '.join(HI_PREFERENCES)}")
    return {"prefer": True, "avoid": False}.get(hi_preference)
