"""What every subtitle provider shares: the query, the result, the errors, the interface.

A provider is configured by keyword arguments only and does no I/O in ``__init__``;
``search(query, languages)`` returns results, ``download(result)`` the raw bytes.
``VideoQuery`` and ``SubtitleResult`` round-trip through JSON exactly: both cache tiers
and the job queue store them that way.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from babelfish import Error as BabelfishError
from babelfish import Language

_D = TypeVar("_D")


# -- languages --------------------------------------------------------------------------


class UnknownLanguage(ValueError):
    """A language code Sublarr does not know; the message names it."""


def normalize_language(code: str) -> str:
    """The code Sublarr stores: ISO 639-1 where one exists (else 639-3), with a region
    only where subtitles differ by it (pt-BR, zh-TW). Accepts 2/3-letter codes, IETF tags
    and English names."""
    text = (code or "").strip().replace("_", "-")
    if not text:
        raise UnknownLanguage("empty language code")
    for parse in (Language.fromietf, lambda c: Language.fromcode(c.lower(), "alpha3b"),
                  lambda c: Language.fromcode(c.lower(), "alpha3t"),
                  lambda c: Language.fromcode(c.lower(), "alpha3"),
                  lambda c: Language.fromcode(c.title(), "name")):
        try:
            language = parse(text)
        except (BabelfishError, ValueError, KeyError, LookupError):
            continue
        return _language_code(language)
    raise UnknownLanguage(f"unknown language code {code!r}")


def _language_code(language: Language) -> str:
    try:
        base = language.alpha2
    except BabelfishError:
        base = language.alpha3
    if language.country is not None and (base, language.country.alpha2) in _REGIONAL:
        return f"{base}-{language.country.alpha2}"
    if language.script is not None and base == "zh" and language.script.code == "Hant":
        return "zh-TW"
    return str(base)


# Variants that subtitle sites keep apart; other regions collapse to the base language.
_REGIONAL = {("pt", "BR"), ("zh", "TW"), ("zh", "HK"), ("es", "MX"), ("fr", "CA")}


# -- hashing ----------------------------------------------------------------------------

HASH_CHUNK = 64 * 1024
GUESS_PATH_PARTS = 3  # "<show>/<season>/<file>", the most of a path guessit should read


def opensubtitles_hash(path: str | os.PathLike[str]) -> str:
    """OpenSubtitles' movie hash: size plus the 64-bit sums of the first and last 64 KiB."""
    file = Path(path)
    size = file.stat().st_size
    if size < HASH_CHUNK * 2:
        raise ValueError(f"{file} is too small ({size} bytes) for an OpenSubtitles hash")
    value = size
    with file.open("rb") as handle:
        for offset in (0, size - HASH_CHUNK):
            handle.seek(offset)
            chunk = handle.read(HASH_CHUNK)
            for (word,) in struct.iter_unpack("<Q", chunk):
                value = (value + word) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


# -- reading loosely typed JSON fields --------------------------------------------------


def as_int(value: Any, *, default: int = 0) -> int:
    """An integer from a provider's JSON field (number, numeric text, null)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_fps(value: Any) -> float | None:
    """A frame rate, or None for missing, zero or unreadable values."""
    try:
        fps = float(value)
    except (TypeError, ValueError):
        return None
    return fps if fps > 0 else None


# -- the query and the result -----------------------------------------------------------


def _from_dict(cls: type[_D], data: dict[str, Any]) -> _D:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    return cls(**data)


@dataclass
class VideoQuery:
    """Everything known about one video that a provider may search by."""

    kind: str = "episode"  # "episode" or "movie"
    path: str | None = None
    size: int | None = None
    oshash: str | None = None
    title: str | None = None
    year: int | None = None
    imdb_id: str | None = None
    tmdb_id: int | None = None
    tvdb_id: int | None = None
    series: str | None = None
    season: int | None = None
    episode: int | None = None
    absolute_episode: int | None = None
    anidb_aid: int | None = None
    anidb_eid: int | None = None
    anilist_id: int | None = None
    release_group: str | None = None
    source: str | None = None
    resolution: str | None = None
    video_codec: str | None = None
    forced: bool = False
    hearing_impaired: bool | None = None  # None: no preference

    def __post_init__(self) -> None:
        if self.kind not in ("episode", "movie"):
            raise ValueError(f"kind must be 'episode' or 'movie', not {self.kind!r}")

    @property
    def name(self) -> str:
        """Series for episodes, title for movies."""
        return (self.series if self.kind == "episode" else self.title) or self.title or ""

    def to_dict(self) -> dict[str, Any]:
        # Every field is a scalar, so a shallow copy is exact; asdict's deep copy costs
        # about half of a warm cached search.
        return {name: getattr(self, name) for name in _QUERY_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoQuery:
        return _from_dict(cls, data)

    def canonical_json(self, *, keys: tuple[str, ...] | None = None) -> str:
        """Stable JSON of the fields (or a provider's subset) that change a search."""
        data = self.to_dict()
        if keys is not None:
            data = {k: data[k] for k in keys}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def cache_hash(self, languages: list[str], *, keys: tuple[str, ...] | None = None) -> str:
        payload = self.canonical_json(keys=keys) + "|" + ",".join(sorted(languages))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, with_hash: bool = True) -> VideoQuery:
        """What guessit reads from the file name (and its folders), plus size and hash."""
        from guessit import guessit

        file = Path(path)
        # Only the show and season folders say something about the video: given the
        # whole path, guessit can take a far-up folder ("pytest-77", "media-2") for the
        # title.
        info = guessit(str(Path(*file.parts[-GUESS_PATH_PARTS:])))
        kind = "episode" if info.get("type") == "episode" else "movie"
        query = cls(
            kind=kind,
            path=str(file),
            title=_first_text(info.get("title")),
            year=_first_int(info.get("year")),
            series=_first_text(info.get("title")) if kind == "episode" else None,
            season=_first_int(info.get("season")),
            episode=_first_int(info.get("episode")),
            absolute_episode=_first_int(info.get("absolute_episode")),
            release_group=_first_text(info.get("release_group")),
            source=_first_text(info.get("source")),
            resolution=_first_text(info.get("screen_size")),
            video_codec=_first_text(info.get("video_codec")),
        )
        if kind == "episode" and query.season is None and query.episode is not None:
            # Anime numbering without a season: the number is absolute.
            query.absolute_episode = query.absolute_episode or query.episode
        if file.exists():
            query.size = file.stat().st_size
            if with_hash and query.size >= HASH_CHUNK * 2:
                query.oshash = opensubtitles_hash(file)
        return query


_QUERY_FIELDS = tuple(f.name for f in fields(VideoQuery))


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _first_text(value: Any) -> str | None:
    value = _first(value)
    return str(value) if value not in (None, "") else None


def _first_int(value: Any) -> int | None:
    value = _first(value)
    return int(value) if isinstance(value, int) else None


@dataclass
class SubtitleResult:
    """One subtitle a provider offers, with how well it matches and why."""

    provider: str
    id: str
    language: str
    format: str = "srt"  # ass, ssa, srt, vtt, sub; "unknown" until downloaded
    release_names: list[str] = field(default_factory=list)
    hearing_impaired: bool = False
    forced: bool = False
    fps: float | None = None
    uploader: str | None = None
    machine_translated: bool = False
    download_ref: dict[str, Any] = field(default_factory=dict)
    page_url: str | None = None
    matches: list[str] = field(default_factory=list)
    score: int = 0
    score_breakdown: dict[str, int] = field(default_factory=dict)
    stale: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubtitleResult:
        return _from_dict(cls, data)


# -- errors the manager acts on -------------------------------------------------------


class ProviderError(Exception):
    """Base of every provider failure; `kind` is what Provider Stats counts."""

    kind = "error"

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


class ProviderConfigError(ProviderError):
    """Wrong settings or credentials: disable the provider until they are fixed."""

    kind = "config"


class AuthenticationError(ProviderConfigError):
    kind = "auth"


class RateLimited(ProviderError):
    """Back off until `retry_at`, as the provider said."""

    kind = "rate_limited"

    def __init__(self, provider: str, message: str, retry_at: datetime) -> None:
        super().__init__(provider, message)
        self.retry_at = retry_at


class QuotaExhausted(RateLimited):
    """A daily/download quota is used up; back off until it resets."""

    kind = "quota"


class ProviderUnavailable(ProviderError):
    """5xx, refused connection: counts toward the circuit breaker."""

    kind = "unavailable"


class ProviderTimeout(ProviderUnavailable):
    kind = "timeout"


class BadResponse(ProviderError):
    """An answer we cannot read (HTML, truncated JSON, wrong shape): log and skip."""

    kind = "bad_response"


class SubtitleRejected(ProviderError):
    """A downloaded file that is not a usable subtitle: try the next candidate."""

    kind = "rejected"


# -- the interface ------------------------------------------------------------------


class Provider(ABC):
    """One subtitle source. Configure by keyword arguments; no I/O in __init__."""

    name: ClassVar[str]
    # Query fields that change this provider's answer (its cache key is their hash).
    query_keys: ClassVar[tuple[str, ...]] = tuple(f.name for f in fields(VideoQuery))
    languages: ClassVar[frozenset[str] | None] = None  # None: any

    @abstractmethod
    def search(self, query: VideoQuery, languages: list[str]) -> list[SubtitleResult]: ...

    @abstractmethod
    def download(self, result: SubtitleResult) -> bytes: ...

    def test_connection(self) -> dict[str, Any]:
        """A cheap authenticated call for the "test" button; raises ProviderError."""
        return {"ok": True}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions."""
