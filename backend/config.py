"""Every Sublarr setting, declared once as data.

Defaults, validation, the README table and ``sublarr config show`` all come from
``SETTINGS`` below. Values are read, in rising priority, from the defaults, an
optional TOML config file (``SUBLARR_CONFIG_FILE``), the values saved from the web UI
(``stored``, the ``app_settings`` table; see settings_store.py), ``SUBLARR_*``
environment variables and the mapping handed to ``create_app``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "SUBLARR_"
MASK = "********"


class ConfigError(ValueError):
    """A setting has a value Sublarr cannot use; the message names the setting."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    group: str = "general"

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def accepts(self) -> str:
        """Describe, for error messages and docs, what this setting accepts."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        if self.type in (int, float):
            kind = "an integer" if self.type is int else "a number"
            return f"{kind} >= {self.minimum:g}" if self.minimum is not None else kind
        if self.type is list:
            return "a comma-separated list"
        return "text"

    def parse(self, raw: Any) -> Any:
        """Turn a raw value (env text, TOML value) into this setting's type."""
        try:
            value = _CONVERTERS[self.type](raw)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{self.env_var}: invalid value {self._show(raw)!s}; expected {self.accepts()}"
            ) from None
        if self.choices and value not in self.choices:
            raise ConfigError(
                f"{self.env_var}: invalid value {self._show(raw)!s}; expected {self.accepts()}"
            )
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(
                f"{self.env_var}: invalid value {self._show(raw)!s}; expected {self.accepts()}"
            )
        return value

    def _show(self, raw: Any) -> str:
        return MASK if self.secret else repr(raw)


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, float) and not raw.is_integer():
        raise ValueError(raw)
    return int(str(raw).strip()) if not isinstance(raw, int | float) else int(raw)


def _parse_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(raw)
    return float(raw)


def _parse_list(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [str(item).strip() for item in raw if str(item).strip()]
    return [part.strip() for part in str(raw).split(",") if part.strip()]


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    str: lambda raw: "" if raw is None else str(raw),
    int: _parse_int,
    float: _parse_float,
    bool: _parse_bool,
    list: _parse_list,
}


SETTINGS: tuple[Setting, ...] = (
    # -- server ------------------------------------------------------------------
    Setting("host", str, "127.0.0.1", "Address the web server listens on.", group="server"),
    Setting("port", int, 5765, "Port the web server listens on.", minimum=1, group="server"),
    Setting("server_threads", int, 8, "Request threads of the WSGI server.", minimum=1,
            group="server"),
    Setting("data_dir", str, str(REPO_ROOT / "data"),
            "Folder for the SQLite database, the generated API key and logs.", group="server"),
    Setting("media_roots", list, [], "Folders Sublarr may read and write, comma-separated.",
            group="server"),
    Setting("api_key", str, "",
            "API key for /api/v1 (X-Api-Key header or apikey parameter). "
            "Generated and stored in the data folder when empty.", secret=True, group="server"),
    Setting("log_level", str, "INFO", "Least severe level of messages that are logged.",
            choices=("DEBUG", "INFO", "WARNING", "ERROR"), group="server"),
    # -- storage -----------------------------------------------------------------
    Setting("database_url", str, "",
            "SQLAlchemy URL of the database (postgresql+psycopg://...). "
            "Empty: SQLite file sublarr.db in the data folder.", secret=True, group="storage"),
    Setting("sqlite_busy_timeout_ms", int, 5000,
            "How long SQLite waits for a lock before giving up, in milliseconds.", minimum=0,
            group="storage"),
    Setting("redis_url", str, "",
            "Redis URL (redis://host:6379/0). Empty: in-memory cache and thread-pool jobs.",
            secret=True, group="storage"),
    Setting("redis_socket_timeout", float, 2.0,
            "Seconds a Redis call may take before it counts as failed.", minimum=0.05,
            group="storage"),
    Setting("redis_key_prefix", str, "sublarr:", "Prefix of every cache key kept in Redis.",
            group="storage"),
    Setting("cache_max_entries", int, 10000,
            "Entries the in-memory cache keeps before evicting the least recently used.",
            minimum=1, group="storage"),
    Setting("cache_default_ttl", int, 0,
            "Default time to live of cache entries in seconds; 0 keeps them until evicted.",
            minimum=0, group="storage"),
    # -- jobs --------------------------------------------------------------------
    Setting("job_workers", int, 4, "Jobs the in-process thread pool runs at once.", minimum=1,
            group="jobs"),
    Setting("job_queue_name", str, "sublarr", "Name of the RQ queue.", group="jobs"),
    Setting("job_timeout", int, 3600, "Seconds a job may run before it is stopped.", minimum=1,
            group="jobs"),
    Setting("job_max_retries", int, 2, "Times a failed job is tried again.", minimum=0,
            group="jobs"),
    Setting("job_retry_delays", list, ["10", "60"],
            "Seconds to wait before each retry, comma-separated; the last repeats.",
            group="jobs"),
    Setting("job_result_ttl", int, 86400,
            "Seconds RQ keeps a finished job's result in Redis.", minimum=0, group="jobs"),
    Setting("job_failure_ttl", int, 604800,
            "Seconds RQ keeps a failed job in Redis.", minimum=0, group="jobs"),
    Setting("job_record_ttl_days", int, 14,
            "Days finished, failed and cancelled job records stay in the database.", minimum=1,
            group="jobs"),
    Setting("worker_maintenance_interval", int, 60,
            "Seconds between an RQ worker's clean-ups of abandoned jobs.", minimum=1,
            group="jobs"),
    Setting("worker_job_monitoring_interval", int, 10,
            "Seconds between heartbeats of a running RQ job; a job silent for longer is "
            "considered abandoned.", minimum=1, group="jobs"),
    Setting("scheduler_enabled", bool, True,
            "Run periodic tasks in this web process (one process across the deployment wins "
            "the lease).", group="jobs"),
    Setting("scheduler_lease_seconds", int, 60,
            "Seconds a scheduler lease lasts without renewal; the holder renews it every "
            "third of that, and a dead holder is replaced once it expires.", minimum=1,
            group="jobs"),
    Setting("provider_cache_purge_interval", int, 3600,
            "Seconds between purges of expired provider cache rows and old job records.",
            minimum=10, group="jobs"),
    Setting("job_reconcile_interval", int, 30,
            "Seconds between checks that the job queue still holds every queued job "
            "recorded in the database (re-enqueues those Redis lost).", minimum=1,
            group="jobs"),
    # -- providers ---------------------------------------------------------------
    Setting("providers_enabled", list,
            ["opensubtitles", "jimaku", "animetosho", "subdl", "podnapisi"],
            "Subtitle providers to search, comma-separated.", group="providers"),
    Setting("provider_timeout", float, 15.0,
            "Seconds one provider may take to answer a search before it is left out.",
            minimum=0.1, group="providers"),
    Setting("provider_workers", int, 10,
            "Provider calls run at once across all searches of a process.", minimum=1,
            group="providers"),
    Setting("provider_cache_ttl", int, 21600,
            "Seconds provider search results are cached.", minimum=0, group="providers"),
    Setting("provider_cache_empty_ttl", int, 1800,
            "Seconds an empty provider answer is cached.", minimum=0, group="providers"),
    Setting("provider_cache_stale_ttl", int, 604800,
            "Seconds an expired provider cache row is kept, to be served (marked stale) "
            "while its provider is down; the periodic purge deletes older rows.",
            minimum=0, group="providers"),
    Setting("provider_circuit_fail_max", int, 5,
            "Failures in a row after which a provider's circuit opens.", minimum=1,
            group="providers"),
    Setting("provider_circuit_reset_timeout", int, 120,
            "Seconds an open circuit waits before one probe call is let through.",
            minimum=1, group="providers"),
    Setting("min_score_episode", int, 240,
            "Lowest score an episode subtitle needs to be downloaded automatically.",
            minimum=0, group="providers"),
    Setting("min_score_movie", int, 60,
            "Lowest score a movie subtitle needs to be downloaded automatically.",
            minimum=0, group="providers"),
    Setting("hearing_impaired", str, "neutral",
            "Hearing-impaired subtitles: prefer, avoid, or neutral.",
            choices=("prefer", "avoid", "neutral"), group="providers"),
    Setting("archive_max_bytes", int, 50 * 1024 * 1024,
            "Largest total size unpacked from one subtitle archive, in bytes.", minimum=1024,
            group="providers"),
    Setting("archive_max_entries", int, 500,
            "Most files one subtitle archive may hold.", minimum=1, group="providers"),
    Setting("opensubtitles_url", str, "https://api.opensubtitles.com/api/v1",
            "OpenSubtitles.com REST API base URL.", group="providers"),
    Setting("opensubtitles_api_key", str, "", "OpenSubtitles.com API key (consumer key).",
            secret=True, group="providers"),
    Setting("opensubtitles_username", str, "", "OpenSubtitles.com user name.",
            group="providers"),
    Setting("opensubtitles_password", str, "", "OpenSubtitles.com password.", secret=True,
            group="providers"),
    Setting("opensubtitles_rate_limit", str, "5/second",
            "Requests OpenSubtitles.com allows (limits notation, e.g. 5/second).",
            group="providers"),
    Setting("jimaku_url", str, "https://jimaku.cc", "Jimaku base URL.", group="providers"),
    Setting("jimaku_api_key", str, "", "Jimaku API key.", secret=True, group="providers"),
    Setting("jimaku_rate_limit", str, "1/second", "Requests Jimaku allows.",
            group="providers"),
    Setting("animetosho_url", str, "https://feed.animetosho.org",
            "AnimeTosho feed base URL.", group="providers"),
    Setting("animetosho_download_url", str, "https://animetosho.org",
            "AnimeTosho host that serves attachment downloads.", group="providers"),
    Setting("animetosho_rate_limit", str, "2/second", "Requests AnimeTosho allows.",
            group="providers"),
    Setting("subdl_url", str, "https://api.subdl.com/api/v1", "SubDL API base URL.",
            group="providers"),
    Setting("subdl_download_url", str, "https://dl.subdl.com",
            "SubDL host that serves subtitle zips.", group="providers"),
    Setting("subdl_api_key", str, "", "SubDL API key.", secret=True, group="providers"),
    Setting("subdl_rate_limit", str, "2/second", "Requests SubDL allows.",
            group="providers"),
    Setting("podnapisi_url", str, "https://www.podnapisi.net", "Podnapisi base URL.",
            group="providers"),
    Setting("podnapisi_rate_limit", str, "2/second", "Requests Podnapisi allows.",
            group="providers"),
    # -- translation -------------------------------------------------------------
    Setting("translation_backends", list, ["ollama"],
            "Translation backends to try in order (ollama, openai, deepl, libretranslate).",
            group="translation"),
    Setting("translation_batch_size", int, 40,
            "Most subtitle lines sent to a backend in one call.", minimum=1,
            group="translation"),
    Setting("translation_batch_chars", int, 4000,
            "Most characters of subtitle text sent to a backend in one call.", minimum=100,
            group="translation"),
    Setting("translation_context_lines", int, 3,
            "Preceding lines an LLM backend sees as context with each batch.", minimum=0,
            group="translation"),
    Setting("translation_concurrency", int, 4,
            "Batches of one file translated at once.", minimum=1, group="translation"),
    Setting("translation_skip_styles", list,
            ["sign", "song", "karaoke", "op", "ed", "title", "typeset"],
            "ASS styles left untranslated (a style whose name contains one of these words).",
            group="translation"),
    Setting("translation_timeout", float, 120.0,
            "Seconds one translation backend call may take.", minimum=1,
            group="translation"),
    Setting("translation_max_retries", int, 3,
            "Times a failed translation backend call is tried again.", minimum=0,
            group="translation"),
    Setting("translation_circuit_fail_max", int, 5,
            "Failures in a row after which a translation backend is skipped for a while.",
            minimum=1, group="translation"),
    Setting("translation_circuit_reset_timeout", int, 120,
            "Seconds a failing translation backend is skipped.", minimum=1,
            group="translation"),
    Setting("ollama_url", str, "http://127.0.0.1:11434", "Ollama base URL.",
            group="translation"),
    Setting("ollama_model", str, "qwen2.5:7b", "Ollama model.", group="translation"),
    Setting("ollama_endpoint", str, "chat", "Ollama API used: chat or generate.",
            choices=("chat", "generate"), group="translation"),
    Setting("openai_url", str, "https://api.openai.com/v1",
            "OpenAI-compatible API base URL (OpenAI, OpenRouter, vLLM, LM Studio...).",
            group="translation"),
    Setting("openai_api_key", str, "", "OpenAI-compatible API key.", secret=True,
            group="translation"),
    Setting("openai_model", str, "gpt-4o-mini", "OpenAI-compatible model.",
            group="translation"),
    Setting("deepl_url", str, "",
            "DeepL API base URL; empty picks api-free.deepl.com for keys ending in :fx, "
            "else api.deepl.com.", group="translation"),
    Setting("deepl_api_key", str, "", "DeepL API key.", secret=True, group="translation"),
    Setting("libretranslate_url", str, "http://127.0.0.1:5000", "LibreTranslate base URL.",
            group="translation"),
    Setting("libretranslate_api_key", str, "", "LibreTranslate API key, if it needs one.",
            secret=True, group="translation"),
    # -- library and wanted ------------------------------------------------------
    Setting("sonarr_url", str, "", "Sonarr base URL (http://host:8989); empty: no Sonarr.",
            group="library"),
    Setting("sonarr_api_key", str, "", "Sonarr API key.", secret=True, group="library"),
    Setting("radarr_url", str, "", "Radarr base URL (http://host:7878); empty: no Radarr.",
            group="library"),
    Setting("radarr_api_key", str, "", "Radarr API key.", secret=True, group="library"),
    Setting("arr_instances", str, "",
            "More Sonarr/Radarr instances as JSON: "
            '[{"name": "anime", "kind": "sonarr", "url": "...", "api_key": "..."}].',
            secret=True, group="library"),
    Setting("path_mappings", list, [],
            "Path mappings from *arr paths to Sublarr's, comma-separated "
            "arr_prefix=local_prefix pairs.", group="library"),
    Setting("ffprobe_path", str, "ffprobe", "The ffprobe program used to read embedded tracks.",
            group="library"),
    Setting("default_languages", list, ["en"],
            "Languages of the default language profile made on first start.",
            group="library"),
    Setting("library_sync_interval", int, 21600,
            "Seconds between scheduled library syncs (Sonarr/Radarr, then the media roots, "
            "then the wanted list).", minimum=60, group="library"),
    Setting("wanted_search_interval", int, 900,
            "Seconds between scheduled searches of due wanted items.", minimum=10,
            group="library"),
    Setting("wanted_batch_limit", int, 200,
            "Most wanted items one scheduled search enqueues.", minimum=1, group="library"),
    Setting("wanted_backoff_base", int, 3600,
            "Seconds before a wanted item that found nothing is searched again; doubles "
            "with each attempt.", minimum=1, group="library"),
    Setting("wanted_backoff_max", int, 604800,
            "Longest wait between searches of one wanted item, in seconds.", minimum=1,
            group="library"),
    Setting("upgrade_enabled", bool, True,
            "Replace a found subtitle below the cutoff when a clearly better one appears.",
            group="library"),
    Setting("upgrade_score_margin", int, 20,
            "Points a new subtitle must score above the current one to replace it.",
            minimum=0, group="library"),
    Setting("auto_translate", bool, False,
            "Translate a source-language subtitle when no good subtitle is found.",
            group="library"),
    Setting("auto_translate_sources", list, ["en"],
            "Languages a subtitle may be translated from, in order of preference.",
            group="library"),
    Setting("webhook_delay", int, 0,
            "Seconds to wait after a Sonarr/Radarr webhook before scanning and searching.",
            minimum=0, group="library"),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass
class Settings:
    """Resolved settings; attribute access by setting name."""

    values: dict[str, Any] = field(default_factory=dict)
    # Where each value came from: "default", "file", "stored", "env" or "override".
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def masked(self) -> dict[str, Any]:
        """All values with secrets replaced, for logs, the CLI and the API."""
        return {
            name: (mask_value(value) if SETTINGS_BY_NAME[name].secret else value)
            for name, value in self.values.items()
        }

    def __repr__(self) -> str:
        return f"Settings({self.masked()!r})"

    __str__ = __repr__

    @property
    def sqlite_path(self) -> Path:
        return Path(self.data_dir) / "sublarr.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    def retry_delays(self) -> list[int]:
        return [int(d) for d in self.job_retry_delays]


def mask_value(value: Any) -> str:
    """Mask a secret; URLs keep scheme and host so users can tell which one is set."""
    if not value:
        return ""
    text = str(value)
    if "://" not in text:
        return MASK
    scheme, rest = text.split("://", 1)
    if "@" in rest:
        rest = f"{MASK}@{rest.rsplit('@', 1)[-1]}"
    # libpq and redis-py also take credentials as query parameters.
    return f"{scheme}://" + _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, rest)


_SECRET_QUERY = re.compile(r"([?&](?:password|passwd|pass|token|secret|api_?key)=)[^&#]*",
                           re.IGNORECASE)


def _validate_retry_delays(values: dict[str, Any]) -> None:
    setting = SETTINGS_BY_NAME["job_retry_delays"]
    for item in values["job_retry_delays"]:
        if not item.isdigit():
            raise ConfigError(
                f"{setting.env_var}: invalid value {item!r}; expected comma-separated "
                "whole seconds such as 10,60"
            )


def _read_config_file(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"SUBLARR_CONFIG_FILE: {file} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"SUBLARR_CONFIG_FILE: {file} is not valid TOML: {exc}") from None
    section = data.get("sublarr", data)
    if not isinstance(section, dict):
        raise ConfigError(f"SUBLARR_CONFIG_FILE: {file}: [sublarr] must be a table")
    # Keys beside a [sublarr] table would be silently ignored: refuse them too.
    unknown = sorted(set(section) - set(SETTINGS_BY_NAME))
    unknown += sorted(k for k in data if k != "sublarr") if section is not data else []
    if unknown:
        raise ConfigError(
            f"SUBLARR_CONFIG_FILE: {file}: unknown setting(s) {', '.join(unknown)}")
    return dict(section)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
    *, stored: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting; raise ConfigError naming the first bad one.

    `stored` holds values saved from the web UI: above the config file, below the
    environment and `overrides`."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = sorted(k for k in overrides if k.lower() not in SETTINGS_BY_NAME)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}")
    file_values = _read_config_file(env[ENV_PREFIX + "CONFIG_FILE"]) if env.get(
        ENV_PREFIX + "CONFIG_FILE") else {}
    stored = stored or {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        raw: Any = setting.default
        origin, where = "default", ""
        if setting.name in file_values:
            raw, origin = file_values[setting.name], "file"
            where = f" (key {setting.name!r} in {env[ENV_PREFIX + 'CONFIG_FILE']})"
        if setting.name in stored:
            raw, origin, where = stored[setting.name], "stored", " (saved in the web UI)"
        if setting.env_var in env:
            raw, origin, where = env[setting.env_var], "env", ""
        for key in (setting.name, setting.name.upper()):
            if key in overrides:
                raw, origin, where = overrides[key], "override", ""
        try:
            values[setting.name] = setting.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{exc}{where}") from None
        sources[setting.name] = origin
    _validate_retry_delays(values)
    return Settings(values, sources)


def settings_table_markdown() -> str:
    """The README's configuration table, generated from SETTINGS."""
    lines = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = s.default
        if s.name == "data_dir":
            default = "data/ (at the repository root)"
        elif isinstance(default, list):
            default = ",".join(default)
        shown = f"`{default}`" if default not in ("", []) else "(empty)"
        lines.append(f"| `{s.env_var}` | {s.accepts()} | {shown} | {s.help} |")
    return "\n".join(lines)
