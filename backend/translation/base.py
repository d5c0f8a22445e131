"""What every translation backend shares: the interface, the errors, the HTTP client.

A backend is configured by keyword arguments only and does no I/O in ``__init__``;
``from_settings(settings)`` builds one from Sublarr's settings. ``translate(lines, *,
source_lang, target_lang, context=None, glossary=None)`` returns exactly ``len(lines)``
strings or raises one of the errors below, which ``translation.BackendChain`` (and the
translator) act on:

- ``BackendConfigError``: bad key, URL or model; skip this backend until it is fixed.
- ``LanguageNotSupported``: this backend cannot do this language pair; try the next one.
- ``BackendRateLimited`` / ``BackendQuotaExceeded`` (both ``BackendThrottled``, with
  ``retry_at``): back off until then.
- ``BackendUnavailable``: 5xx, refused connection, timeout, a garbled reply; retried and
  counted toward the backend's circuit breaker.
- ``MalformedAnswer``: the backend answered but not with one translation per line (a
  short LLM answer, say); ``BatchTooLarge`` when the request was too big. The translator
  splits the batch and tries again; neither is retried as is.

Lines are plain text in which markup has been replaced by placeholders such as ``⟦1⟧``
(``PLACEHOLDER_RE``); backends keep them intact. Language codes are Sublarr's
(``providers.base.normalize_language``: "en", "de", "pt-BR", "zh-TW"); ``"auto"`` or an
empty source means "detect it" where a backend can.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import requests

from config import Settings
from providers.base import UnknownLanguage, normalize_language
from providers.http import USER_AGENT, retry_at_from_headers

# The placeholder shape the translator uses for markup it takes out of a line.
PLACEHOLDER_RE = re.compile(r"⟦[^⟦⟧\s]{1,16}⟧")
DEFAULT_RATE_LIMIT_BACKOFF = timedelta(seconds=60)
DEFAULT_QUOTA_BACKOFF = timedelta(hours=1)


# -- errors -----------------------------------------------------------------------------


class TranslationError(Exception):
    """Base of every backend failure; ``backend`` names the backend that failed."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend
        self.message = message


class BackendConfigError(TranslationError):
    """Wrong key, URL or model: skip this backend until its settings are fixed."""


class LanguageNotSupported(TranslationError):
    """This backend cannot translate this language pair; another backend may."""


class BackendThrottled(TranslationError):
    """The backend asked us to wait; ``retry_at`` is when it said we may call again."""

    def __init__(self, backend: str, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(backend, message)
        self.retry_at = retry_at


class BackendRateLimited(BackendThrottled):
    """Too many requests for now (HTTP 429 and friends)."""


class BackendQuotaExceeded(BackendThrottled):
    """The account's character or spending quota is used up."""


class BackendUnavailable(TranslationError):
    """Server error, refused connection, timeout or a reply that is not the protocol."""


class MalformedAnswer(TranslationError):
    """The backend answered, but not with exactly one translation per line."""

    def __init__(self, backend: str, message: str, answer: str = "") -> None:
        super().__init__(backend, message)
        self.answer = answer


class BatchTooLarge(MalformedAnswer):
    """The request was too large for the backend; a smaller batch will do."""


# -- the interface ----------------------------------------------------------------------


class TranslationBackend(ABC):
    """One translation service. Subclasses set ``name`` and ``kind`` and implement
    ``_translate``; ``translate`` handles blank lines and checks the line count."""

    name: ClassVar[str]
    kind: ClassVar[str]  # "llm" (gets context and glossary in its prompt) or "mt"

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> TranslationBackend:
        """This backend configured from Sublarr's settings."""

    @property
    def model_id(self) -> str:
        """What produced a translation, for the translation memory key."""
        return self.name

    @property
    def identity(self) -> str:
        """Distinguishes two configurations of one backend (URL, model, key) for the
        circuit breaker and throttle state; never contains a secret."""
        return self.model_id

    def translate(self, lines: list[str], *, source_lang: str, target_lang: str,
                  context: list[str] | None = None,
                  glossary: dict[str, str] | None = None) -> list[str]:
        """Exactly one translation per line, in order; blank lines stay blank and are
        not sent."""
        source = source_code(source_lang, self.name)
        target = target_code(target_lang, self.name)
        wanted = [i for i, line in enumerate(lines) if line.strip()]
        if not wanted:
            return list(lines)
        answer = self._translate([lines[i] for i in wanted], source_lang=source,
                                 target_lang=target, context=list(context or []),
                                 glossary=dict(glossary or {}))
        if len(answer) != len(wanted):
            raise MalformedAnswer(self.name, f"{len(answer)} translations for "
                                  f"{len(wanted)} lines")
        result = list(lines)
        for index, text in zip(wanted, answer, strict=True):
            result[index] = text
        return result

    @abstractmethod
    def _translate(self, lines: list[str], *, source_lang: str | None, target_lang: str,
                   context: list[str], glossary: dict[str, str]) -> list[str]:
        """Translate non-blank lines; ``source_lang`` is None when it is to be detected."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release network resources; the backend can still be used afterwards."""


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible tag of an API key for a backend's identity: a changed key
    is another identity (breaker and memory state), and the key itself never shows."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:8] if api_key else ""


def source_code(code: str | None, backend: str) -> str | None:
    """Sublarr's code for a source language, or None for "detect it"."""
    if not code or code.strip().lower() in ("auto", "und", "detect"):
        return None
    return target_code(code, backend)


def target_code(code: str, backend: str) -> str:
    """Sublarr's code for a language, or LanguageNotSupported naming the unknown one."""
    try:
        return normalize_language(code)
    except UnknownLanguage as exc:
        raise LanguageNotSupported(backend, str(exc)) from None


def split_language(code: str) -> tuple[str, str]:
    """("pt", "BR") for "pt-BR", ("de", "") for "de"."""
    base, _, region = code.partition("-")
    return base.lower(), region.upper()


# -- HTTP ---------------------------------------------------------------------------------


class BackendHttp:
    """A lazily built requests session for one backend. Transport failures become
    BackendUnavailable; statuses are left to the backend, whose replies differ."""

    def __init__(self, backend: str, *, base_url: str, timeout: float,
                 headers: dict[str, str] | None = None) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        # Built on first use so that constructing a backend does no I/O.
        with self._lock:
            if self._session is None:
                session = requests.Session()
                session.headers.update(self._headers)
                adapter = requests.adapters.HTTPAdapter(pool_maxsize=16, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
            return self._session

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def post(self, path: str, *, json_body: Any, headers: dict[str, str] | None = None
             ) -> requests.Response:
        # Connecting should be quick; the read timeout covers the model's thinking.
        timeout = (min(10.0, self.timeout), self.timeout)
        try:
            return self.session.post(self.url(path), json=json_body, headers=headers,
                                     timeout=timeout)
        except requests.Timeout as exc:
            raise BackendUnavailable(self.backend,
                                     f"no answer within {self.timeout:g}s") from exc
        except requests.ConnectionError as exc:
            raise BackendUnavailable(self.backend,
                                     f"cannot connect to {self.base_url}: {exc}") from exc
        except requests.RequestException as exc:
            raise BackendUnavailable(self.backend, f"request failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


def json_body(backend: str, response: requests.Response) -> Any:
    """The JSON body of a 200; anything else is not the protocol, so the server (or a
    proxy in front of it) is treated as unavailable."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        kind = response.headers.get("Content-Type", "unknown type")
        raise BackendUnavailable(
            backend, f"expected JSON, got {kind}: {response.text[:120]!r}") from None


def error_text(response: requests.Response) -> str:
    """The message of an error reply: ``{"error": "..."}``, ``{"error": {"message":
    ...}}``, ``{"message": ...}``, or the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason or ""
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)
        if error:
            return str(error)
        if data.get("message"):
            return str(data["message"])
        if data.get("detail"):
            return str(data["detail"])
    return str(data)[:200]


def retry_at(response: requests.Response, default: timedelta) -> datetime:
    """When a throttled client may call again: the reply's headers, else now + default."""
    return retry_at_from_headers(response.headers) or datetime.now(UTC) + default


def unavailable_for(backend: str, response: requests.Response) -> BackendUnavailable:
    return BackendUnavailable(backend, f"HTTP {response.status_code}: {error_text(response)}")
