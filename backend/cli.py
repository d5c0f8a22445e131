"""The `sublarr` command: serve, worker, jobs, cache, search, translate, scan, wanted, db, config.

Run as `python -m cli ...` from backend/ (or `./sublarr ...` from the repository root).
`--json` output is exactly one JSON document on stdout; logs and notes go to stderr.
Exit codes: 0 done, 1 the thing asked for cannot be done (unknown job, wrong state,
database unreachable), 2 bad usage or an invalid setting.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import OperationalError

from config import SETTINGS, ConfigError, Settings, load_settings
from errors import ApiError
from routes.jobs import cancel, find_job, parse_status_filter, retry
from routes.system import describe_error, sublarr_version

if TYPE_CHECKING:
    from flask import Flask

    from job_queue import JobInfo, QueueBackend

log = logging.getLogger("sublarr.cli")
F = TypeVar("F", bound=Callable[..., Any])


class SublarrGroup(click.Group):
    """Turns the errors users can fix into a message and an exit code, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"sublarr: invalid configuration: {exc}", err=True)
            ctx.exit(2)
        except OperationalError as exc:
            click.echo(f"sublarr: the database is unreachable: {describe_error(exc)}",
                       err=True)
            ctx.exit(1)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"sublarr: {message}", err=True)
    sys.exit(code)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout.")(func)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row]
                                            for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip())


@contextmanager
def application() -> Iterator[Flask]:
    """The app with its services, for one command; nothing is started or served."""
    from app import create_app

    app = create_app()
    try:
        yield app
    finally:
        close_app(app)


def close_app(app: Flask) -> None:
    from app import close_app as release

    release(app, wait=False)


@click.group(cls=SublarrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", metavar="FILE",
              help="TOML settings file (same as SUBLARR_CONFIG_FILE).")
@click.version_option(sublarr_version(), prog_name="sublarr")
def cli(config_file: str | None) -> None:
    """Sublarr: subtitles for your *arr library."""
    if config_file:
        os.environ["SUBLARR_CONFIG_FILE"] = str(Path(config_file).resolve())


# -- serve and worker -----------------------------------------------------------------


@cli.command()
@click.option("--host", help="Listen address (overrides SUBLARR_HOST).")
@click.option("--port", type=int, help="Listen port (overrides SUBLARR_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the web server and API (waitress), the periodic tasks and, without Redis,
    the jobs. Stops cleanly on SIGTERM or Ctrl-C."""
    from app import create_app

    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    app = create_app(overrides)
    try:
        run_server(app)
    finally:
        # Jobs not yet started stay queued in the database and resume at the next
        # start; running ones finish before the interpreter exits.
        close_app(app)
        log.info("stopped")


def run_server(app: Flask) -> None:
    from waitress.server import create_server

    settings = app.settings  # type: ignore[attr-defined]
    try:
        server = create_server(app, host=settings.host, port=settings.port,
                               threads=settings.server_threads, ident="Sublarr")
    except OSError as exc:
        fail(f"cannot listen on {settings.host}:{settings.port}: {exc}")
    scheduler = getattr(app, "scheduler", None)
    previous = _on_stop_signals(_raise_exit)
    try:
        app.job_queue.start()  # type: ignore[attr-defined]
        if scheduler is not None:
            scheduler.start()
        log.info("Sublarr %s serving on http://%s:%s (%d threads)", sublarr_version(),
                 settings.host, settings.port, settings.server_threads)
        # Returns once a stop signal's SystemExit reaches waitress's loop.
        server.run()
    finally:
        # A second signal while we wind down must not cut the clean-up short.
        _on_stop_signals(_note_already_stopping)
        log.info("stopping: closing the listener and the scheduler")
        server.close()
        if scheduler is not None:
            scheduler.stop()
        _restore_signals(previous)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_Handler = Callable[[int, FrameType | None], Any]


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    log.info("received %s", signal.Signals(signum).name)
    raise SystemExit(0)


def _note_already_stopping(signum: int, _frame: FrameType | None) -> None:
    log.info("received %s while stopping; still stopping", signal.Signals(signum).name)


def _on_stop_signals(handler: _Handler) -> dict[int, Any]:
    return {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@cli.command()
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then exit.")
@click.option("--name", help="Worker name (default: host and process id).")
def worker(burst: bool, name: str | None) -> None:
    """Run an RQ worker (needs SUBLARR_REDIS_URL). Workers never run periodic tasks."""
    from job_queue.worker import run_worker

    sys.exit(run_worker(burst=burst, name=name))


# -- jobs -----------------------------------------------------------------------------


@cli.group()
def jobs() -> None:
    """Inspect, cancel and retry job records."""


def _status_option(_ctx: click.Context, _param: click.Parameter,
                   value: str | None) -> tuple[str, ...]:
    try:
        return parse_status_filter(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@jobs.command("list")
@click.option("--status", callback=_status_option, metavar="S[,S...]",
              help="Only jobs with this status (queued, running, completed, failed, "
                   "cancelled); comma-separated for several.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True,
              help="Show at most this many jobs, newest first.")
@json_option
def jobs_list(status: tuple[str, ...], limit: int, as_json: bool) -> None:
    """List job records, newest first."""
    with application() as app:
        repository = _queue(app).repository
        listed = repository.list_jobs(statuses=status, limit=limit)
        total = repository.count(statuses=status)
        counts = repository.counts_by_status()
    if as_json:
        emit_json({"jobs": [info.to_dict() for info in listed], "total": total,
                   "status_filter": list(status), "counts": counts})
        return
    emit_table(("ID", "STATUS", "FUNCTION", "TRIES", "CREATED", "NOTE"),
               [(info.id, info.status.value, info.func,
                 f"{info.attempts}/{info.max_attempts}",
                 info.created_at.strftime("%Y-%m-%d %H:%M:%S"), _note(info))
                for info in listed])
    click.echo(f"{len(listed)} of {total} job(s) shown; all jobs: "
               + ", ".join(f"{n} {s}" for s, n in counts.items()))


def _note(info: JobInfo) -> str:
    if info.error and info.status.value in ("failed", "queued"):
        return info.error.splitlines()[0][:60]
    if info.progress_total:
        return f"{info.progress_done or 0}/{info.progress_total} {info.progress_message or ''}"
    return ""


@jobs.command("show")
@click.argument("job_id")
@json_option
def jobs_show(job_id: str, as_json: bool) -> None:
    """Show one job record."""
    with application() as app:
        info = _or_fail(find_job, _queue(app), job_id)
    if as_json:
        emit_json(info.to_dict())
        return
    _print_job(info.to_dict())


def _print_job(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in ("error", "result") or isinstance(value, dict | list):
            continue
        click.echo(f"{key:12} {'' if value is None else value}")
    click.echo(f"{'args':12} {json.dumps(data['args'])}")
    click.echo(f"{'kwargs':12} {json.dumps(data['kwargs'])}")
    progress = data["progress"]
    if progress["total"]:
        click.echo(f"{'progress':12} {progress['done'] or 0}/{progress['total']} "
                   f"({progress['percent']}%) {progress['message'] or ''}".rstrip())
    if data["result"] is not None:
        click.echo(f"{'result':12} {json.dumps(data['result'], default=str)}")
    if data["error"]:
        click.echo("error:")
        click.echo(data["error"].rstrip())


@jobs.command("cancel")
@click.argument("job_id")
@json_option
def jobs_cancel(job_id: str, as_json: bool) -> None:
    """Cancel a queued or running job (a running one stops at its next progress report)."""
    with application() as app:
        info = _or_fail(cancel, _queue(app), job_id)
    if as_json:
        emit_json(info.to_dict())
    else:
        click.echo(f"cancelled job {job_id}")


@jobs.command("retry")
@click.argument("job_id")
@json_option
def jobs_retry(job_id: str, as_json: bool) -> None:
    """Queue a failed or cancelled job again."""
    with application() as app:
        queue = _queue(app)
        # The thread pool of this short-lived command must not run the job: it is only
        # recorded as queued, and the serving process's poller takes it. RQ gets it here.
        in_server = queue.type_name == "memory"
        info = _or_fail(retry, queue, job_id, dispatch=not in_server)
    if as_json:
        emit_json(info.to_dict())
        return
    click.echo(f"queued job {job_id} again")
    if in_server:
        click.echo("note: without Redis, jobs run inside `sublarr serve`; the running server "
                   "picks this one up within seconds (or at its next start)", err=True)


def _queue(app: Flask) -> QueueBackend:
    return app.job_queue  # type: ignore[attr-defined,no-any-return]


def _or_fail(action: Callable[..., JobInfo], *args: Any, **kwargs: Any) -> JobInfo:
    """Run a job action shared with the API; its NotFound / Conflict become exit 1."""
    try:
        return action(*args, **kwargs)
    except ApiError as exc:
        fail(exc.message)


# -- cache ----------------------------------------------------------------------------


@cli.group()
def cache() -> None:
    """The fast cache tier (Redis, or the server's in-process cache)."""


def _memory_cache_note(stats: dict[str, Any]) -> None:
    if stats.get("backend") == "memory":
        click.echo("note: without Redis the cache lives inside the server process; this "
                   "command sees only its own empty one. Use GET /api/v1/system/cache or "
                   "POST /api/v1/system/cache/clear on the server instead.", err=True)


@cache.command("stats")
@json_option
def cache_stats(as_json: bool) -> None:
    """Hits, misses, size and errors of the cache backend."""
    with application() as app:
        stats = dict(app.cache_backend.get_stats())  # type: ignore[attr-defined]
    _memory_cache_note(stats)
    if as_json:
        emit_json(stats)
        return
    for key, value in stats.items():
        click.echo(f"{key:14} {value}")


@cache.command("clear")
@click.option("--prefix", default="", help="Only keys starting with this (default: all).")
@json_option
def cache_clear(prefix: str, as_json: bool) -> None:
    """Remove cache entries."""
    with application() as app:
        stats = app.cache_backend.get_stats()  # type: ignore[attr-defined]
        cleared = app.cache_backend.clear(prefix)  # type: ignore[attr-defined]
    _memory_cache_note(stats)
    if as_json:
        emit_json({"cleared": cleared, "prefix": prefix})
    else:
        click.echo(f"cleared {cleared} cache entr{'y' if cleared == 1 else 'ies'}")


# -- search ---------------------------------------------------------------------------


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-l", "--language", "languages", multiple=True, required=True, metavar="CODE",
              help="A subtitle language (en, de, pt-BR, ...); repeat for several.")
@click.option("--provider", "providers", multiple=True, metavar="NAME",
              help="Search only this provider; repeat for several (default: all enabled).")
@click.option("--download", is_flag=True,
              help="Save the best result at or above the minimum score, per language, "
                   "beside the video.")
@click.option("--replace", is_flag=True,
              help="With --download: overwrite a different subtitle already there.")
@json_option
def search(video: Path, languages: tuple[str, ...], providers: tuple[str, ...],
           download: bool, replace: bool, as_json: bool) -> None:
    """Search the subtitle providers for VIDEO, a file under a media root.

    Progress per provider goes to stderr; the ranked results to stdout. With --download
    the exit code is 1 unless every language got a subtitle.
    """
    from routes.providers import download_best, run_search, search_request

    if replace and not download:
        raise click.UsageError("--replace only applies with --download")
    body = {"path": str(video.expanduser().absolute()), "languages": list(languages),
            "providers": list(providers) or None}
    with application() as app:
        manager = app.provider_manager  # type: ignore[attr-defined]
        settings = app.settings  # type: ignore[attr-defined]
        try:
            wanted = search_request(body, manager, settings)
            outcome, document = run_search(manager, settings, wanted,
                                           progress=SearchProgress())
            if download:
                document["downloads"] = download_best(manager, settings, wanted, outcome,
                                                      replace=replace)
        except ApiError as exc:
            if exc.code == "subtitle_exists":
                fail(f"{exc.details['path']} already exists with different content; "
                     "pass --replace to overwrite it")
            # Bad input (a language, a path outside the media roots) is a usage error.
            fail(exc.message, 2 if exc.status == 400 else 1)
    if as_json:
        emit_json(document)
    else:
        _print_results(document)
    downloads = document.get("downloads", [])
    if download and not all(entry["saved"] for entry in downloads):
        sys.exit(1)


class SearchProgress:
    """One stderr line per provider event; provider threads call it concurrently."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()

    def __call__(self, provider: str, status: str, info: dict[str, Any]) -> None:
        line = f"  {provider:14} {status}{_progress_details(status, info)}"
        with self._lock:
            click.echo(line, err=True)


def _progress_details(status: str, info: dict[str, Any]) -> str:
    parts = []
    if info.get("count") is not None and status not in ("started", "searching"):
        count = info["count"]
        parts.append(f"{count} result{'' if count == 1 else 's'}")
    if info.get("tier"):
        parts.append(f"{info['tier']} tier")
    if info.get("elapsed_ms") is not None:
        parts.append(f"{float(info['elapsed_ms']):.0f} ms")
    text = f" ({', '.join(parts)})" if parts else ""
    if info.get("error"):
        text += f": {info['error']}"
    return text


def _print_results(document: dict[str, Any]) -> None:
    emit_table(("RANK", "PROVIDER", "LANG", "FORMAT", "SCORE", "RELEASE"),
               [(rank, r["provider"], r["language"], r["format"], r["score"],
                 _release(r)) for rank, r in enumerate(document["results"], 1)])
    failed = [f"{name} ({run['error'] or run['status']})"
              for name, run in document["runs"].items()
              if run["status"] in ("failed", "skipped")]
    click.echo(f"{document['total']} result(s); minimum score for a download: "
               f"{document['min_score']}")
    if failed:
        click.echo("not searched: " + "; ".join(failed))
    for entry in document.get("downloads", []):
        if not entry["saved"]:
            click.echo(f"{entry['language']}: nothing saved: {entry['reason']}")
        elif entry["written"]:
            click.echo(f"{entry['language']}: saved {entry['path']} "
                       f"({entry['provider']}, score {entry['score']})")
        else:
            click.echo(f"{entry['language']}: already there: {entry['path']}")


def _release(result: dict[str, Any]) -> str:
    names = result.get("release_names") or []
    text = str(names[0]) if names else ""
    marks = [m for m, on in (("HI", result.get("hearing_impaired")),
                             ("forced", result.get("forced"))) if on]
    if marks:
        text = f"{text} [{', '.join(marks)}]".strip()
    return text if len(text) <= 80 else text[:77] + "..."


# -- translate ------------------------------------------------------------------------


@cli.command()
@click.argument("subtitle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "target_lang", required=True, metavar="CODE",
              help="The language to translate into (de, pt-BR, ...).")
@click.option("--from", "source_lang", metavar="CODE",
              help="The subtitle's language (default: the language in its file name, "
                   "such as .en.ass, else en).")
@click.option("--backend", metavar="NAME",
              help="Use only this translation backend (default: the configured chain).")
@click.option("--force", is_flag=True, help="Overwrite an existing translation.")
@json_option
def translate(subtitle: Path, target_lang: str, source_lang: str | None,
              backend: str | None, force: bool, as_json: bool) -> None:
    """Translate SUBTITLE, a file under a media root, here and now (no job).

    The translation is written beside it as "<stem>.<target>.<ext>" in the same format.
    Progress goes to stderr; the output path (or, with --json, the result) to stdout.
    Exit codes: 2 bad input, 1 the translation failed.
    """
    from routes.translate import run_translation, translate_request

    body = {"path": str(subtitle.expanduser().absolute()), "target_lang": target_lang,
            "source_lang": source_lang, "backend": backend, "force": force}
    with application() as app, app.app_context():
        try:
            wanted = translate_request(body, app.settings)  # type: ignore[attr-defined]
        except ApiError as exc:
            fail(_translate_hint(exc), _translate_exit_code(exc))
        with TranslateProgress() as progress:
            try:
                document = run_translation(wanted, progress=progress)
            except ApiError as exc:
                progress.abandon()
                fail(_translate_hint(exc), _translate_exit_code(exc))
            except Exception as exc:  # a failure is a message on stderr, not a traceback
                progress.abandon()
                log.debug("translation failed", exc_info=True)
                fail(f"translation failed: {describe_error(exc)}")
    if as_json:
        emit_json(document)
        return
    click.echo(document["output_path"])


def _translate_exit_code(exc: ApiError) -> int:
    # A bad argument, a missing or unreadable file is bad input; an existing
    # translation or a failing backend is something that could not be done.
    return 2 if exc.status in (400, 404, 422) else 1


def _translate_hint(exc: ApiError) -> str:
    if exc.code == "target_exists":
        return f"{exc.details['path']} already exists; pass --force to overwrite it"
    return exc.message


class TranslateProgress:
    """A live "lines done/total" line on stderr, fed by the translator's progress
    callback (done, total[, message]); rewritten in place on a terminal, else printed
    at most once per tenth of the work so logs stay short."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._tty = sys.stderr.isatty()
        self._shown = -1
        self._width = 0

    def __enter__(self) -> TranslateProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._tty and self._width:
            click.echo("", err=True)

    def abandon(self) -> None:
        """Leave the progress line as it is; the error follows on a line of its own."""
        if self._tty and self._width:
            click.echo("", err=True)
        self._width = 0

    def __call__(self, done: int, total: int | None = None,
                 message: str | None = None) -> None:
        with self._lock:
            line = _progress_line(done, total, message)
            if self._tty:
                click.echo("\r" + line.ljust(self._width), nl=False, err=True)
                self._width = max(self._width, len(line))
                return
            step = _tenth(done, total)
            if step != self._shown:
                self._shown = step
                click.echo(line, err=True)


def _progress_line(done: int, total: int | None, message: str | None) -> str:
    if not total:
        text = f"  translating: {done} lines"
    else:
        filled = min(20, 20 * done // total)
        text = (f"  translating [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} lines "
                f"({100 * done // total}%)")
    return f"{text} {message}" if message else text


def _tenth(done: int, total: int | None) -> int:
    return 10 * done // total if total else done


# -- db -------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Migrate the database to the newest schema (the server also does this at start)."""
    from db import Database
    from db.migrate import current_revision, upgrade_to_head

    settings = load_settings()
    database = Database(settings.effective_database_url,
                        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        before = current_revision(database)
        after = upgrade_to_head(database)
    finally:
        database.dispose()
    if as_json:
        emit_json({"revision": after, "previous": before, "upgraded": before != after})
    elif before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to revision {after}")


# -- user ------------------------------------------------------------------------------


@cli.group()
def user() -> None:
    """The web UI's login."""


@user.command("set-password")
@click.option("--username", default="admin", show_default=True,
              help="Account to set; made when it does not exist.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of stdin instead of prompting.")
def user_set_password(username: str, password_stdin: bool) -> None:
    """Set the web UI password (also the way back in after forgetting it)."""
    from db import Database
    from db.migrate import upgrade_to_head
    from web.accounts import AccountError, set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True,
                                confirmation_prompt="Repeat the password")
    settings = load_settings()
    database = Database(settings.effective_database_url,
                        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        upgrade_to_head(database)
        created = set_password(database, username, password)
    except AccountError as exc:
        fail(str(exc), code=2)
    finally:
        database.dispose()
    click.echo(f"account {username!r} {'created' if created else 'password changed'}; "
               "other sessions of it are logged out")


# -- config ---------------------------------------------------------------------------


def _settings_epilog() -> str:
    lines = ["\b", "Settings (environment variable, what it accepts):"]
    lines += [f"  {s.env_var:42} {s.accepts()}" for s in SETTINGS]
    return "\n".join(lines)


@cli.group()
def config() -> None:
    """Settings."""


@config.command("show", epilog=_settings_epilog())
@json_option
def config_show(as_json: bool) -> None:
    """Every setting with its value and where it comes from (default, the config file,
    saved in the web UI, a SUBLARR_* variable); secrets are masked."""
    settings = _settings_with_saved_values()
    values = settings.masked()
    if as_json:
        emit_json(values)
        return
    emit_table(("SETTING", "VARIABLE", "VALUE", "FROM"),
               [(s.name, s.env_var, _show_value(values[s.name]),
                 settings.sources.get(s.name, "")) for s in SETTINGS])


def _settings_with_saved_values() -> Settings:
    """load_settings() plus what the web UI saved in the database; without the database
    (none yet, or unreachable) the rest is still shown, with a note on stderr."""
    from sqlalchemy.exc import SQLAlchemyError

    import settings_store
    from db import Database

    settings = load_settings()
    if settings.effective_database_url.startswith("sqlite") and not Path(
            settings.sqlite_path).exists():
        return settings
    # A database on another machine that does not answer must not hang the command.
    os.environ.setdefault("PGCONNECT_TIMEOUT", "5")
    database = Database(settings.effective_database_url,
                        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        return settings_store.resolve(None, database)
    except SQLAlchemyError as exc:
        click.echo(f"sublarr: values saved in the web UI are not shown: the database "
                   f"cannot be read ({type(exc).__name__})", err=True)
        return settings
    finally:
        database.dispose()


def _show_value(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


# -- library: scan and the wanted list ------------------------------------------------


class _CountProgress:
    """A "\r label done/total" line on stderr, rewritten in place."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        click.echo(f"\r{self.label} {done}/{total}", err=True, nl=False)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)


@cli.command()
@json_option
def scan(as_json: bool) -> None:
    """Scan the media roots (progress on stderr), then refresh the wanted list."""
    from wanted import scan_and_refresh

    progress = _CountProgress("scanning")
    with application() as app:
        report = scan_and_refresh(app.database, app.settings,  # type: ignore[attr-defined]
                                  progress=progress)
    progress.close()
    if as_json:
        emit_json(report)
        return
    if report["scan"] is not None:
        scanned = report["scan"]
        click.echo(f"scanned {scanned.get('files_seen', 0)} file(s): "
                   f"{scanned.get('added', 0)} new, {scanned.get('updated', 0)} changed, "
                   f"{scanned.get('missing', 0)} missing")
    counts = report["wanted"]
    click.echo(f"wanted: {counts['created']} new, {counts['found']} found, "
               f"{counts['reopened']} reopened, {counts['removed']} removed "
               f"({counts['files']} file(s))")


@cli.group()
def wanted() -> None:
    """The wanted list: subtitles the library lacks."""


@wanted.command("list")
@click.option("--status", metavar="S[,S...]", help="Only these statuses (wanted, "
              "searching, found, failed, ignored).")
@click.option("--language", metavar="CODE", help="Only this language.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
def wanted_list(status: str | None, language: str | None, limit: int,
                as_json: bool) -> None:
    """Wanted items, due first."""
    from db.repositories.wanted import WantedRepository
    from routes.wanted import parse_filter

    try:
        flt = parse_filter({"status": status, "language": language})
    except ApiError as exc:
        fail(exc.message, 2)
    with application() as app:
        repo = WantedRepository(app.database)  # type: ignore[attr-defined]
        rows, total = repo.page(flt, page_size=limit)
        summary = repo.summary()
    if as_json:
        emit_json({"items": rows, "total": total, "summary": summary})
        return
    emit_table(("ID", "STATUS", "LANG", "VARIANT", "ATTEMPTS", "NEXT SEARCH", "TITLE",
                "FILE"),
               [(r["id"], r["status"], r["language"], r["variant"], r["attempts"],
                 (r["next_search_at"] or "")[:19], r["title"], Path(r["path"]).name)
                for r in rows])
    click.echo(f"{len(rows)} of {total} item(s); " + ", ".join(
        f"{name} {count}" for name, count in summary.items()))


@wanted.command("search")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "search_all", is_flag=True,
              help="Every wanted or failed item (at most wanted_batch_limit).")
@json_option
def wanted_search(ids: tuple[int, ...], search_all: bool, as_json: bool) -> None:
    """Queue searches for the wanted items IDS (or --all).

    With RQ the server's workers run them and the command returns at once. With the
    in-process memory queue nobody else would run them, so the command runs them
    itself and waits, with a progress line on stderr.
    """
    from db.repositories.wanted import WantedFilter, WantedRepository
    from wanted_search import submit_wanted_batch_search

    if bool(ids) == search_all:
        raise click.UsageError("give item IDs or --all (not both)")
    with application() as app:
        repo = WantedRepository(app.database)  # type: ignore[attr-defined]
        if search_all:
            chosen = repo.ids(WantedFilter(statuses=("wanted", "failed")),
                              limit=app.settings.wanted_batch_limit)  # type: ignore[attr-defined]
        else:
            chosen = list(dict.fromkeys(ids))
            known = set(repo.ids(WantedFilter(ids=tuple(chosen)), limit=len(chosen)))
            unknown = [i for i in chosen if i not in known]
            if unknown:
                fail(f"no wanted item {', '.join(map(str, unknown))}")
        queue = _queue(app)
        with app.app_context():
            job_ids = submit_wanted_batch_search(chosen)
        in_process = queue.type_name == "memory"
        results = _wait_for_jobs(queue, job_ids) if in_process else {}
        items = [repo.get(i) for i in chosen] if in_process else []
    found = [i for i in items if i is not None]
    document: dict[str, Any] = {"job_ids": job_ids, "backend": queue.type_name,
                                "ran_here": in_process, "jobs": results, "items": found}
    if as_json:
        emit_json(document)
        return
    if not in_process:
        click.echo(f"queued {len(job_ids)} search(es); the workers run them")
        return
    for row in found:
        where = row["subtitle_path"] or row["last_error"] or ""
        click.echo(f"{row['id']}: {row['status']} {where}".rstrip())


def _wait_for_jobs(queue: QueueBackend, job_ids: list[str]) -> dict[str, str]:
    import time

    progress = _CountProgress("searching")
    pending = set(job_ids)
    done: dict[str, str] = {}
    while pending:
        for job_id in list(pending):
            info = queue.get_job(job_id)
            if info is not None and not info.status.is_active:
                done[job_id] = info.status.value
                pending.discard(job_id)
        progress(len(done), len(job_ids))
        if pending:
            time.sleep(0.05)
    progress.close()
    return done


def main() -> None:
    cli.main(prog_name="sublarr")


if __name__ == "__main__":
    main()
