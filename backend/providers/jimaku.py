"""Jimaku (https://jimaku.cc): Japanese subtitles for anime and dramas, by AniList id.

The protocol this module relies on (Jimaku's published API documentation and the
clients built on it):

- Every API call carries the account's API key as the *raw* ``Authorization`` header
  value (no ``Bearer`` prefix). A missing or wrong key answers 401 with the API's error
  body ``{"error": "...", "code": 401}``.
- ``GET /api/entries/search`` returns a JSON list of entries, best match first. Params:
  ``anilist_id`` (short-circuits the rest), ``tmdb_id`` (``tv:1234`` / ``movie:1234``),
  ``query`` (fuzzy match over the romaji, English and Japanese names) and ``anime``
  (``true``/``false``, default ``true``; compared with the entry's flag before anything
  else, so a live-action drama is only found with ``anime=false``; Python's ``True``
  is not accepted). An entry: ``{"id", "name", "japanese_name", "english_name",
  "anilist_id", "tmdb_id", "flags": {"anime", "movie", "adult", "external",
  "unverified"}, "last_modified", "creator_id", "notes"}``; optional fields may be
  absent rather than null.
- ``GET /api/entries/{id}/files?episode=N`` returns a JSON list of files
  ``{"url", "name", "size", "last_modified"}``. ``episode`` is a best-effort
  server-side guess from the file names (ignored for movie entries), so files are
  checked again here. ``url`` is absolute (``https://jimaku.cc/entry/{id}/download/
  {name}``). Files are ``.ass``/``.srt`` (mostly Japanese; some uploads name another
  language, e.g. ``.en.srt`` or ``[English]``) or ``.zip``/``.rar``/``.7z`` packs that
  the download pipeline unpacks, picking the episode.
- Rate limits are per IP: every limited endpoint answers with ``x-ratelimit-limit``,
  ``x-ratelimit-remaining``, ``x-ratelimit-reset`` (epoch seconds) and
  ``x-ratelimit-reset-after`` (seconds, may be fractional); over the limit it answers
  429 with an empty body and those headers.

Search: by ``anilist_id`` when known, else by name (with the season for seasons after
the first, as Jimaku entries are per AniList season), retried with ``anime=false``
for live-action titles. Episodes use the absolute number when known. A search that
finds no file for the episode lists the entry again without ``episode`` and keeps its
archives (season packs are rarely named by episode).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from cache.memory import MemoryCacheBackend
from providers.base import (
    BadResponse,
    Provider,
    ProviderConfigError,
    SubtitleResult,
    VideoQuery,
)
from providers.http import MAX_DOWNLOAD_BYTES, ProviderHttp, parse_json
from providers.matching import (
    language_matches,
    name_matches_episode,
    normalized_languages,
    query_episode,
)

DEFAULT_URL = "https://jimaku.cc"
SUBTITLE_FORMATS = {"ass": "ass", "ssa": "ssa", "srt": "srt", "vtt": "vtt", "sub": "sub"}
ARCHIVE_FORMATS = frozenset({"zip", "rar", "7z"})
MAX_ENTRIES = 3
ENTRY_MEMO_SIZE = 512
ENTRY_MEMO_SECONDS = 6 * 3600
# A cheap authenticated call for "test connection": AniList id 1 is a long-finished
# series, so the answer is tiny and stable.
PROBE_ANILIST_ID = 1


# -- the provider --------------------------------------------------------------------------

_LANGUAGE_MARKS = {
    "en": re.compile(r"(?:^|[.\[(_ \-])(?:en|eng|english)(?=$|[.\])_ \-])", re.IGNORECASE),
    "zh": re.compile(r"(?:^|[.\[(_ \-])(?:chs|cht|chinese|zh|gb|big5)(?=$|[.\])_ \-])",
                     re.IGNORECASE),
}
_JAPANESE_MARK = re.compile(r"(?:^|[.\[(_ \-])(?:ja|jp|jpn|japanese)(?=$|[.\])_ \-])",
                            re.IGNORECASE)
_HI_MARK = re.compile(r"\[cc\]|\bsdh\b|[.\[]cc[.\]]", re.IGNORECASE)


def file_format(name: str) -> tuple[str, str | None] | None:
    """(result format, archive kind) for a file name, None for files we cannot use."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in SUBTITLE_FORMATS:
        return SUBTITLE_FORMATS[extension], None
    if extension in ARCHIVE_FORMATS:
        return "unknown", extension
    return None


def file_language(name: str) -> str:
    """Japanese unless the name says another language (and not Japanese too)."""
    if _JAPANESE_MARK.search(name):
        return "ja"
    for code, pattern in _LANGUAGE_MARKS.items():
        if pattern.search(name):
            return code
    return "ja"


class JimakuProvider(Provider):
    """Jimaku search by AniList id or name; files are subtitles or archives."""

    name = "jimaku"
    query_keys: ClassVar[tuple[str, ...]] = (
        "kind", "title", "series", "season", "episode", "absolute_episode", "anilist_id")
    languages: ClassVar[frozenset[str] | None] = frozenset({"ja", "en", "zh"})

    def __init__(self, *, base_url: str = DEFAULT_URL, api_key: str = "",
                 timeout: float = 15.0, max_download_bytes: int = MAX_DOWNLOAD_BYTES,
                 max_entries: int = MAX_ENTRIES) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key.strip()
        self.max_download_bytes = max_download_bytes
        self.max_entries = max_entries
        self.http = ProviderHttp(self.name, base_url=self.base_url, timeout=timeout,
                                 headers={"Authorization": self.api_key})
        # Which entry an AniList id or a title is changes rarely, and every episode of a
        # season asks again: remembering it halves the requests of a season's searches
        # (Jimaku's rate limit is per key). Only non-empty answers are kept.
        self._entry_memo = MemoryCacheBackend(max_entries=ENTRY_MEMO_SIZE,
                                              default_ttl=ENTRY_MEMO_SECONDS)

    @classmethod
    def from_settings(cls, settings: Any) -> JimakuProvider:
        return cls(base_url=settings.jimaku_url, api_key=settings.jimaku_api_key,
                   timeout=settings.provider_timeout,
                   max_download_bytes=settings.archive_max_bytes)

    # -- search ------------------------------------------------------------------------

    def search(self, query: VideoQuery, languages: list[str]) -> list[SubtitleResult]:
        self._require_key()
        wanted = normalized_languages(languages)
        if self.languages is not None and not any(
                language_matches(code, wanted) for code in self.languages):
            return []
        results: list[SubtitleResult] = []
        for entry in self._entries(query):
            for item in self._files(entry, query):
                result = self._result(entry, item)
                if result is not None and language_matches(result.language, wanted):
                    results.append(result)
        return results

    def _require_key(self) -> None:
        if not self.api_key:
            raise ProviderConfigError(
                self.name, "no API key: set SUBLARR_JIMAKU_API_KEY (from your jimaku.cc "
                "account page)")

    def _entries(self, query: VideoQuery) -> list[dict[str, Any]]:
        if query.anilist_id:
            # The anime flag is checked first even for id lookups: try both.
            for anime in ("true", "false"):
                found = self._search_entries({"anilist_id": query.anilist_id, "anime": anime})
                if found:
                    return found[: self.max_entries]
            return []
        text = self._search_text(query)
        if not text:
            return []
        for anime in ("true", "false"):
            found = self._search_entries({"query": text, "anime": anime})
            if found:
                return self._best_named(found, text)
        return []

    @staticmethod
    def _search_text(query: VideoQuery) -> str:
        name = query.name.strip()
        if name and query.kind == "episode" and query.season and query.season > 1:
            return f"{name} {query.season}"
        return name

    def _best_named(self, entries: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
        """Entries named exactly as searched, else the search's best match alone."""
        wanted = _simplify(text)
        exact = [e for e in entries if wanted in {
            _simplify(str(e.get(key) or "")) for key in ("name", "english_name",
                                                        "japanese_name")}]
        return (exact or entries[:1])[: self.max_entries]

    def _search_entries(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        memo_key = json.dumps(params, sort_keys=True, default=str)
        remembered = self._entry_memo.get(memo_key)
        if remembered is not None:
            return list(json.loads(remembered))
        data = self.http.get_json("/api/entries/search", params=params)
        entries = [entry for entry in _json_list(self.name, data, "entries")
                   if isinstance(entry, dict) and isinstance(entry.get("id"), int)]
        if entries:
            self._entry_memo.set(memo_key, json.dumps(entries))
        return entries

    def _files(self, entry: dict[str, Any], query: VideoQuery) -> list[dict[str, Any]]:
        flags = entry.get("flags") or {}
        episode = None if flags.get("movie") else query_episode(query)
        path = f"/api/entries/{entry['id']}/files"
        if episode is None:
            return self._list_files(path, {})
        files = [f for f in self._list_files(path, {"episode": episode})
                 if name_matches_episode(f["name"], query) is not False]
        if files:
            return files
        # Season packs rarely carry the episode in their name.
        return [f for f in self._list_files(path, {})
                if (file_format(f["name"]) or ("", None))[1] is not None
                and name_matches_episode(f["name"], query) is not False]

    def _list_files(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        data = self.http.get_json(path, params=params)
        return [item for item in _json_list(self.name, data, "files")
                if isinstance(item, dict) and isinstance(item.get("name"), str)
                and isinstance(item.get("url"), str)]

    def _result(self, entry: dict[str, Any], item: dict[str, Any]) -> SubtitleResult | None:
        kind = file_format(item["name"])
        if kind is None:
            return None
        fmt, archive = kind
        name = item["name"]
        extra: dict[str, Any] = {"entry_id": entry["id"], "entry_name": entry.get("name"),
                                 "size": item.get("size"),
                                 "last_modified": item.get("last_modified")}
        if archive:
            extra["archive"] = archive
        return SubtitleResult(
            provider=self.name,
            id=f"{entry['id']}/{name}",
            language=file_language(name),
            format=fmt,
            release_names=[name],
            hearing_impaired=bool(_HI_MARK.search(name)),
            download_ref={"url": item["url"], "name": name},
            page_url=f"{self.base_url}/entry/{entry['id']}",
            extra=extra,
        )

    # -- download ----------------------------------------------------------------------

    def download(self, result: SubtitleResult) -> bytes:
        url = str(result.download_ref.get("url") or "")
        if not url:
            raise BadResponse(self.name, f"result {result.id} has no download URL")
        headers: dict[str, str | None] = {}
        if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            # The key is Jimaku's: it is not sent to any other host.
            headers["Authorization"] = None
        return self.http.get_bytes(url, limit=self.max_download_bytes, headers=headers)

    def test_connection(self) -> dict[str, Any]:
        self._require_key()
        response = self.http.get("/api/entries/search",
                                 params={"anilist_id": PROBE_ANILIST_ID, "anime": "true"})
        _json_list(self.name, parse_json(self.name, response), "entries")
        return {"ok": True,
                "rate_limit_remaining": response.headers.get("x-ratelimit-remaining")}

    def close(self) -> None:
        self.http.close()


def _json_list(provider: str, data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise BadResponse(provider, f"expected a JSON list of {what}, got "
                          f"{type(data).__name__}")
    return data


def _simplify(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().casefold()
