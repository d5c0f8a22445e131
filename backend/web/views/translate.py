"""Translate: pick a subtitle file under a media root, a target language and a backend;
the job runs on the queue and the page follows it to its output file or its error.

The request is checked and queued by the same functions as POST /api/v1/translate
(routes.translate.translate_request and submit), so the page refuses exactly what the
API refuses, with the same message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from errors import ApiError, NotFound
from job_queue import JobInfo
from routes.translate import DEFAULT_SOURCE_LANG, submit, translate_request
from translation import BACKEND_NAMES
from translator import SUBTITLE_EXTENSIONS
from web.blueprint import bp

if TYPE_CHECKING:
    from config import Settings

TRANSLATION_JOB = "translator.run_translation_job"
FILE_LIMIT = 300  # files offered at once; the filter narrows a big library down
SCAN_LIMIT = 200_000  # directory entries looked at per listing, so a huge tree stays quick
RECENT_LIMIT = 15
POLL_SECONDS = 1
_EXTENSIONS = frozenset(f".{ext}" for ext in SUBTITLE_EXTENSIONS)


@dataclass
class FileGroup:
    folder: str  # relative to its media root, "." for the root itself
    root: str
    files: list[Path] = field(default_factory=list)


@dataclass
class FileListing:
    groups: list[FileGroup]
    count: int
    truncated: bool  # more files matched than FILE_LIMIT, or the scan stopped early


def _settings() -> Settings:
    return current_app.settings  # type: ignore[attr-defined,no-any-return]


# -- finding subtitle files ---------------------------------------------------------------


def _subtitle_files(root: Path) -> Iterator[Path | None]:
    """Subtitle files under root, depth first, folders in name order; None for every
    directory entry looked at that is not one (so the caller can count and stop).
    Directory symlinks are not followed: a loop or an escape from the root stays out."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name.lower(), reverse=True)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                yield None
            elif entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
                yield None
            elif os.path.splitext(entry.name)[1].lower() in _EXTENSIONS:
                yield Path(entry.path)
            else:
                yield None


def list_subtitle_files(media_roots: list[str], query: str = "") -> FileListing:
    """Subtitle files under the media roots whose path (below its root) contains every
    word of `query`, grouped by folder."""
    words = query.lower().split()
    groups: dict[tuple[str, str], FileGroup] = {}
    count, seen, truncated = 0, 0, False
    for root_text in media_roots:
        root = Path(root_text).expanduser()
        for found in _subtitle_files(root):
            seen += 1
            if seen > SCAN_LIMIT:
                truncated = True
                break
            if found is None:
                continue
            relative = found.relative_to(root)
            if not all(word in str(relative).lower() for word in words):
                continue
            count += 1
            if count > FILE_LIMIT:
                truncated = True
                break
            folder = str(relative.parent)
            group = groups.setdefault((str(root), folder), FileGroup(folder, str(root)))
            group.files.append(found)
        if truncated:
            break
    ordered = sorted(groups.values(), key=lambda g: (g.root, g.folder.lower()))
    for group in ordered:
        group.files.sort(key=lambda p: p.name.lower())
    return FileListing(ordered, min(count, FILE_LIMIT), truncated)


# -- the form -----------------------------------------------------------------------------


@dataclass
class TranslateForm:
    path: str = ""
    target_lang: str = ""
    backend: str = ""
    force: bool = False

    @classmethod
    def from_request(cls) -> TranslateForm:
        form = request.form
        return cls(path=form.get("path", "").strip(),
                   target_lang=form.get("target_lang", "").strip(),
                   backend=form.get("backend", "").strip(), force=bool(form.get("force")))

    def body(self) -> dict[str, Any]:
        """The same body POST /api/v1/translate takes."""
        return {"path": self.path or None, "target_lang": self.target_lang or None,
                "backend": self.backend or None, "force": self.force}


def backend_choices(settings: Settings) -> tuple[list[str], list[str]]:
    """(configured backends in chain order, the other known ones)."""
    configured = [name for name in settings.translation_backends if name in BACKEND_NAMES]
    return configured, [name for name in BACKEND_NAMES if name not in configured]


def language_choices(settings: Settings) -> list[str]:
    common = ["en", "de", "fr", "es", "it", "pt-BR", "ja", "ru", "zh", "ko", "nl", "pl"]
    return list(dict.fromkeys([*settings.default_languages, *common]))


@dataclass(frozen=True)
class TranslationJob:
    """A translation job record as the page shows it."""

    info: JobInfo

    @property
    def source_path(self) -> str:
        return str(self.info.args[0]) if self.info.args else ""

    @property
    def source_name(self) -> str:
        return Path(self.source_path).name

    @property
    def target_lang(self) -> str:
        return str(self.info.kwargs.get("target_lang") or "")

    @property
    def backend(self) -> str | None:
        return self.info.kwargs.get("backend")

    @property
    def result(self) -> dict[str, Any]:
        return self.info.result if isinstance(self.info.result, dict) else {}

    @property
    def output_path(self) -> str | None:
        value = self.result.get("output_path")
        return str(value) if value else None

    @property
    def output_name(self) -> str | None:
        return Path(self.output_path).name if self.output_path else None


def default_target(settings: Settings) -> str:
    """The first wanted language that is not the usual source (English)."""
    others = [code for code in settings.default_languages if code != DEFAULT_SOURCE_LANG]
    return others[0] if others else ""


def recent_jobs() -> list[TranslationJob]:
    queue = current_app.job_queue  # type: ignore[attr-defined]
    jobs: list[JobInfo] = queue.repository.list_jobs(func=TRANSLATION_JOB,
                                                     limit=RECENT_LIMIT)
    return [TranslationJob(info) for info in jobs]


def _page(form: TranslateForm, *, error: str | None = None, status: int = 200,
          job: TranslationJob | None = None) -> ResponseReturnValue:
    settings = _settings()
    query = request.args.get("q", "")
    configured, others = backend_choices(settings)
    if not form.target_lang:
        form.target_lang = default_target(settings)
    return render_template(
        "translate/index.html", page_title="Translate", active_page="translate",
        form=form, error=error, job=job, q=query,
        listing=list_subtitle_files(settings.media_roots, query),
        media_roots=settings.media_roots, configured=configured, others=others,
        languages=language_choices(settings), recent=recent_jobs(),
        poll_seconds=POLL_SECONDS), status


def _form_message(exc: ApiError) -> str:
    """The API's message, in the form's words where it names an API field."""
    if exc.code == "target_exists":
        return (f"{exc.details.get('path')} already exists; tick “Replace an existing "
                "translation” to overwrite it.")
    return exc.message


def _job(job_id: str) -> TranslationJob:
    info = current_app.job_queue.get_job(job_id)  # type: ignore[attr-defined]
    if info is None or info.func != TRANSLATION_JOB:
        raise NotFound(f"no translation job {job_id!r}", details={"job_id": job_id})
    return TranslationJob(info)


# -- routes -------------------------------------------------------------------------------


@bp.get("/translate")
def translate() -> ResponseReturnValue:
    job_id = request.args.get("job")
    form = TranslateForm(path=request.args.get("path", ""))
    return _page(form, job=_job(job_id) if job_id else None)


@bp.post("/translate")
def translate_submit() -> ResponseReturnValue:
    """Check and queue exactly as POST /api/v1/translate; then follow the job."""
    form = TranslateForm.from_request()
    try:
        wanted = translate_request(form.body(), _settings())
        answer = submit(wanted)
    except ApiError as exc:
        return _page(form, error=_form_message(exc), status=exc.status)
    return redirect(url_for("web.translate", job=answer["job_id"]))


@bp.get("/translate/files")
def translate_files() -> ResponseReturnValue:
    """The file picker, filtered (htmx, as the filter box is typed in)."""
    settings = _settings()
    return render_template("translate/_files.html", q=request.args.get("q", ""),
                           listing=list_subtitle_files(settings.media_roots,
                                                       request.args.get("q", "")),
                           selected=request.args.get("path", ""),
                           media_roots=settings.media_roots)


@bp.get("/translate/jobs/<job_id>")
def translate_job(job_id: str) -> ResponseReturnValue:
    """The followed job's panel; it polls itself until the job is finished, and then
    refreshes the recent list out of band."""
    job = _job(job_id)
    extra = {} if job.info.status.is_active else {"refresh_recent": recent_jobs()}
    return render_template("translate/_job.html", job=job, poll_seconds=POLL_SECONDS,
                           **extra)


@bp.get("/translate/recent")
def translate_recent() -> ResponseReturnValue:
    return render_template("translate/_recent.html", recent=recent_jobs())
