"""LibreTranslate (self-hosted machine translation on Argos models).

Protocol facts (LibreTranslate's API docs and its app.py):

- ``POST /translate`` with JSON ``{"q", "source", "target", "format": "text" | "html",
  "api_key"?}``. ``q`` may be a string or a list of strings (a batch); the answer's
  ``translatedText`` is then a string or a list in the same order. ``source`` may be
  ``"auto"``; the answer then also carries ``detectedLanguage``.
- Codes are Argos's, mostly ISO 639-1 ("en", "de"), with "pb" for Brazilian Portuguese
  and "zt" for traditional Chinese. ``GET /languages`` lists what a server has.
- Errors are ``{"error": "..."}``: 400 for a missing parameter, an unsupported language
  ("xx is not supported", "... is not available as a target language from ..."), a
  batch or character limit ("request (N) exceeds text limit (M)"), or a server that
  wants an API key ("Please contact the server operator to get an API key" / "Visit
  ... to get an API key"); 403 "Invalid API key" or, after repeated limit violations,
  "Too many request limits violations" (a ban); 429 "Slowdown: ..." from the per-minute
  limit; 500 "Cannot translate text: ...".

Mapping: 400 about limits → BatchTooLarge; 400 about languages → LanguageNotSupported;
other 400s and 403 "Invalid API key" → BackendConfigError; 429 and the 403 ban →
BackendRateLimited; 5xx and transport failures → BackendUnavailable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from config import Settings
from providers.http import retry_at_from_headers
from translation.base import (
    BackendConfigError,
    BackendHttp,
    BackendRateLimited,
    BackendUnavailable,
    BatchTooLarge,
    LanguageNotSupported,
    MalformedAnswer,
    TranslationBackend,
    TranslationError,
    error_text,
    json_body,
    key_fingerprint,
    split_language,
    unavailable_for,
)

BAN_BACKOFF = timedelta(minutes=10)
_CODES = {"pt-BR": "pb", "zh-TW": "zt", "zh-HK": "zt"}


def libre_code(code: str) -> str:
    """LibreTranslate's code for one of ours: "pt-BR" → "pb", "de" → "de"."""
    return _CODES.get(code) or split_language(code)[0]


class LibreTranslateBackend(TranslationBackend):
    name = "libretranslate"
    kind = "mt"

    def __init__(self, *, base_url: str = "http://127.0.0.1:5000", api_key: str = "",
                 timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.http = BackendHttp(self.name, base_url=self.base_url, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> LibreTranslateBackend:
        return cls(base_url=settings.libretranslate_url,
                   api_key=settings.libretranslate_api_key,
                   timeout=settings.translation_timeout)

    @property
    def identity(self) -> str:
        key = key_fingerprint(self.api_key)
        return f"libretranslate@{self.base_url}#{key}"

    def _translate(self, lines: list[str], *, source_lang: str | None, target_lang: str,
                   context: list[str], glossary: dict[str, str]) -> list[str]:
        body: dict[str, Any] = {"q": lines,
                                "source": libre_code(source_lang) if source_lang else "auto",
                                "target": libre_code(target_lang), "format": "text"}
        if self.api_key:
            body["api_key"] = self.api_key
        response = self.http.post("/translate", json_body=body)
        if response.status_code != 200:
            raise self._error(response)
        data = json_body(self.name, response)
        translated = data.get("translatedText") if isinstance(data, dict) else None
        # A server without batch support answers a one-line batch with a plain string.
        if isinstance(translated, str) and len(lines) == 1:
            translated = [translated]
        if not isinstance(translated, list) or not all(isinstance(t, str) for t in translated):
            raise BackendUnavailable(self.name, f"a reply without translatedText: "
                                     f"{data!r:.160}")
        if len(translated) != len(lines):
            raise MalformedAnswer(self.name, f"{len(translated)} translations for "
                                  f"{len(lines)} texts")
        return list(translated)

    def _error(self, response: requests.Response) -> TranslationError:
        status = response.status_code
        message = error_text(response)
        detail = f"HTTP {status}: {message}"
        lowered = message.lower()
        if status == 429:
            return BackendRateLimited(self.name, detail, retry_at_from_headers(response.headers))
        if status == 403 and "violations" in lowered:
            return BackendRateLimited(self.name, f"banned for a while: {message}",
                                      retry_at_from_headers(response.headers)
                                      or datetime.now(UTC) + BAN_BACKOFF)
        if status in (400, 413) and "limit" in lowered:
            return BatchTooLarge(self.name, detail)
        if status == 400 and ("not supported" in lowered or "not available" in lowered):
            return LanguageNotSupported(self.name, detail)
        if status in (400, 401, 403, 404, 405):
            hint = " (SUBLARR_LIBRETRANSLATE_API_KEY)" if "key" in lowered else ""
            return BackendConfigError(self.name, f"{detail}{hint}")
        return unavailable_for(self.name, response)

    def close(self) -> None:
        self.http.close()
