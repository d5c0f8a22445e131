"""OpenAI-compatible chat completions (OpenAI, OpenRouter, vLLM, LM Studio, llama.cpp...).

Protocol facts (OpenAI's API reference, rate-limit and error-code guides):

- ``POST {base}/chat/completions`` where the base URL setting already ends in ``/v1``;
  ``Authorization: Bearer <key>`` (left out when no key is set: local servers need
  none); body ``{"model", "messages": [{"role": "system"|"user", "content"}],
  "temperature"}``. The answer is ``{"choices": [{"index": 0, "message": {"role":
  "assistant", "content": "...", "refusal": null}, "finish_reason": "stop" | "length" |
  "content_filter"}], "usage": {...}}``.
- Errors are ``{"error": {"message", "type", "param", "code"}}``: 401
  ``invalid_api_key``; 403 (region, project without access); 404 ``model_not_found``;
  400 ``context_length_exceeded`` and other invalid requests; 429 either
  ``rate_limit_exceeded`` (wait) or ``insufficient_quota`` (billing: waiting will not
  help soon); 500/502/503 server trouble. OpenRouter answers 402 when credits run out.
  Reasoning models refuse any ``temperature`` but their default with a 400 whose
  ``param`` is "temperature": the request is then sent once more without it.
- Throttling headers: ``retry-after`` (seconds), ``retry-after-ms``, and
  ``x-ratelimit-reset-requests`` / ``x-ratelimit-reset-tokens`` as Go-style durations
  ("1s", "6m0s", "12ms") with ``x-ratelimit-remaining-*`` telling which one ran out.

Mapping: 401/403/404/other 400 → BackendConfigError; 429 ``insufficient_quota`` and
402 → BackendQuotaExceeded; other 429 → BackendRateLimited(retry_at from the headers);
408/409/5xx, transport failures, a reply without choices → BackendUnavailable;
``finish_reason: "length"``, ``context_length_exceeded`` and 413 → BatchTooLarge;
a refusal, a filtered answer or a wrong number of lines → MalformedAnswer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from config import Settings
from providers.http import parse_retry_after
from translation.base import (
    DEFAULT_QUOTA_BACKOFF,
    DEFAULT_RATE_LIMIT_BACKOFF,
    BackendConfigError,
    BackendHttp,
    BackendQuotaExceeded,
    BackendRateLimited,
    BackendUnavailable,
    BatchTooLarge,
    MalformedAnswer,
    TranslationError,
    json_body,
    key_fingerprint,
    unavailable_for,
)
from translation.llm import TEMPERATURE, LLMBackend

QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class OpenAIBackend(LLMBackend):
    name = "openai"

    def __init__(self, *, base_url: str = "https://api.openai.com/v1", api_key: str = "",
                 model: str = "gpt-4o-mini", timeout: float = 120.0,
                 temperature: float | None = TEMPERATURE) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.temperature = temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = BackendHttp(self.name, base_url=self.base_url, timeout=timeout,
                                headers=headers)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIBackend:
        return cls(base_url=settings.openai_url, api_key=settings.openai_api_key,
                   model=settings.openai_model, timeout=settings.translation_timeout)

    @property
    def model_id(self) -> str:
        return f"openai:{self.model}"

    @property
    def identity(self) -> str:
        key = key_fingerprint(self.api_key)
        return f"openai:{self.model}@{self.base_url}#{key}"

    def _complete(self, system: str, prompt: str, *, lines: int) -> str:
        if not self.model:
            raise BackendConfigError(self.name, "no model set (SUBLARR_OPENAI_MODEL)")
        body: dict[str, Any] = {"model": self.model,
                                "messages": [{"role": "system", "content": system},
                                             {"role": "user", "content": prompt}]}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        response = self.http.post("/chat/completions", json_body=body)
        if self.temperature is not None and _rejects_temperature(response):
            # Reasoning models accept only their default; remember that and ask again.
            self.temperature = None
            body.pop("temperature")
            response = self.http.post("/chat/completions", json_body=body)
        if response.status_code != 200:
            raise self._error(response)
        return self._content(json_body(self.name, response))

    def _content(self, data: Any) -> str:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BackendUnavailable(self.name, f"a reply without choices: {data!r:.160}")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            message = {}
        content = _text(message.get("content"))
        reason = choice.get("finish_reason")
        if reason == "length":
            raise BatchTooLarge(self.name, "the answer was cut at max tokens", content or "")
        if reason == "content_filter":
            raise MalformedAnswer(self.name, "the answer was withheld by a content filter")
        if content is None:
            refusal = message.get("refusal") or "no content"
            raise MalformedAnswer(self.name, f"no translation: {refusal}")
        return content

    def _error(self, response: requests.Response) -> TranslationError:
        status = response.status_code
        message, code, _ = _error_fields(response)
        detail = f"HTTP {status}: {message}"
        if (status == 429 and code in QUOTA_CODES) or status == 402:
            return BackendQuotaExceeded(self.name, detail, openai_retry_at(
                response.headers, default=DEFAULT_QUOTA_BACKOFF))
        if status == 429:
            return BackendRateLimited(self.name, detail, openai_retry_at(response.headers))
        if status == 413 or code == "context_length_exceeded" or (
                status == 400 and "context length" in message.lower()):
            return BatchTooLarge(self.name, detail)
        if status == 401:
            return BackendConfigError(self.name, f"API key rejected "
                                      f"(SUBLARR_OPENAI_API_KEY): {message}")
        if status == 404:
            return BackendConfigError(self.name, f"model {self.model!r} or API not found at "
                                      f"{self.base_url}: {message}")
        if status in (400, 403, 405, 422):
            return BackendConfigError(self.name, detail)
        return unavailable_for(self.name, response)

    def close(self) -> None:
        self.http.close()


def _text(content: Any) -> str | None:
    """Message content as text; some compatible servers send a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "".join(parts)
    return None


def _error_fields(response: requests.Response) -> tuple[str, str, str]:
    """(message, code or type, param) of an OpenAI error reply."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip(), "", ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or ""
        return str(error.get("message") or ""), str(code), str(error.get("param") or "")
    return str(error or data)[:200], "", ""


def _rejects_temperature(response: requests.Response) -> bool:
    if response.status_code != 400:
        return False
    message, _, param = _error_fields(response)
    return param == "temperature" or "'temperature'" in message


def parse_duration(text: str | None) -> timedelta | None:
    """A Go-style duration ("6m0s", "1.5s", "20ms") as a timedelta."""
    if not text:
        return None
    parts = _DURATION.findall(text.strip())
    if not parts:
        try:
            return timedelta(seconds=float(text))
        except ValueError:
            return None
    return timedelta(seconds=sum(float(value) * _UNITS[unit] for value, unit in parts))


def openai_retry_at(headers: Any, *, default: timedelta = DEFAULT_RATE_LIMIT_BACKOFF,
                    now: datetime | None = None) -> datetime:
    """When a throttled client may call again, from OpenAI's headers."""
    now = now or datetime.now(UTC)
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return now + timedelta(milliseconds=float(milliseconds))
        except ValueError:
            pass
    when = parse_retry_after(headers.get("retry-after"), now)
    if when is not None:
        return when
    waits = []
    for kind in ("requests", "tokens"):
        wait = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
        if wait is not None:
            exhausted = headers.get(f"x-ratelimit-remaining-{kind}") == "0"
            waits.append((exhausted, wait))
    if waits:
        # The limit that ran out decides; when neither says so, the longer wait is safe.
        return now + max(waits)[1]
    return now + default
