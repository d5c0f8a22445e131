"""Fast parsing of the two release-name shapes nearly every file has: scene style
(`Show.S01E02.1080p.WEB-DL.x264-GROUP`) and anime fansub style
(`[Group] Show - 05 (1080p) [CRC32].mkv`).

guessit reads any name but costs 10-30 ms of CPU for each; the library scan meets
thousands of names and the wanted search several new ones per item. For these two
shapes the functions here agree with guessit (tests/test_release_names.py) and take
microseconds; any other shape returns None and goes to guessit.
"""

from __future__ import annotations

import re
from typing import Any

_SCENE_EPISODE = re.compile(
    r"^(?P<show>.+?)[ ._-]+S(?P<season>\d{1,3})[ ._-]?E(?P<episode>\d{1,4})(?![0-9])"
    r"(?:[-E]+\d{1,4})*(?P<rest>.*)$", re.IGNORECASE)
_RESOLUTION = re.compile(r"(?<![0-9])(2160|1080|720|576|480)([pi])(?![a-z0-9])", re.IGNORECASE)
_SOURCES = ((re.compile(r"(?<![a-z])web[ ._-]?(?:dl|rip)?(?![a-z])", re.I), "Web"),
            (re.compile(r"(?<![a-z])blu[ ._-]?ray(?![a-z])", re.I), "Blu-ray"),
            (re.compile(r"(?<![a-z])hdtv(?![a-z])", re.I), "HDTV"),
            (re.compile(r"(?<![a-z])dvd[ ._-]?rip(?![a-z])", re.I), "DVD"))
_CODECS = ((re.compile(r"(?<![a-z0-9])(?:x264|h[ .]?264|avc)(?![a-z0-9])", re.I), "H.264"),
           (re.compile(r"(?<![a-z0-9])(?:x265|h[ .]?265|hevc)(?![a-z0-9])", re.I), "H.265"),
           (re.compile(r"(?<![a-z0-9])av1(?![a-z0-9])", re.I), "AV1"),
           (re.compile(r"(?<![a-z0-9])xvid(?![a-z0-9])", re.I), "Xvid"),
           (re.compile(r"(?<![a-z0-9])divx(?![a-z0-9])", re.I), "DivX"))
_GROUP = re.compile(r"-(?P<group>[A-Za-z0-9]+)$")
# "WEB-DL", "BD-Rip" end in a dash too: without a group after them, that is no group.
_SOURCE_TAILS = frozenset({"DL", "RIP"})
_YEAR_SUFFIX = re.compile(r"^(?P<title>.+?) (?P<year>(?:19|20)\d{2})$")
# What names of subtitles and videos end with, dropped before parsing: the extension,
# then a subtitle's language (two letters, maybe a region) and hi/sdh/cc/forced marks.
_EXTENSION = re.compile(r"\.(?:mkv|mp4|avi|m4v|ts|ass|ssa|srt|vtt|sub|zip|rar|7z)$",
                        re.IGNORECASE)
_SUBTITLE_MARKS = re.compile(r"(?:\.(?:[a-z]{2}(?:-[A-Za-z]{2})?|hi|sdh|cc|forced))+$")
# Several episodes in one file ("S01E01E02", "S01E01-E02"): guessit lists them all.
_MULTI_EPISODE = re.compile(r"S\d{1,3}[ ._-]?E\d{1,4}(?:[-E]+\d{1,4})+", re.IGNORECASE)


def scene_episode_fields(stem: str) -> dict[str, Any] | None:
    """Fast path for the `Show.S01E02.1080p.WEB-DL.x264-GROUP` names *arr and scene use,
    agreeing with guessit on them; guessit costs ~10 ms a name, too slow for big first
    scans. None when the name is not of that shape."""
    # Names with spaces ("Show - S01E02 - Title") carry episode titles: guessit's job.
    match = None if any(c.isspace() for c in stem) else _SCENE_EPISODE.match(stem)
    if match is None:
        return None
    rest = match["rest"]
    resolution = _RESOLUTION.search(rest)
    group = _GROUP.search(rest)
    return {
        "_show": re.sub(r"[._]+", " ", match["show"]).strip(" -"),
        "season": int(match["season"]), "episode": int(match["episode"]),
        "absolute_episode": None, "title": None,
        "release_group": (group["group"] if group and resolution
                          and group["group"].upper() not in _SOURCE_TAILS else None),
        "source": next((label for rx, label in _SOURCES if rx.search(rest)), None),
        "resolution": (resolution[1] + resolution[2].lower()) if resolution else None,
        "video_codec": next((label for rx, label in _CODECS if rx.search(rest)), None),
    }


# "[Group] Title - 05v2 (1080p) [ABCD1234]": the group, a title without brackets, the
# episode, then only bracketed tags that fast_guess knows (anything else: guessit).
_ANIME = re.compile(r"^\[(?P<group>[^\[\]]+)\]\s*(?P<title>[^\[\]()]+?)\s+-\s+"
                    r"(?P<episode>\d{1,4})(?:v\d{1,2})?(?P<tags>(?:\s*[\[(][^\[\]()]*[\])])*)$")
_SEASON_IN_TITLE = re.compile(r"(?:\bS\d{1,2}|\bseason\b|\b(?:19|20)\d{2})$", re.IGNORECASE)
_TAG = re.compile(r"[\[(]([^\[\]()]*)[\])]")
_TAG_CODECS = {"x264": "H.264", "avc": "H.264", "h264": "H.264", "h.264": "H.264",
               "x265": "H.265", "hevc": "H.265", "h265": "H.265", "h.265": "H.265"}
_TAG_NOISE = re.compile(r"^(?:[0-9A-Fa-f]{8}|10-?bit|8-?bit)$")
_TAG_RESOLUTION = re.compile(r"^(2160|1080|720|576|480)([pP])$")


def fast_guess(release_name: str) -> dict[str, Any] | None:
    """What guessit would say of a scene-style or anime-style episode name, in its keys;
    None for names of another shape."""
    return scene_guess(release_name) or anime_guess(release_name)


def anime_guess(release_name: str) -> dict[str, Any] | None:
    """`[Group] Title - 05 (1080p) [CRC32]` read as guessit reads it; None otherwise."""
    match = _ANIME.match(_SUBTITLE_MARKS.sub("", _EXTENSION.sub("", release_name)))
    if match is None or _SEASON_IN_TITLE.search(match["title"].strip()):
        return None
    guess: dict[str, Any] = {"title": match["title"].strip(),
                             "episode": int(match["episode"]),
                             "release_group": match["group"].strip()}
    for tag in _TAG.findall(match["tags"]):
        for word in tag.split():
            resolution = _TAG_RESOLUTION.match(word)
            if resolution:
                guess["screen_size"] = resolution[1] + "p"
            elif word.lower() in _TAG_CODECS:
                guess["video_codec"] = _TAG_CODECS[word.lower()]
            elif not _TAG_NOISE.match(word):
                return None  # a tag guessit would read more into (source, languages…)
    return guess


def scene_guess(release_name: str) -> dict[str, Any] | None:
    """What guessit would say of a scene-style episode name, in guessit's keys (title,
    year, season, episode, release_group, source, screen_size, video_codec); None for
    names of another shape."""
    stem = _SUBTITLE_MARKS.sub("", _EXTENSION.sub("", release_name))
    fields = None if _MULTI_EPISODE.search(stem) else scene_episode_fields(stem)
    if fields is None:
        return None
    show = fields["_show"]
    dated = _YEAR_SUFFIX.match(show)
    guess = {"title": dated["title"] if dated else show,
             "year": int(dated["year"]) if dated else None,
             "season": fields["season"], "episode": fields["episode"],
             "release_group": fields["release_group"], "source": fields["source"],
             "screen_size": fields["resolution"], "video_codec": fields["video_codec"]}
    return {key: value for key, value in guess.items() if value is not None}
