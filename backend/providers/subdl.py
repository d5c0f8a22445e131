"""SubDL (https://subdl.com): movie and TV subtitles, the successor of Subscene.

The protocol this module relies on (SubDL's API documentation at subdl.com/api-doc and
responses captured by its users):

- ``GET https://api.subdl.com/api/v1/subtitles`` with the account's ``api_key`` as a
  query parameter (required) and any of: ``film_name`` (text search), ``file_name``,
  ``sd_id``, ``imdb_id`` (``tt…``), ``tmdb_id``, ``type`` (``movie`` or ``tv``),
  ``year``, ``season_number``, ``episode_number``, ``languages`` (comma-separated SubDL
  codes), ``subs_per_page`` (default 10, at most 30), and the switches ``hi=1`` (adds
  each subtitle's hearing-impaired flag), ``releases=1`` (adds the release names it
  fits), ``comment=1``, ``full_season=1``.
- Success: ``{"status": true, "results": [...], "subtitles": [...]}``; ``results`` are
  the matching films/shows (``sd_id``, ``type``, ``name``, ``imdb_id``, ``tmdb_id``,
  ``first_air_date``, ``year``) and ``subtitles`` those of the *first* result:
  ``release_name``, ``name`` (the zip's name), ``lang`` (an English name, "english"),
  ``language`` (the SubDL code, "EN"), ``author``, ``url`` (``/subtitle/<id>.zip``),
  ``subtitlePage``, ``season``, ``episode`` (0 or null when unknown), ``hi``,
  ``episode_from``, ``episode_end``, ``full_season``, ``releases``, ``comment``.
- Failure: ``{"status": false, "error": "<message>"}``: "can't find movie or tv" when
  nothing matches (an empty answer, not an error), a message naming the API key when it
  is wrong (also sent as HTTP 403), a message naming the limit when the account's daily
  allowance is spent. Throttling answers HTTP 429.
- Downloads: the ``url`` appended to ``https://dl.subdl.com`` returns the zip (no key).
  Accounts without a paid API plan get HTTP 402
  ``{"error": "paid_api_required", "message": "Active paid API subscription required"}``.
- Language codes are SubDL's own upper-case ones: ``EN``, ``FR``, ``BR_PT`` (Brazilian
  Portuguese), ``ZH`` (Chinese, GB), ``ZH_BG`` (Chinese, Big 5 — traditional), ``FA``,
  ``HE``, ``JA``, ``KO``, ``NO``, ``UK``…, and bilingual ones (``BG_EN``, ``EN_DE``…) we
  neither ask for nor keep.
- Daily allowances reset at midnight UTC.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

import requests

from providers.base import (
    AuthenticationError,
    BadResponse,
    Provider,
    ProviderConfigError,
    ProviderError,
    QuotaExhausted,
    SubtitleResult,
    UnknownLanguage,
    VideoQuery,
    as_int,
    normalize_language,
)
from providers.http import (
    MAX_DOWNLOAD_BYTES,
    ProviderHttp,
    parse_json,
    raise_for_status,
    retry_at_from_headers,
)

DEFAULT_URL = "https://api.subdl.com/api/v1"
DEFAULT_DOWNLOAD_URL = "https://dl.subdl.com"
SITE_URL = "https://subdl.com"
SUBS_PER_PAGE = 30
# A title every catalogue has, for "test connection".
PROBE_IMDB_ID = "tt0133093"

# Our code -> SubDL's, where SubDL does not simply upper-case ISO 639-1.
_TO_SUBDL = {"pt-BR": "BR_PT", "zh": "ZH", "zh-TW": "ZH_BG", "zh-HK": "ZH_BG", "nb": "NO",
             "mni": "MNI"}
_FROM_SUBDL = {"BR_PT": "pt-BR", "ZH": "zh", "ZH_BG": "zh-TW", "NO": "no"}
SUBDL_LANGUAGES = frozenset({
    "AR", "BR_PT", "DA", "NL", "EN", "FA", "FI", "FR", "ID", "IT", "NO", "RO", "ES", "SV",
    "VI", "SQ", "AZ", "BE", "BN", "ZH_BG", "BS", "BG", "MY", "CA", "ZH", "HR", "CS", "EO",
    "ET", "KA", "DE", "EL", "KL", "HE", "HI", "HU", "IS", "JA", "KO", "KU", "LV", "LT",
    "MK", "MS", "ML", "MNI", "PL", "PT", "RU", "SR", "SI", "SK", "SL", "TL", "TA", "TE",
    "TH", "TR", "UK", "UR",
})
_NOT_FOUND = re.compile(r"can'?t find|not found|no (results|subtitles)", re.IGNORECASE)
_BAD_KEY = re.compile(r"api[ _-]?key|unauthori[sz]ed|forbidden", re.IGNORECASE)
_QUOTA = re.compile(r"limit|quota|exceed", re.IGNORECASE)
_ZIP_ID = re.compile(r"/subtitle/([^/?#]+?)(?:\.zip)?$")


def subdl_language(code: str) -> str | None:
    """SubDL's code for one of ours, None when SubDL has no such language."""
    mapped = _TO_SUBDL.get(code) or code.split("-")[0].upper()
    return mapped if mapped in SUBDL_LANGUAGES else None


def our_language(subdl_code: Any, name: Any = None) -> str | None:
    """Our code for a subtitle's SubDL code (or, failing that, its language name);
    None for bilingual and unknown ones."""
    code = str(subdl_code or "").upper()
    if code in _FROM_SUBDL:
        return _FROM_SUBDL[code]
    if code in SUBDL_LANGUAGES:
        return normalize_language(code.lower())
    try:
        return normalize_language(str(name)) if name and "_" not in str(name) else None
    except UnknownLanguage:
        return None


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


class SubDLProvider(Provider):
    """SubDL search by IMDb/TMDB id or name; each subtitle is a zip."""

    name = "subdl"
    query_keys: ClassVar[tuple[str, ...]] = (
        "kind", "title", "series", "year", "imdb_id", "tmdb_id", "season", "episode")

    def __init__(self, *, base_url: str = DEFAULT_URL,
                 download_url: str = DEFAULT_DOWNLOAD_URL, api_key: str = "",
                 timeout: float = 15.0, max_download_bytes: int = MAX_DOWNLOAD_BYTES,
                 subs_per_page: int = SUBS_PER_PAGE) -> None:
        self.api_key = api_key.strip()
        self.max_download_bytes = max_download_bytes
        self.subs_per_page = max(1, min(subs_per_page, SUBS_PER_PAGE))
        self.http = ProviderHttp(self.name, base_url=base_url, timeout=timeout,
                                 headers={"Accept": "application/json"})
        # The key travels as a query parameter of API calls only, never to this host.
        self.downloads = ProviderHttp(self.name, base_url=download_url, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        return cls(base_url=settings.subdl_url, download_url=settings.subdl_download_url,
                   api_key=settings.subdl_api_key, timeout=settings.provider_timeout,
                   max_download_bytes=settings.archive_max_bytes)

    # -- search ------------------------------------------------------------------------

    def search(self, query: VideoQuery, languages: list[str]) -> list[SubtitleResult]:
        self._require_key()
        codes = sorted({c for c in (subdl_language(normalize_language(x))
                                    for x in languages) if c})
        params = self._search_params(query, codes)
        if params is None:
            return []
        body = self._call(params)
        if body is None:
            return []
        wanted = {normalize_language(x) for x in languages}
        searched_by = "imdb_id" if "imdb_id" in params else (
            "tmdb_id" if "tmdb_id" in params else None)
        results = []
        for item in _list(self.name, body.get("subtitles", []), "subtitles"):
            result = self._result(item, query, searched_by)
            if result is not None and (result.language in wanted
                                       or result.language.split("-")[0] in wanted):
                results.append(result)
        return results

    def _search_params(self, query: VideoQuery, codes: list[str]) -> dict[str, Any] | None:
        if not codes:
            return None
        params: dict[str, Any] = {
            "api_key": self.api_key, "type": "tv" if query.kind == "episode" else "movie",
            "languages": ",".join(codes), "subs_per_page": self.subs_per_page,
            "hi": 1, "releases": 1,
        }
        if query.imdb_id:
            params["imdb_id"] = _imdb_id(query.imdb_id)
        elif query.tmdb_id:
            params["tmdb_id"] = query.tmdb_id
        elif query.name:
            params["film_name"] = query.name
            if query.year and query.kind == "movie":
                params["year"] = query.year
        else:
            return None
        if query.kind == "episode":
            if query.season is not None:
                params["season_number"] = query.season
            if query.episode is not None:
                params["episode_number"] = query.episode
        return params

    def _call(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The success body, None for "nothing found", or the provider error."""
        response = self.http.get("/subtitles", params=params,
                                 expected=(200, 400, 401, 402, 403, 404))
        body = _json_object(self.name, response)
        if response.status_code == 200 and body.get("status") is True:
            return body
        message = _error_message(body) or f"HTTP {response.status_code}"
        if _NOT_FOUND.search(message) and response.status_code in (200, 404):
            return None
        raise self._error(response, message)

    def _result(self, item: Any, query: VideoQuery,
                searched_by: str | None) -> SubtitleResult | None:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            return None
        language = our_language(item.get("language"), item.get("lang"))
        match = _ZIP_ID.search(item["url"])
        if language is None or match is None:
            return None
        vouched = self._vouched(item, query)
        if vouched is None:
            return None
        if searched_by:
            vouched.add(searched_by)
        release = str(item.get("release_name") or "").strip()
        names = [release] if release else []
        names += [str(r).strip() for r in item.get("releases") or []
                  if str(r).strip() and str(r).strip() not in names]
        page = str(item.get("subtitlePage") or "")
        return SubtitleResult(
            provider=self.name,
            id=match.group(1),
            language=language,
            format="unknown",
            release_names=names,
            hearing_impaired=bool(item.get("hi")),
            uploader=str(item["author"]) if item.get("author") else None,
            download_ref={"url": item["url"], "filename": item["url"].rsplit("/", 1)[-1]},
            page_url=(page if page.startswith("http") else f"{SITE_URL}{page}") if page
            else None,
            matches=sorted(vouched),
            extra={key: item.get(key) for key in ("season", "episode", "episode_from",
                                                  "episode_end", "full_season", "name",
                                                  "comment") if item.get(key) is not None},
        )

    @staticmethod
    def _vouched(item: dict[str, Any], query: VideoQuery) -> set[str] | None:
        """The season/episode matches SubDL's own numbers vouch for; None when they
        say it is another episode (0 and null mean "not recorded")."""
        if query.kind != "episode":
            return set()
        season, episode = as_int(item.get("season")), as_int(item.get("episode"))
        first, last = as_int(item.get("episode_from")), as_int(item.get("episode_end"))
        vouched: set[str] = set()
        if season and query.season is not None:
            if season != query.season:
                return None
            vouched.add("season")
        wanted = query.episode
        if wanted is None:
            return vouched
        if episode and not item.get("full_season"):
            if episode != wanted:
                return None
            vouched.add("episode")
        elif first and last:
            if not first <= wanted <= last:
                return None
            vouched.add("episode")
        elif item.get("full_season") and "season" in vouched:
            vouched.add("episode")  # the pack holds every episode; the pipeline picks it
        return vouched

    # -- download ----------------------------------------------------------------------

    def download(self, result: SubtitleResult) -> bytes:
        url = str(result.download_ref.get("url") or "")
        if not url:
            raise BadResponse(self.name, f"result {result.id} has no download URL")
        response = self.downloads.get(url, stream=True,
                                      expected=tuple(range(200, 600)))
        try:
            if response.status_code != 200 or _is_json(response):
                body = _small_json(response)
                message = _error_message(body) or f"HTTP {response.status_code}"
                raise self._error(response, message)
            return self.downloads.read_body(response, limit=self.max_download_bytes)
        finally:
            response.close()

    # -- errors ------------------------------------------------------------------------

    def _error(self, response: requests.Response, message: str) -> ProviderError:
        status = response.status_code
        if status == 402 or "paid_api_required" in message:
            return ProviderConfigError(
                self.name, f"SubDL needs a paid API subscription for this: {message}")
        if status in (401, 403) or _BAD_KEY.search(message):
            return AuthenticationError(self.name, f"SubDL refused the API key: {message}")
        if status != 429 and _QUOTA.search(message):
            when = retry_at_from_headers(response.headers) or next_utc_midnight()
            return QuotaExhausted(self.name, f"{message} (until {when.isoformat()})", when)
        if status != 200:
            try:
                raise_for_status(self.name, response)
            except ProviderError as exc:
                return exc
        return BadResponse(self.name, f"SubDL answered: {message}")

    def test_connection(self) -> dict[str, Any]:
        self._require_key()
        body = self._call({"api_key": self.api_key, "imdb_id": PROBE_IMDB_ID,
                           "type": "movie", "subs_per_page": 1, "languages": "EN"})
        return {"ok": True, "results": len((body or {}).get("subtitles") or [])}

    def close(self) -> None:
        self.http.close()
        self.downloads.close()

    def _require_key(self) -> None:
        if not self.api_key:
            raise ProviderConfigError(
                self.name, "no API key: set SUBLARR_SUBDL_API_KEY (from your subdl.com "
                "account page)")


# -- helpers ------------------------------------------------------------------------------


def _imdb_id(value: str) -> str:
    text = value.strip()
    return text if text.startswith("tt") else f"tt{int(text):07d}"



def _list(provider: str, value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadResponse(provider, f"expected a JSON list of {what}, got "
                          f"{type(value).__name__}")
    return value


def _json_object(provider: str, response: requests.Response) -> dict[str, Any]:
    data = parse_json(provider, response)
    if not isinstance(data, dict):
        raise BadResponse(provider, f"expected a JSON object, got {type(data).__name__}")
    return data


def _error_message(body: dict[str, Any]) -> str:
    parts = [str(body.get(key)) for key in ("error", "message") if body.get(key)]
    return ": ".join(parts)


def _is_json(response: requests.Response) -> bool:
    return "json" in response.headers.get("Content-Type", "").lower()


def _small_json(response: requests.Response) -> dict[str, Any]:
    """An error reply's JSON body, or {} when it has none (read at most 64 KiB)."""
    raw = response.raw.read(64 * 1024, decode_content=True) or b""
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
