"""ProviderManager: searches and downloads across the configured providers (see the
package docstring for the flow: fast tier → provider_cache table → HTTP, one upstream
call per key, stale answers from failing providers, errors acted on by kind)."""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from types import ModuleType
from typing import TYPE_CHECKING, Any

from config import Settings
from db.repositories.cache import ProviderCacheRepository
from db.repositories.providers import ProviderStatsRepository
from providers import registry
from providers.base import (
    BadResponse,
    Provider,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SubtitleRejected,
    SubtitleResult,
    VideoQuery,
)
from providers.resilience import (
    CircuitOpen,
    ProviderBreaker,
    ProviderDisabled,
    RateLimit,
    RedisLock,
    SharedRedis,
    Throttled,
    ThrottleState,
    parse_rate_limit,
)
from providers.runs import (
    Call,
    ProviderRun,
    SearchOutcome,
    Slot,
    UnexpectedProviderError,
    count_results,
    elapsed_ms,
    iso,
    normalize_languages,
    optional_module,
    query_keys,
    round_ms,
)
from providers.stats import StatsRecorder
from providers.tiers import ResultTiers, dump_results, fast_key, load_results

if TYPE_CHECKING:
    from cache import CacheBackend
    from db import Database

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, str, dict[str, Any]], None]
# How often a search waiting on another process's identical search looks for its answer.
_POLL_SECONDS = 0.02


class ProviderManager:
    """Searches and downloads across the configured providers; one per application."""

    def __init__(self, *, settings: Settings, database: Database,
                 cache_backend: CacheBackend | None,
                 providers: dict[str, Provider] | None = None,
                 stats_flush_interval: float | None = 2.0) -> None:
        self.settings = settings
        self.database = database
        self.cache_backend = cache_backend
        self.timeout = float(settings.provider_timeout)
        self._explicit = dict(providers) if providers is not None else None
        self._names = list(self._explicit) if self._explicit is not None else list(
            dict.fromkeys(settings.providers_enabled))
        if self._explicit is None:
            registry.check_names(self._names)
        self._rate_limits = self._parse_rate_limits()
        self._shared = SharedRedis(
            settings.redis_url, key_prefix=settings.redis_key_prefix,
            socket_timeout=settings.redis_socket_timeout) if settings.redis_url else None
        self.tiers = ResultTiers(cache_backend, ProviderCacheRepository(database),
                                 ttl=settings.provider_cache_ttl,
                                 empty_ttl=settings.provider_cache_empty_ttl)
        self.stats_repository = ProviderStatsRepository(database)
        self.recorder = StatsRecorder(self.stats_repository,
                                      flush_interval=stats_flush_interval)
        self._slots: dict[str, Slot] | None = None
        self._build_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._inflight: dict[str, Future[str]] = {}
        self._inflight_lock = threading.Lock()
        self._scoring: ModuleType | None = None
        self._scoring_checked_at = float("-inf")
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_reset_after_fork(self))

    # -- configuration ------------------------------------------------------------
    def _parse_rate_limits(self) -> dict[str, list[Any]]:
        """Validated at start, so a typo is a ConfigError naming the setting."""
        limits: dict[str, list[Any]] = {}
        for name in self._names:
            text = self.settings.values.get(f"{name}_rate_limit")
            if text is not None:
                limits[name] = parse_rate_limit(
                    str(text), f"SUBLARR_{name.upper()}_RATE_LIMIT")
        return limits

    def provider_names(self) -> list[str]:
        return list(self._names)

    def _all_slots(self) -> dict[str, Slot]:
        slots = self._slots
        if slots is None:
            with self._build_lock:
                if self._slots is None:
                    self._slots = {name: self._build_slot(name) for name in self._names}
                slots = self._slots
        return slots

    def _build_slot(self, name: str) -> Slot:
        provider: Provider | None = None
        reason: str | None = None
        if self._explicit is not None:
            provider = self._explicit[name]
        else:
            try:
                provider = registry.build(name, self.settings)
            except (registry.ProviderLoadError, ProviderConfigError) as exc:
                reason = str(exc)
                log.error("provider %s disabled: %s", name, reason)
        settings = self.settings
        return Slot(
            name=name, provider=provider, disabled_reason=reason,
            breaker=ProviderBreaker(
                name, fail_max=settings.provider_circuit_fail_max,
                reset_timeout=settings.provider_circuit_reset_timeout,
                probe_seconds=self.timeout * 2 + 1, shared=self._shared,
                on_state_change=self.recorder.circuit),
            rate=RateLimit(name, self._rate_limits.get(name, []), shared=self._shared),
            throttle=ThrottleState(name, shared=self._shared),
            rate_limit=str(settings.values.get(f"{name}_rate_limit") or ""),
        )

    def _slot(self, name: str) -> Slot:
        try:
            return self._all_slots()[name]
        except KeyError:
            raise ValueError(f"unknown provider {name!r}; configured: "
                             f"{', '.join(self._names) or 'none'}") from None

    def _executor_pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.settings.provider_workers,
                        thread_name_prefix="sublarr-provider")
        return self._executor

    # -- search -------------------------------------------------------------------
    def search(self, query: VideoQuery, languages: list[str], *,
               providers: list[str] | None = None,
               progress: ProgressCallback | None = None) -> SearchOutcome:
        """Results from every selected provider, scored and best first."""
        wanted = normalize_languages(languages)
        names = self._names if providers is None else list(dict.fromkeys(providers))
        slots = [self._slot(name) for name in names]
        started = time.monotonic()
        deadline = started + self.timeout
        runs: dict[str, ProviderRun] = {}
        found: dict[str, list[SubtitleResult]] = {}

        def finish(name: str, run: ProviderRun, results: list[SubtitleResult]) -> None:
            runs[name], found[name] = run, results
            if progress is not None:
                progress(name, run.status, run.to_dict())

        calls: list[Call] = []
        for slot in slots:
            if progress is not None:
                progress(slot.name, "started", {})
            begun = self._begin(slot, query, wanted, deadline, started)
            if isinstance(begun, Call):
                calls.append(begun)
            else:
                finish(slot.name, *begun)
        if calls:
            self._collect(calls, query, finish)
        ordered = [r for slot in slots for r in found.get(slot.name, [])]
        return SearchOutcome(self._rank(ordered, query),
                             {slot.name: runs[slot.name] for slot in slots})

    def _begin(self, slot: Slot, query: VideoQuery, languages: list[str], deadline: float,
               started: float) -> Call | tuple[ProviderRun, list[SubtitleResult]]:
        """In the caller's thread: what needs no worker (skips, fast-tier hits)."""
        reason = self._disabled_reason(slot)
        if reason is not None:
            return ProviderRun("skipped", error=reason, kind="disabled"), []
        supported = slot.provider.languages if slot.provider is not None else None
        langs = [lang for lang in languages if supported is None or lang in supported]
        if not langs:
            return ProviderRun("skipped", error="none of the languages is offered",
                               kind="languages"), []
        query_hash = query.cache_hash(langs, keys=query_keys(slot))
        results = self.tiers.get_fast(slot.name, query_hash)
        if results is not None:
            self.recorder.search(slot.name, results=len(results), cache_hit=True)
            elapsed = round((time.monotonic() - started) * 1000, 3)
            return ProviderRun("cached", "fast", len(results), elapsed_ms=elapsed), results
        return Call(slot, query_hash, langs, deadline, started)

    def _collect(self, calls: list[Call], query: VideoQuery,
                 finish: Callable[[str, ProviderRun, list[SubtitleResult]], None]) -> None:
        pool = self._executor_pool()
        futures = {pool.submit(self._complete, call, query): call for call in calls}
        remaining = set(futures)
        deadline = max(call.deadline for call in calls)
        while remaining:
            done, remaining = wait(remaining, timeout=max(deadline - time.monotonic(), 0),
                                   return_when=FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                finish(futures[future].name, *future.result())
        for future in remaining:
            call = futures[future]
            finish(call.name, *self._abandon(call))

    def _complete(self, call: Call, query: VideoQuery
                  ) -> tuple[ProviderRun, list[SubtitleResult]]:
        """In a worker: the database tier, then the provider (once per key)."""
        if call.remaining() <= 0:
            # Queued behind busier work until the search had already answered.
            return ProviderRun("failed", error="not started before the deadline",
                               elapsed_ms=call.elapsed_ms(), kind=ProviderTimeout.kind), []
        try:
            return self._complete_call(call, query)
        except Exception as exc:  # a bug here must cost one provider, not the search
            log.exception("provider %s: search failed unexpectedly", call.name)
            return self._fallback(call, "failed", f"{type(exc).__name__}: {exc}", "error")

    def _complete_call(self, call: Call, query: VideoQuery
                       ) -> tuple[ProviderRun, list[SubtitleResult]]:
        stored = self.tiers.get_stored(call.name, call.query_hash)
        if stored is not None:
            if stored.fresh:
                results = load_results(stored.results_json)
                if results is not None:
                    self.tiers.backfill(call.name, call.query_hash, stored)
                    self.recorder.search(call.name, results=len(results), cache_hit=True)
                    return ProviderRun("cached", "database", len(results),
                                       elapsed_ms=call.elapsed_ms()), results
            else:
                call.stale_json = stored.results_json
        try:
            self._check_gate(call.slot)
            results_json, tier = self._single_flight(call, query)
        except ProviderError as exc:
            status = "skipped" if isinstance(exc, CircuitOpen | Throttled | ProviderDisabled) \
                else "failed"
            return self._fallback(call, status, str(exc), exc.kind)
        results = load_results(results_json) or []
        status = "ok" if tier == "http" else "cached"
        return ProviderRun(status, tier, len(results), elapsed_ms=call.elapsed_ms()), results

    def _fallback(self, call: Call, status: str, error: str, kind: str
                  ) -> tuple[ProviderRun, list[SubtitleResult]]:
        """A failed or skipped provider answers with its expired results, if it has any."""
        stale = load_results(call.stale_json) if call.stale_json is not None else None
        if stale:
            for result in stale:
                result.stale = True
            return ProviderRun("stale", "database", len(stale), error=error,
                               elapsed_ms=call.elapsed_ms(), kind=kind), stale
        return ProviderRun(status, None, 0, error=error, elapsed_ms=call.elapsed_ms(),
                           kind=kind), []

    def _abandon(self, call: Call) -> tuple[ProviderRun, list[SubtitleResult]]:
        """The deadline passed: answer without this provider. If it is inside its
        upstream call, that is a timeout failure (the late answer, if any, still fills
        the caches but is not counted again)."""
        with call.lock:
            call.abandoned = True
            calling, probe = call.calling, call.probe
        error = f"no answer within {self.timeout:g}s"
        if calling:
            self.recorder.failure(call.name, ProviderTimeout.kind, error)
            call.slot.breaker.record_failure(probe)
        return self._fallback(call, "failed", error, ProviderTimeout.kind)

    # -- one upstream call per key -------------------------------------------------
    def _single_flight(self, call: Call, query: VideoQuery) -> tuple[str, str]:
        """(results JSON, tier) for this key, asking the provider at most once at a
        time per key in this process."""
        key = fast_key(call.name, call.query_hash)
        with self._inflight_lock:
            leader_future = self._inflight.get(key)
            if leader_future is None:
                future: Future[str] = Future()
                self._inflight[key] = future
        if leader_future is not None:
            try:
                results_json = leader_future.result(timeout=call.remaining())
            except FutureTimeout:
                raise ProviderTimeout(call.name, "no answer before the deadline") from None
            self.recorder.search(call.name, results=count_results(results_json), cache_hit=True)
            return results_json, "http"
        try:
            results_json, tier = self._lead(call, query)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(results_json)
            return results_json, tier
        finally:
            with self._inflight_lock:
                self._inflight.pop(key, None)

    def _lead(self, call: Call, query: VideoQuery) -> tuple[str, str]:
        """As this process's leader for the key: take the Redis lock (when there is
        one) or wait for the process holding it, then check the caches once more —
        a leader that just finished may have filled them — and only then call out."""
        lock = None
        waited = False
        if self._shared is not None:
            lock = RedisLock(self._shared, self._shared.key("lock", fast_key(
                call.name, call.query_hash)), ttl_seconds=self.timeout + 1)
            while True:
                got = lock.acquire()
                if got is None or got:
                    break
                waited = True
                found = self._await_other_process(call, lock)
                if found is not None:
                    return found
        try:
            results = self.tiers.get_fast(call.name, call.query_hash)
            if results is not None:
                self.recorder.search(call.name, results=len(results), cache_hit=True)
                return dump_results(results), "fast"
            if waited:
                stored = self.tiers.get_stored(call.name, call.query_hash)
                if stored is not None and stored.fresh:
                    self.recorder.search(call.name, results=count_results(stored.results_json),
                                         cache_hit=True)
                    return stored.results_json, "database"
            return self._call_upstream(call, query), "http"
        finally:
            if lock is not None:
                lock.release()

    def _await_other_process(self, call: Call, lock: RedisLock) -> tuple[str, str] | None:
        """Another process holds the lock: watch the fast tier until its answer appears
        (found), the lock goes away (None: try to take it), or the deadline passes."""
        while call.remaining() > 0:
            results = self.tiers.get_fast(call.name, call.query_hash)
            if results is not None:
                self.recorder.search(call.name, results=len(results), cache_hit=True)
                return dump_results(results), "fast"
            if not lock.exists():
                return None
            time.sleep(min(_POLL_SECONDS, call.remaining()))
        raise ProviderTimeout(call.name, "no answer before the deadline (another process "
                                         "was searching the same)")

    def _call_upstream(self, call: Call, query: VideoQuery) -> str:
        slot = call.slot
        assert slot.provider is not None
        probe = slot.breaker.acquire()
        try:
            if not slot.rate.acquire(call.deadline):
                raise Throttled(slot.name, f"rate limit {slot.rate_limit} leaves no slot "
                                           "before the deadline")
            with call.lock:
                if call.abandoned:  # the search answered while we waited for a slot
                    raise ProviderTimeout(slot.name, "no call made: the search is over")
                call.calling, call.probe = True, probe
        except BaseException:
            if probe:
                slot.breaker.release_probe()
            raise
        started = time.monotonic()
        error: ProviderError | None = None
        results: list[SubtitleResult] = []
        try:
            results = list(slot.provider.search(query, call.languages))
        except ProviderError as exc:
            error = exc
        except Exception as exc:  # a provider bug: logged with its traceback
            log.exception("provider %s: search raised", slot.name)
            error = UnexpectedProviderError(slot.name, f"{type(exc).__name__}: {exc}")
        took_ms = (time.monotonic() - started) * 1000
        with call.lock:
            call.calling = False
            # Abandoned mid-call: the collector counted the timeout and settled the
            # breaker (probe included); the late answer is acted on, not counted.
            account = not call.abandoned
        if error is not None:
            if account:
                self._on_failure(slot, error, probe)
            else:
                self._act_on(slot, error)
            raise error
        if account:
            slot.breaker.record_success(probe)
            self.recorder.search(slot.name, results=len(results), response_ms=took_ms)
        results_json = dump_results(results)
        self.tiers.put(slot.name, call.query_hash, query.canonical_json(
            keys=query_keys(slot)), results_json, len(results))
        return results_json

    # -- errors -------------------------------------------------------------------
    def _on_failure(self, slot: Slot, error: ProviderError, probe: bool) -> None:
        """Count the failure by kind (stats, circuit breaker) and act on it."""
        self.recorder.failure(slot.name, error.kind, str(error))
        if isinstance(error, ProviderUnavailable):  # and timeouts
            slot.breaker.record_failure(probe)
        else:
            # It answered: for the circuit breaker that is a working provider.
            slot.breaker.record_success(probe)
        self._act_on(slot, error)

    def _act_on(self, slot: Slot, error: ProviderError) -> None:
        """Throttle, disable or just log, by the kind of error."""
        if isinstance(error, ProviderUnavailable):
            log.warning("provider %s unavailable: %s", slot.name, error)
        elif isinstance(error, RateLimited):
            slot.throttle.set(error.retry_at)
            self.recorder.throttled(slot.name, error.retry_at)
            log.warning("provider %s throttled until %s: %s", slot.name,
                        error.retry_at.isoformat(), error)
        elif isinstance(error, ProviderConfigError):
            slot.disabled_reason = f"{error.kind}: {error}"
            log.error("provider %s disabled until its settings are fixed: %s",
                      slot.name, error)
        elif isinstance(error, BadResponse | UnexpectedProviderError):
            log.warning("provider %s: unusable answer: %s", slot.name, error)

    def _disabled_reason(self, slot: Slot) -> str | None:
        if slot.provider is None or slot.disabled_reason is not None:
            return f"disabled: {slot.disabled_reason}"
        return None

    def _check_gate(self, slot: Slot) -> None:
        """Raise instead of calling a provider that is disabled or throttled."""
        reason = self._disabled_reason(slot)
        if reason is not None:
            raise ProviderDisabled(slot.name, reason)
        until = slot.throttle.until()
        if until is not None:
            raise Throttled(slot.name, f"throttled until {until.isoformat()}", until)

    # -- scoring ------------------------------------------------------------------
    def _rank(self, results: list[SubtitleResult], query: VideoQuery) -> list[SubtitleResult]:
        """Scored and best first when providers.scoring is there; provider order else."""
        scoring = self._scoring_module()
        if scoring is None:
            return results
        hi = self.settings.hearing_impaired
        rank = getattr(scoring, "rank", None)
        if rank is not None:
            return list(rank(results, query, hi_preference=hi))
        scored = [scoring.score_result(r, query, hi_preference=hi) for r in results]
        return sorted(scored, key=lambda r: -r.score)

    def _scoring_module(self) -> ModuleType | None:
        if self._scoring is None and time.monotonic() - self._scoring_checked_at > 30:
            self._scoring_checked_at = time.monotonic()
            self._scoring = optional_module("providers.scoring")
        return self._scoring

    # -- download -----------------------------------------------------------------
    def download(self, result: SubtitleResult, query: VideoQuery) -> Any:
        """Fetch, unpack, decode and validate one result -> subtitles.PreparedSubtitle.

        Raises SubtitleRejected for a file that is no usable subtitle, or the provider
        error (CircuitOpen, Throttled, ProviderDisabled included) when it cannot be
        fetched."""
        slot = self._slot(result.provider)
        data = self._download_bytes(slot, result)
        subtitles = importlib.import_module("subtitles")
        try:
            prepared = subtitles.prepare_download(
                data, result=result, query=query, max_bytes=self.settings.archive_max_bytes,
                max_entries=self.settings.archive_max_entries)
        except SubtitleRejected as exc:
            self.recorder.download(slot.name, ok=False)
            self.recorder.failure(slot.name, exc.kind, str(exc))
            raise
        self.recorder.download(slot.name, ok=True)
        return prepared

    def _download_bytes(self, slot: Slot, result: SubtitleResult) -> bytes:
        self._check_gate(slot)
        assert slot.provider is not None
        probe = slot.breaker.acquire()
        try:
            if not slot.rate.acquire(time.monotonic() + self.timeout):
                raise Throttled(slot.name, f"rate limit {slot.rate_limit} leaves no slot")
            data = slot.provider.download(result)
        except (CircuitOpen, Throttled):
            if probe:
                slot.breaker.release_probe()
            raise
        except ProviderError as exc:
            self.recorder.download(slot.name, ok=False)
            self._on_failure(slot, exc, probe)
            raise
        except Exception as exc:
            log.exception("provider %s: download raised", slot.name)
            error = UnexpectedProviderError(slot.name, f"{type(exc).__name__}: {exc}")
            self.recorder.download(slot.name, ok=False)
            self._on_failure(slot, error, probe)
            raise error from exc
        slot.breaker.record_success(probe)
        return data

    def download_best(self, query: VideoQuery, results: Iterable[SubtitleResult], *,
                      min_score: int | None = None) -> tuple[SubtitleResult, Any] | None:
        """The first candidate (in the given order, at or above min_score when given)
        that downloads and validates; rejected or unreachable ones are skipped."""
        for result in results:
            if min_score is not None and result.score < min_score:
                continue
            try:
                return result, self.download(result, query)
            except ProviderError as exc:
                log.info("candidate %s skipped (%s): %s", result.key, exc.kind, exc.message)
        return None

    # -- cache, stats, status -----------------------------------------------------
    def clear_cache(self, provider: str | None = None) -> dict[str, int]:
        """Empty both tiers (for one provider or all): {"fast": n, "database": m}."""
        counts = self.tiers.clear(provider)
        log.info("provider cache cleared (%s): %s", provider or "all providers", counts)
        return counts

    def flush_stats(self) -> None:
        self.recorder.flush()

    def stats(self) -> list[dict[str, Any]]:
        """Provider Stats: counters from the database (after writing what is pending)
        with the live circuit and throttle state."""
        self.recorder.flush()
        records = {r.provider: r for r in self.stats_repository.all()}
        try:
            cached = self.tiers.repository.counts_by_provider()
        except Exception:  # noqa: BLE001 - the counts are decoration
            cached = {}
        rows = []
        for entry in self.status():
            record = records.get(entry["name"])
            rows.append({
                "provider": entry["name"],
                "enabled": entry["enabled"],
                "disabled_reason": entry["disabled_reason"],
                "searches": record.searches if record else 0,
                "results": record.results if record else 0,
                "cache_hits": record.cache_hits if record else 0,
                "downloads_ok": record.downloads_ok if record else 0,
                "downloads_failed": record.downloads_failed if record else 0,
                "failures": dict(record.failures) if record else {},
                "mean_ms": round_ms(record.average_response_ms) if record else None,
                "p50_ms": round_ms(record.p50_response_ms) if record else None,
                "p95_ms": round_ms(record.p95_response_ms) if record else None,
                "last_success": iso(record.last_success_at) if record else None,
                "last_failure": iso(record.last_failure_at) if record else None,
                "last_error": record.last_error if record else None,
                "circuit_state": entry["circuit_state"],
                "throttled_until": entry["throttled_until"],
                "cached_queries": cached.get(entry["name"], 0),
            })
        return rows

    def status(self) -> list[dict[str, Any]]:
        """Each configured provider: enabled or why not, circuit, throttle, rate limit."""
        rows = []
        for name, slot in self._all_slots().items():
            reason = self._disabled_reason(slot)
            rows.append({
                "name": name,
                "enabled": reason is None,
                "disabled_reason": slot.disabled_reason if reason else None,
                "circuit_state": slot.breaker.state,
                "circuit_open_until": iso(slot.breaker.open_until()),
                "throttled_until": iso(slot.throttle.until()),
                "rate_limit": slot.rate_limit or None,
                "class": type(slot.provider).__name__ if slot.provider else None,
            })
        return rows

    def test_provider(self, name: str) -> dict[str, Any]:
        """One cheap authenticated call; success re-enables a provider that was
        disabled by an authentication or configuration error at run time."""
        slot = self._slot(name)
        if slot.provider is None:
            return {"provider": name, "ok": False, "kind": "disabled",
                    "error": slot.disabled_reason, "elapsed_ms": 0.0}
        started = time.monotonic()
        try:
            info = dict(slot.provider.test_connection() or {})
        except ProviderError as exc:
            self._on_failure(slot, exc, probe=False)
            return {"provider": name, "ok": False, "kind": exc.kind, "error": str(exc),
                    "elapsed_ms": elapsed_ms(started)}
        except Exception as exc:  # a provider bug: reported, not raised to the API
            log.exception("provider %s: test_connection raised", name)
            return {"provider": name, "ok": False, "kind": "error",
                    "error": f"{type(exc).__name__}: {exc}", "elapsed_ms": elapsed_ms(started)}
        if slot.disabled_reason is not None:
            log.info("provider %s re-enabled after a successful test", name)
            slot.disabled_reason = None
        info.pop("ok", None)
        return {"provider": name, "ok": True, "elapsed_ms": elapsed_ms(started), **info}

    # -- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        """Stop the workers (without waiting for stragglers), write pending stats and
        close the providers' sessions."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self.recorder.close()
        for slot in (self._slots or {}).values():
            if slot.provider is not None:
                try:
                    slot.provider.close()
                except Exception:  # closing must go on for the others
                    log.exception("provider %s: close failed", slot.name)
        if self._shared is not None:
            self._shared.close()

    def _after_fork(self) -> None:
        # Threads do not survive fork(); a forked RQ work horse starts afresh.
        self._executor = None
        self._executor_lock = threading.Lock()
        self._inflight = {}
        self._inflight_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self.recorder.reset_after_fork()


def _reset_after_fork(manager: ProviderManager) -> Callable[[], None]:
    ref = weakref.ref(manager)  # the hook must not keep every manager alive

    def hook() -> None:
        alive = ref()
        if alive is not None:
            alive._after_fork()

    return hook
