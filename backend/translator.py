"""Translating a subtitle file, directly or as a job on app.job_queue.

``translate_file`` reads an ASS/SSA/SRT/VTT file, translates its dialogue through a
backend (or the configured chain) in concurrent batches, and writes
``<video stem>.<target>[.forced].<ext>`` beside it, atomically, in the same format. Only
the text of translated events changes: the file is edited in place
(translation.document), so styles, timings, comments and every override tag stay byte
for byte. Left alone in ASS: comments, events whose style is a sign/song/karaoke style
(setting translation_skip_styles), vector drawings (``\\p1``) and karaoke-timed lines
(``{\\k20}``): translating syllable by syllable would break their timing, so they keep
their original text. Lines without words ("♪", "...") are left alone too.

Before any backend call the translation memory is asked for every distinct line; each
backend answer is remembered as soon as its batch is done, so a failed or repeated run
costs no call twice. ``submit_translation_job`` puts ``run_translation_job`` on the job
queue; the job record shows lines done / total while it runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from sqlalchemy.exc import SQLAlchemyError

from job_queue.context import report_progress
from providers.base import UnknownLanguage, normalize_language
from subtitles.encoding import UndecodableError, decode_subtitle
from subtitles.formats import InvalidSubtitle, detect_format
from subtitles.save import write_file
from translation import BackendChain
from translation.base import TranslationBackend
from translation.batching import Answer, Batch, make_batches, run_batches, translate_splitting
from translation.document import SubtitleDocument, parse_document
from translation.glossary import GlossaryStore, check_terms, terms_in
from translation.markup import PlaceholderMismatch, Protected, check_placeholders, protect, restore
from translation.memory import TranslationMemoryStore

if TYPE_CHECKING:
    from config import Settings
    from db import Database

log = logging.getLogger(__name__)

SUBTITLE_EXTENSIONS = ("ass", "ssa", "srt", "vtt")
# Markers that may follow the language in a subtitle's name: "<stem>.<lang>.<marker>.<ext>".
_NAME_MARKERS = frozenset({"forced", "hi", "sdh", "cc"})
# Only lower-case codes count: "Part.One.srt" or "The.End.srt" name no language.
_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")

Progress = Callable[[int, int], None]


class TargetExists(FileExistsError):
    """The translation's file is already there and force was not given."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; pass force to overwrite it")
        self.path = path


@dataclass
class TranslationResult:
    output_path: str
    source_path: str
    source_lang: str
    target_lang: str
    format: str
    events_total: int  # events in the file (dialogue, signs, comments...)
    lines_translated: int  # events whose text was translated
    lines_from_memory: int  # of those, taken from the translation memory
    lines_from_backend: int  # of those, translated by a backend in this run
    lines_skipped: int  # events left as they were (signs, songs, drawings, no words)
    backend_calls: int
    backend: str | None  # the backend that translated most lines
    model_id: str | None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- names ------------------------------------------------------------------------------


def language_from_name(path: str | Path) -> str | None:
    """The language a subtitle's file name carries before its extension and markers
    ("Show.S01E01.en.ass" -> "en", "Movie.pt-BR.forced.srt" -> "pt-BR")."""
    parts = Path(path).name.split(".")[1:-1]
    while parts and parts[-1].lower() in _NAME_MARKERS:
        parts.pop()
    if not parts or not _CODE.match(parts[-1]):
        return None
    try:
        return normalize_language(parts[-1])
    except UnknownLanguage:
        return None


def output_path_for(path: str | Path, target_lang: str) -> Path:
    """Where the translation of subtitle `path` goes: the video's stem (the subtitle's
    name without its language and markers), the target language, ``.forced`` when the
    source is a forced track, and the source's extension."""
    source = Path(path)
    parts = source.name.split(".")
    extension = parts.pop().lower() if len(parts) > 1 else "srt"
    forced = False
    while len(parts) > 1 and parts[-1].lower() in _NAME_MARKERS:
        marker = parts.pop().lower()
        forced = forced or marker == "forced"
    if len(parts) > 1 and language_from_name(".".join([*parts, extension])):
        parts.pop()
    name = [*parts, normalize_language(target_lang)]
    if forced:
        name.append("forced")
    return source.with_name(".".join([*name, extension]))


def default_job_id(file_path: str | Path, target_lang: str) -> str:
    """One active translation per file and target language."""
    digest = hashlib.sha256(str(Path(file_path).absolute()).encode()).hexdigest()[:24]
    return f"translate-{normalize_language(target_lang)}-{digest}"


# -- translating a file -----------------------------------------------------------------


def translate_file(path: str | Path, *, source_lang: str | None = None, target_lang: str,
                   backend: str | TranslationBackend | BackendChain | None = None,
                   force: bool = False,
                   progress: Progress | None = None, series: str | None = None,
                   settings: Settings | None = None,
                   database: Database | None = None) -> TranslationResult:
    """Translate the subtitle at `path` into `target_lang` and write it beside it.

    `source_lang` defaults to the language in the file name. `backend` is a backend
    name (that backend alone), None (the configured chain), or a backend or chain
    instance. `settings`
    and `database` default to the current Flask app's; without a database no
    translation memory or glossary is used. Raises ValueError (UnknownLanguage) naming a
    bad language code, FileNotFoundError, InvalidSubtitle (nothing written),
    TargetExists, and the backends' TranslationError (LineFailed when a line cannot be
    translated faithfully); nothing is written unless every line was translated.
    """
    started = time.monotonic()
    settings, database = _services(settings, database)
    source = Path(path)
    source_lang, target_lang = _languages(source, source_lang, target_lang)
    target = output_path_for(source, target_lang)
    if target.absolute() == source.absolute():
        raise ValueError(f"target_lang: the translation would replace {source.name} itself")
    if target.exists() and not force:
        raise TargetExists(target)
    document = read_document(source, source_lang, settings)
    engine = Engine.create(backend, settings)
    try:
        run = FileTranslation(document, engine, settings=settings, database=database,
                              source_lang=source_lang, target_lang=target_lang,
                              series=series, progress=progress)
        replacements = run.translate()
    finally:
        engine.close()
    try:
        write_file(target, document.render(replacements).encode("utf-8"), replace=force)
    except FileExistsError:
        raise TargetExists(target) from None
    log.info("translated %s -> %s: %d lines (%d from memory, %d backend calls)",
             source, target, run.lines_total, run.from_memory, run.calls)
    return run.result(source, target, time.monotonic() - started)


def read_document(path: Path, source_lang: str | None, settings: Settings) -> SubtitleDocument:
    """The subtitle at `path`, decoded and parsed; InvalidSubtitle when it is not one."""
    data = path.read_bytes()
    try:
        text, _encoding = decode_subtitle(data, language=source_lang)
    except UndecodableError as exc:
        raise InvalidSubtitle(f"{path.name}: {exc}") from None
    try:
        fmt = detect_format(text, hint=path.suffix.lower().lstrip("."))
        return parse_document(text, fmt, skip_styles=settings.translation_skip_styles)
    except InvalidSubtitle as exc:
        raise InvalidSubtitle(f"{path.name}: {exc}") from None


def _services(settings: Settings | None,
              database: Database | None) -> tuple[Settings, Database | None]:
    if (settings is None or database is None) and has_app_context():
        settings = settings or current_app.settings  # type: ignore[attr-defined]
        database = database or current_app.database  # type: ignore[attr-defined]
    if settings is None:
        from config import load_settings

        settings = load_settings()
    return settings, database


def _languages(source: Path, source_lang: str | None, target_lang: str) -> tuple[str, str]:
    target = normalize_language(target_lang)
    if source_lang:
        origin = normalize_language(source_lang)
    else:
        named = language_from_name(source)
        if named is None:
            raise ValueError(f"source_lang: {source.name} names no language; give one")
        origin = named
    if origin == target:
        raise ValueError(f"target_lang: {target} is the source language")
    return origin, target


# -- backends ---------------------------------------------------------------------------


class Engine:
    """What the translator needs of a backend or a chain of them: the model ids the
    memory may answer for (preferred first), and calls that say who answered."""

    def __init__(self, backends: Sequence[TranslationBackend],
                 call: Callable[..., tuple[list[str], str]]) -> None:
        self.backends = list(backends)
        self._call = call
        self.kinds = {b.model_id: b.kind for b in self.backends}
        self.names = {b.model_id: b.name for b in self.backends}

    @classmethod
    def create(cls, backend: str | TranslationBackend | BackendChain | None,
               settings: Settings) -> Engine:
        """An instance is called as it is; a name is that backend alone and None the
        configured chain, both with the chain's retries, breakers and fallback."""
        if isinstance(backend, TranslationBackend):
            return cls.single(backend)
        chain = backend if isinstance(backend, BackendChain) else BackendChain(
            settings, names=[backend] if backend else None)

        def call(lines: list[str], **kwargs: Any) -> tuple[list[str], str]:
            answer = chain.translate_detailed(lines, **kwargs)
            return answer.lines, answer.model_id

        return cls(chain.backends, call)

    @classmethod
    def single(cls, backend: TranslationBackend) -> Engine:
        def call(lines: list[str], **kwargs: Any) -> tuple[list[str], str]:
            return backend.translate(lines, **kwargs), backend.model_id

        return cls([backend], call)

    @property
    def model_ids(self) -> list[str]:
        return list(self.kinds)

    def translate(self, lines: list[str], **kwargs: Any) -> tuple[list[str], str]:
        return self._call(lines, **kwargs)

    def name_of(self, model_id: str) -> str:
        return self.names.get(model_id, model_id.split(":", 1)[0])

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


@dataclass
class _Line:
    slot: int  # index into the document's slots
    protected: Protected


class FileTranslation:
    """One file's translation run: memory first, then batches, then restoring markup."""

    def __init__(self, document: SubtitleDocument, engine: Engine, *, settings: Settings,
                 database: Database | None, source_lang: str, target_lang: str,
                 series: str | None, progress: Progress | None) -> None:
        self.document = document
        self.engine = engine
        self.settings = settings
        self.source_lang, self.target_lang = source_lang, target_lang
        self.memory = TranslationMemoryStore(database) if database is not None else None
        self.glossary = (GlossaryStore(database).terms_for(source_lang, target_lang, series)
                         if database is not None else {})
        self.progress = progress
        self.lines = self._lines()
        self.lines_total = len(self.lines)
        # Distinct cores in order of first appearance, and where each first appears.
        self.first_seen: dict[str, int] = {}
        for position, line in enumerate(self.lines):
            self.first_seen.setdefault(line.protected.core, position)
        self.occurrences = Counter(line.protected.core for line in self.lines)
        self.translations: dict[str, tuple[str, str]] = {}  # core -> (text, model id)
        self.from_memory = 0
        self.calls = 0
        self.done = 0
        self.warnings: list[str] = []
        self._lock = threading.Lock()

    def _lines(self) -> list[_Line]:
        lines = []
        for index, slot in enumerate(self.document.slots):
            if slot.skip is None:
                protected = protect(slot.text, self.document.fmt)
                if protected.translatable:
                    lines.append(_Line(index, protected))
        return lines

    def translate(self) -> dict[int, str]:
        """slot index -> translated text, for every translatable line."""
        self._recall()
        todo = [core for core in self.first_seen if core not in self.translations]
        self._report()
        context_of = self._context_of(todo)
        batches = make_batches(todo, context_of,
                               max_lines=self.settings.translation_batch_size,
                               max_chars=self.settings.translation_batch_chars)
        run_batches(batches,
                    lambda batch: translate_splitting(batch, self._call, context_of),
                    concurrency=self.settings.translation_concurrency,
                    on_done=self._finished)
        return self._restored()

    def _recall(self) -> None:
        if self.memory is None or not self.first_seen:
            return
        try:
            known = self.memory.lookup(self.source_lang, self.target_lang,
                                       self.engine.model_ids, list(self.first_seen))
        except SQLAlchemyError as exc:
            # The memory saves calls; without it the file still gets translated.
            log.warning("translation memory lookup failed, translating everything: %s", exc)
            return
        for core, entry in known.items():
            try:
                check_placeholders(core, entry.translated_text)
            except PlaceholderMismatch:
                continue  # a bad entry from an older version: translate the line again
            self.translations[core] = (entry.translated_text, entry.model_id)
            self.from_memory += self.occurrences[core]
            self.done += self.occurrences[core]

    def _context_of(self, todo: list[str]) -> Callable[[int], tuple[str, ...]]:
        wanted = self.settings.translation_context_lines

        def context_of(item: int) -> tuple[str, ...]:
            position = self.first_seen[todo[item]]
            start = max(0, position - wanted)
            return tuple(line.protected.core for line in self.lines[start:position])

        return context_of

    def _call(self, batch: Batch) -> tuple[list[str], str]:
        with self._lock:
            self.calls += 1
        return self.engine.translate(
            list(batch.texts), source_lang=self.source_lang, target_lang=self.target_lang,
            context=list(batch.context), glossary=terms_in(self.glossary, batch.texts))

    def _finished(self, answers: list[Answer]) -> None:
        """A batch is done (runs in the translator's own thread, one at a time)."""
        for answer in answers:
            pairs = dict(zip(answer.batch.texts, answer.translations, strict=True))
            for core, text in pairs.items():
                self.translations[core] = (text, answer.model_id)
                self.done += self.occurrences[core]
            self._remember(answer.model_id, pairs)
            if self.glossary and self.engine.kinds.get(answer.model_id) == "mt":
                self.warnings += check_terms(self.glossary, answer.batch.texts,
                                             answer.translations)
        self._report()

    def _remember(self, model_id: str, pairs: dict[str, str]) -> None:
        if self.memory is None:
            return
        try:
            self.memory.remember(self.source_lang, self.target_lang, model_id, pairs)
        except SQLAlchemyError as exc:
            log.warning("could not store %d translations in the memory: %s", len(pairs), exc)

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.lines_total)
        report_progress(self.done, self.lines_total, "lines translated")

    def _restored(self) -> dict[int, str]:
        replacements: dict[int, str] = {}
        for line in self.lines:
            text, _model = self.translations[line.protected.core]
            replacements[line.slot] = restore(line.protected, text, self.document.fmt,
                                              newline=self.document.newline)
        return replacements

    def result(self, source: Path, target: Path, seconds: float) -> TranslationResult:
        models = Counter(model for core, (_text, model) in self.translations.items()
                         for _ in range(self.occurrences[core]))
        model_id = models.most_common(1)[0][0] if models else None
        return TranslationResult(
            output_path=str(target), source_path=str(source), source_lang=self.source_lang,
            target_lang=self.target_lang, format=self.document.fmt,
            events_total=self.document.events_total, lines_translated=self.lines_total,
            lines_from_memory=self.from_memory,
            lines_from_backend=self.lines_total - self.from_memory,
            lines_skipped=self.document.events_total - self.lines_total,
            backend_calls=self.calls,
            backend=self.engine.name_of(model_id) if model_id else None,
            model_id=model_id, warnings=self.warnings, seconds=round(seconds, 3))


# -- jobs -------------------------------------------------------------------------------


def run_translation_job(file_path: str, *, source_lang: str | None = None,
                        target_lang: str, backend: str | None = None, force: bool = False,
                        series: str | None = None) -> dict[str, Any]:
    """The queued translation (module-level, so RQ workers can import it). Runs in the
    application context the queue provides; its result is the job's JSON summary."""
    app = current_app
    result = translate_file(file_path, source_lang=source_lang, target_lang=target_lang,
                            backend=backend, force=force, series=series,
                            settings=app.settings,  # type: ignore[attr-defined]
                            database=app.database)  # type: ignore[attr-defined]
    record_translation(app.database, result)  # type: ignore[attr-defined]
    return result.to_dict()


def record_translation(database: Database, result: TranslationResult) -> None:
    """A "translated" history row (what the dashboard's recent activity lists), tied to
    the video the subtitle sits beside when the library knows it."""
    import json

    from sqlalchemy import select

    from db.models import HistoryEvent, MediaFile, utcnow

    output = Path(result.output_path)
    with database.session() as session:
        beside = session.execute(select(MediaFile.id, MediaFile.path).where(
            MediaFile.path.startswith(f"{output.parent}{os.sep}"))).all()
        # "<video stem>.<lang>[.hi|.forced].<ext>": the longest stem that prefixes it.
        owners = sorted(((len(Path(path).stem), file_id) for file_id, path in beside
                         if Path(path).parent == output.parent
                         and output.name.startswith(Path(path).stem + ".")), reverse=True)
        session.add(HistoryEvent(
            at=utcnow(), action="translated",
            media_file_id=owners[0][1] if owners else None,
            language=result.target_lang, provider=result.backend, path=result.output_path,
            detail=json.dumps({"source": result.source_path, "from": result.source_lang,
                               "model": result.model_id,
                               "lines": result.lines_translated})))


_JOB_OPTIONS = frozenset({"source_lang", "backend", "force", "series", "job_id"})


def submit_translation_job(file_path: str | Path, *, target_lang: str, **kwargs: Any) -> str:
    """Queue a translation on the app's job_queue; returns the job id. Keyword
    arguments are run_translation_job's, plus an optional job_id (default: one per file
    and target language, so the same translation is not queued twice)."""
    if not has_app_context():
        raise RuntimeError("submit_translation_job needs the application context")
    unknown = sorted(set(kwargs) - _JOB_OPTIONS)
    if unknown:
        raise TypeError(f"submit_translation_job: unknown argument(s) {', '.join(unknown)}")
    queue = current_app.job_queue  # type: ignore[attr-defined]
    job_id = kwargs.pop("job_id", None)
    target_lang = normalize_language(target_lang)
    if kwargs.get("source_lang"):
        kwargs["source_lang"] = normalize_language(kwargs["source_lang"])
    path = str(file_path)
    return str(queue.enqueue(run_translation_job, path, target_lang=target_lang,
                             job_id=job_id or default_job_id(path, target_lang), **kwargs))
