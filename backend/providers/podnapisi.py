"""Podnapisi.NET through its JSON search.

Protocol facts this module relies on (the site admins' announcement of the JSON API in
Diaoul/subliminal#916 and the clients that use it):

- ``GET /subtitles/search/advanced`` answers HTML unless the request says
  ``Accept: application/json``; then it answers JSON. No key, no login.
- Parameters: ``keywords`` (series or movie title), ``language`` (one code such as
  ``en``, ``sl``, ``pt-BR``), ``year``, ``seasons`` and ``episodes`` (numbers),
  ``movie_type`` (``movie``, or repeated ``tv-series`` and ``mini-series`` for episodes),
  ``page`` (from 1).
- The answer is ``{"data": [...], "page", "all_pages"}``; each item has ``id`` (the
  short public id, also what the download URL takes), ``language``, ``flags`` (a list:
  ``hearing_impaired``, ``foreign_only``, ...), ``releases`` and ``custom_releases``
  (release names), ``url`` (the page, site-relative), and ``movie`` with ``title``,
  ``year``, ``type`` (``movie``, ``tv-series``, ``mini-series``) and ``episode_info``
  (``season``, ``episode``). ``fps`` and an ``uploader`` appear on some items. The same
  id can come back twice (the forum notes duplicates); an episode search can return
  movies, which are dropped.
- ``GET /subtitles/<id>/download?container=zip`` answers a zip archive holding the
  subtitle (the site redirects it to a language/slug path first). A subtitle removed
  since the search answers 404.
- Throttling and outages come from the site's front proxy: 429 or 503 with
  ``Retry-After``, 5xx, a 403 block page, or an HTML challenge page with status 200.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self
from urllib.parse import quote, urljoin

import requests

from providers.base import (
    BadResponse,
    Provider,
    ProviderUnavailable,
    SubtitleRejected,
    SubtitleResult,
    UnknownLanguage,
    VideoQuery,
    as_fps,
    as_int,
    normalize_language,
)
from providers.http import USER_AGENT, ProviderHttp, parse_json

DEFAULT_URL = "https://www.podnapisi.net"
SEARCH_PATH = "subtitles/search/advanced"
JSON = {"Accept": "application/json"}
SERIES_TYPES = ("tv-series", "mini-series")
MAX_PARALLEL_LANGUAGES = 4  # the site is small; a burst of more would look like abuse


class PodnapisiProvider(Provider):
    """Search and download on Podnapisi.NET."""

    name = "podnapisi"
    query_keys = ("kind", "title", "series", "year", "season", "episode", "absolute_episode")

    def __init__(self, *, base_url: str = DEFAULT_URL, timeout: float = 15.0,
                 max_pages: int = 3, user_agent: str = USER_AGENT) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_pages = max(1, max_pages)
        self.http = ProviderHttp(self.name, base_url=self.base_url, timeout=timeout,
                                 user_agent=user_agent)

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        return cls(base_url=settings.podnapisi_url, timeout=settings.provider_timeout)

    # -- search -------------------------------------------------------------------

    def search(self, query: VideoQuery, languages: list[str]) -> list[SubtitleResult]:
        base = _search_params(query)
        if base is None:
            return []
        codes = sorted({code for code in map(_language, languages) if code})
        results: list[SubtitleResult] = []
        seen: set[str] = set()
        for language, items in zip(codes, self._search_languages(base, codes), strict=True):
            for item in items:
                result = self._result(item, query, language)
                if result is not None and result.id not in seen:
                    seen.add(result.id)
                    results.append(result)
        return results

    def _search_languages(self, base: list[tuple[str, str]],
                          codes: list[str]) -> list[list[Any]]:
        """One search per language (the site takes one at a time), asked side by side
        so that two languages cost one round trip, not two."""
        if len(codes) <= 1:
            return [self._search_language([*base, ("language", code)]) for code in codes]
        with ThreadPoolExecutor(max_workers=min(len(codes), MAX_PARALLEL_LANGUAGES),
                                thread_name_prefix="podnapisi") as pool:
            return list(pool.map(
                lambda code: self._search_language([*base, ("language", code)]), codes))

    def _search_language(self, params: list[tuple[str, str]]) -> list[Any]:
        items: list[Any] = []
        for page in range(1, self.max_pages + 1):
            paged = [*params, ("page", str(page))] if page > 1 else params
            body = parse_json(self.name, self._get(SEARCH_PATH, params=paged, headers=JSON))
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise BadResponse(self.name, "search answer has no 'data' list")
            items.extend(body["data"])
            if page >= as_int(body.get("all_pages"), default=1):
                break
        return items

    def _result(self, item: Any, query: VideoQuery, language: str) -> SubtitleResult | None:
        if not isinstance(item, dict) or not item.get("id"):
            raise BadResponse(self.name, f"search item without an id: {item!r:.120}")
        movie: dict[str, Any] = item["movie"] if isinstance(item.get("movie"), dict) else {}
        if query.kind == "episode" and not _same_episode(movie, query):
            return None
        try:
            found = normalize_language(str(item.get("language") or ""))
        except UnknownLanguage:
            return None
        if found != language:
            return None
        flags = {str(flag) for flag in item.get("flags") or []}
        url = item.get("url")
        return SubtitleResult(
            provider=self.name,
            id=str(item["id"]),
            language=found,
            format="unknown",  # the archive says, once downloaded
            release_names=_release_names(item),
            hearing_impaired="hearing_impaired" in flags,
            forced=bool(flags & {"foreign_only", "foreign"}),
            fps=as_fps(item.get("fps")),
            uploader=_uploader(item.get("uploader")),
            download_ref={"id": str(item["id"])},
            page_url=urljoin(self.base_url + "/", url) if isinstance(url, str) and url
            else None,
            extra={"title": movie.get("title"), "year": _number(movie.get("year")),
                   "type": movie.get("type"), **_episode_info(movie)},
        )

    # -- download -----------------------------------------------------------------

    def download(self, result: SubtitleResult) -> bytes:
        subtitle_id = str(result.download_ref.get("id") or "")
        if not subtitle_id:
            raise BadResponse(self.name, f"result {result.id} has no id to download")
        response = self._get(f"subtitles/{quote(subtitle_id, safe='')}/download",
                             params={"container": "zip"}, stream=True,
                             expected=(200, 404, 410))
        if response.status_code != 200:
            response.close()
            raise SubtitleRejected(self.name, f"subtitle {subtitle_id} is gone "
                                              f"(HTTP {response.status_code})")
        kind = response.headers.get("Content-Type", "unknown type")
        data = self.http.read_body(response)
        if not data.startswith(b"PK"):
            raise BadResponse(self.name, f"expected a zip archive, got {kind}: {data[:60]!r}")
        return data

    def test_connection(self) -> dict[str, Any]:
        body = parse_json(self.name, self._get(
            SEARCH_PATH, params=[("keywords", "test"), ("language", "en")], headers=JSON))
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise BadResponse(self.name, "search answer has no 'data' list")
        return {"ok": True, "results": len(body["data"])}

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, *, expected: tuple[int, ...] = (200,),
             **kwargs: Any) -> requests.Response:
        # No credentials here: a 403 is the front proxy blocking us, not bad settings.
        response = self.http.get(path, expected=(*expected, 403), **kwargs)
        if response.status_code == 403:
            response.close()
            raise ProviderUnavailable(self.name, "blocked by the site (HTTP 403)")
        return response


def _search_params(query: VideoQuery) -> list[tuple[str, str]] | None:
    keywords = query.name.strip()
    if not keywords:
        return None
    params = [("keywords", keywords)]
    if query.kind == "episode":
        episode = query.episode if query.episode is not None else query.absolute_episode
        if episode is None:
            return None
        if query.season is not None:
            params.append(("seasons", str(query.season)))
        params.append(("episodes", str(episode)))
        params += [("movie_type", kind) for kind in SERIES_TYPES]
    else:
        params.append(("movie_type", "movie"))
    if query.year:
        params.append(("year", str(query.year)))
    return params


def _language(code: str) -> str | None:
    try:
        return normalize_language(code)
    except UnknownLanguage:
        return None


def _same_episode(movie: dict[str, Any], query: VideoQuery) -> bool:
    """An episode search keeps series items whose numbers, where given, agree."""
    if movie.get("type") == "movie":
        return False
    info = _episode_info(movie)
    episode = query.episode if query.episode is not None else query.absolute_episode
    return ((info["season"] is None or query.season is None or info["season"] == query.season)
            and (info["episode"] is None or info["episode"] == episode))


def _episode_info(movie: dict[str, Any]) -> dict[str, int | None]:
    info = movie.get("episode_info")
    info = info if isinstance(info, dict) else {}
    return {"season": _number(info.get("season")), "episode": _number(info.get("episode"))}


def _number(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _release_names(item: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for key in ("releases", "custom_releases"):
        for name in item.get(key) or []:
            text = str(name).strip()
            if text and text not in names:
                names.append(text)
    return names


def _uploader(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name") or value.get("username")
    return str(value) if value else None


