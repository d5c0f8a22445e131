"""DeepL, through its v2 REST API.

Protocol facts (developers.deepl.com: auth, translate text, error handling, usage limits):

- Two hosts: ``https://api-free.deepl.com`` for DeepL API Free keys, which end in
  ``:fx``, and ``https://api.deepl.com`` for Pro keys; a key sent to the wrong host is
  refused with 403. ``settings.deepl_url`` overrides the choice (self-hosted proxies,
  tests).
- ``POST /v2/translate`` with ``Authorization: DeepL-Auth-Key <key>`` (never the key as a
  query parameter: that was deprecated in 2025) and a JSON body ``{"text": [...],
  "target_lang", "source_lang"?, "tag_handling": "xml", "context"?,
  "split_sentences", "preserve_formatting"}``. At most 50 texts per request and 128 KiB
  per body; translations come back in order as ``{"translations":
  [{"detected_source_language": "EN", "text": "..."}]}``.
- Language codes: sources are bare ("EN", "PT", "ZH"); targets need a variant for
  English and Portuguese ("EN-US"/"EN-GB", "PT-BR"/"PT-PT") and take "ZH-HANS" /
  "ZH-HANT" for Chinese scripts. An unsupported one is a 400 naming the parameter.
- ``context`` is text that informs the translation without being translated or billed:
  the preceding subtitle lines go there.
- ``tag_handling=xml`` keeps XML tags in place, so each placeholder travels as
  ``<x id="N"/>`` and the text around it is XML-escaped.
- Errors: 400 bad parameters, 403 bad key or wrong host, 404 not found, 413 body too
  large, 414 URL too long, 429 too many requests (retry with exponential back-off; no
  Retry-After is promised), 456 quota exceeded (Free: the monthly 500,000 characters;
  Pro: the cost-control limit), 500/504 temporary, 529 too many requests (overload).
  Bodies are ``{"message": "..."}``.

Mapping: 403/401/404/other 400 → BackendConfigError; a 400 about a language →
LanguageNotSupported; 456 → BackendQuotaExceeded; 429/529 → BackendRateLimited (retry_at
from Retry-After when sent, else None: the chain backs off exponentially); 413/414 →
BatchTooLarge; 5xx and transport failures → BackendUnavailable.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape, unescape

import requests

from config import Settings
from providers.http import retry_at_from_headers
from translation.base import (
    DEFAULT_QUOTA_BACKOFF,
    PLACEHOLDER_RE,
    BackendConfigError,
    BackendHttp,
    BackendQuotaExceeded,
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
from translation.base import retry_at as retry_at_or

FREE_URL = "https://api-free.deepl.com"
PRO_URL = "https://api.deepl.com"
MAX_TEXTS = 50
_TARGETS = {"en": "EN-US", "pt": "PT-PT", "pt-BR": "PT-BR", "zh": "ZH-HANS",
            "zh-TW": "ZH-HANT", "zh-HK": "ZH-HANT", "no": "NB"}
_TAG = re.compile(r'<x\s+id="(\d+)"\s*(?:/>|>\s*</x>)')
_ENTITIES = {"&quot;": '"', "&apos;": "'"}


def deepl_target(code: str) -> str:
    """DeepL's target code for one of ours: "en" → "EN-US", "pt-BR" → "PT-BR"."""
    if code in _TARGETS:
        return _TARGETS[code]
    return split_language(code)[0].upper()


def deepl_source(code: str) -> str:
    """DeepL's source code for one of ours: always the bare language ("PT", "ZH")."""
    base = split_language(code)[0]
    return "NB" if base == "no" else base.upper()


def host_for(api_key: str, deepl_url: str = "") -> str:
    if deepl_url:
        return deepl_url.rstrip("/").removesuffix("/v2")
    return FREE_URL if api_key.endswith(":fx") else PRO_URL


class Placeholders:
    """Placeholders as XML tags on the way out, and back again."""

    def __init__(self) -> None:
        self.by_id: dict[str, str] = {}
        self._ids: dict[str, str] = {}

    def encode(self, line: str) -> str:
        parts: list[str] = []
        position = 0
        for match in PLACEHOLDER_RE.finditer(line):
            parts.append(escape(line[position:match.start()]))
            parts.append(f'<x id="{self._id(match.group(0))}"/>')
            position = match.end()
        parts.append(escape(line[position:]))
        return "".join(parts)

    def decode(self, text: str) -> str:
        restored = _TAG.sub(lambda m: self.by_id.get(m.group(1), m.group(0)), text)
        return unescape(restored, _ENTITIES)

    def _id(self, placeholder: str) -> str:
        if placeholder not in self._ids:
            self._ids[placeholder] = str(len(self._ids) + 1)
            self.by_id[self._ids[placeholder]] = placeholder
        return self._ids[placeholder]


class DeepLBackend(TranslationBackend):
    name = "deepl"
    kind = "mt"

    def __init__(self, *, api_key: str = "", base_url: str = "", timeout: float = 120.0
                 ) -> None:
        self.api_key = api_key
        self.base_url = host_for(api_key, base_url)
        headers = {"Authorization": f"DeepL-Auth-Key {api_key}"} if api_key else {}
        self.http = BackendHttp(self.name, base_url=self.base_url, timeout=timeout,
                                headers=headers)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeepLBackend:
        return cls(api_key=settings.deepl_api_key, base_url=settings.deepl_url,
                   timeout=settings.translation_timeout)

    @property
    def identity(self) -> str:
        key = key_fingerprint(self.api_key)
        return f"deepl@{self.base_url}#{key}"

    def _translate(self, lines: list[str], *, source_lang: str | None, target_lang: str,
                   context: list[str], glossary: dict[str, str]) -> list[str]:
        if not self.api_key:
            raise BackendConfigError(self.name, "no API key set (SUBLARR_DEEPL_API_KEY)")
        result: list[str] = []
        for start in range(0, len(lines), MAX_TEXTS):
            result += self._request(lines[start:start + MAX_TEXTS], source_lang,
                                    target_lang, context)
        return result

    def _request(self, lines: list[str], source_lang: str | None, target_lang: str,
                 context: list[str]) -> list[str]:
        tags = Placeholders()
        body: dict[str, Any] = {
            "text": [tags.encode(line) for line in lines],
            "target_lang": deepl_target(target_lang),
            "tag_handling": "xml",
            # One subtitle event is one text: its line breaks are not sentence ends.
            "split_sentences": "nonewlines",
            "preserve_formatting": True,
        }
        if source_lang:
            body["source_lang"] = deepl_source(source_lang)
        if context:
            body["context"] = "\n".join(context)
        response = self.http.post("/v2/translate", json_body=body)
        if response.status_code != 200:
            raise self._error(response)
        translations = json_body(self.name, response).get("translations")
        if not isinstance(translations, list):
            raise BackendUnavailable(self.name, "a reply without translations")
        texts = [item.get("text") for item in translations if isinstance(item, dict)]
        if len(texts) != len(lines) or not all(isinstance(t, str) for t in texts):
            raise MalformedAnswer(self.name, f"{len(texts)} translations for {len(lines)} "
                                  "texts")
        return [tags.decode(str(text)) for text in texts]

    def _error(self, response: requests.Response) -> TranslationError:
        status = response.status_code
        message = error_text(response)
        detail = f"HTTP {status}: {message}"
        if status == 456:
            return BackendQuotaExceeded(self.name, f"quota exceeded: {message}",
                                        retry_at_or(response, DEFAULT_QUOTA_BACKOFF))
        if status in (429, 529):
            return BackendRateLimited(self.name, detail,
                                      retry_at_from_headers(response.headers))
        if status in (413, 414):
            return BatchTooLarge(self.name, detail)
        if status in (401, 403):
            return BackendConfigError(
                self.name, f"key refused by {self.base_url} (Free keys end in :fx and use "
                f"{FREE_URL}; check SUBLARR_DEEPL_API_KEY / SUBLARR_DEEPL_URL): {message}")
        if status == 400 and "lang" in message.lower():
            return LanguageNotSupported(self.name, detail)
        if status in (400, 404, 405):
            return BackendConfigError(self.name, detail)
        return unavailable_for(self.name, response)

    def close(self) -> None:
        self.http.close()
