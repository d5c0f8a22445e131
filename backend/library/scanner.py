"""Walk the media roots, classify videos (episode or movie), read their sidecars and, for
new or changed files only, their embedded tracks; write media files in batches."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from guessit import guessit

from config import Settings
from db import Database
from db.models import Movie, Series, utcnow
from db.repositories.library import LibraryRepository
from library.probe import FfprobeNotFound, probe_subtitle_tracks
from library.sidecars import VIDEO_EXTENSIONS, find_sidecars
from release_names import scene_episode_fields

log = logging.getLogger(__name__)

BATCH_SIZE = 500
PROBE_THREADS = 4
ProbeFunc = Callable[[str], list[dict[str, Any]]]
Progress = Callable[[int, int], None]


# What a rescan may change on a file Sonarr/Radarr manage.
_FILE_FACTS = frozenset({"path", "size", "mtime_ns", "missing", "sidecars_json",
                         "embedded_json", "probed_at"})


@dataclass
class ScanReport:
    files_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0
    probed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Found:
    path: str
    root: str
    size: int
    mtime_ns: int
    sidecars: list[dict[str, Any]]


# -- public entry points -------------------------------------------------------------
def scan_library(database: Database, settings: Settings, *, roots: Sequence[str] | None = None,
                 progress: Progress | None = None, probe: ProbeFunc | None = None) -> ScanReport:
    """Scan the media roots (or some folders inside them). Unchanged files (path, size,
    mtime_ns) are not probed again; files gone from a scanned root are marked missing."""
    started = time.monotonic()
    allowed = media_roots(settings)
    chosen = _chosen_roots(roots, allowed)
    report = ScanReport()
    found: list[_Found] = []
    walked: list[str] = []
    for root in chosen:
        try:
            found.extend(_walk(root, _root_of(root, allowed) or root, allowed))
            walked.append(root)
        except OSError as exc:
            # An unmounted drive must not turn a whole library "missing".
            report.errors.append(f"cannot read {root}: {exc.strerror or exc}")
    report.files_seen = len(found)
    repo = LibraryRepository(database)
    states = repo.file_states_under([_prefix(r) for r in walked])
    _Applier(repo, settings, report, probe).apply(found, states, progress)
    seen = {f.path for f in found}
    vanished = [s["id"] for path, s in states.items() if path not in seen and not s["missing"]]
    repo.mark_missing(vanished)
    report.missing = len(vanished)
    report.seconds = round(time.monotonic() - started, 3)
    log.info("library scan: %s", report.as_dict())
    return report


def scan_file(database: Database, settings: Settings, path: str, *,
              probe: ProbeFunc | None = None) -> int | None:
    """Scan one video (for webhooks): its media file id, or None when the path is outside
    the media roots, not a video, or gone (then an existing row is marked missing)."""
    path = os.path.abspath(path)
    allowed = media_roots(settings)
    root = _root_of(path, allowed)
    if root is None or not _inside_roots(path, allowed):
        log.warning("scan_file: %s is outside the media roots; ignored", path)
        return None
    repo = LibraryRepository(database)
    states = _state_of(repo, path)
    try:
        stat = os.stat(path)
    except OSError:
        stat = None
    if stat is None or os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
        if path in states and not states[path]["missing"]:
            repo.mark_missing([states[path]["id"]])
        return None
    found = _Found(path, root, stat.st_size, stat.st_mtime_ns, find_sidecars(path))
    _Applier(repo, settings, ScanReport(), probe).apply([found], states, None)
    return repo.file_id(path)


def available_subtitles(media_file: Any) -> list[dict[str, Any]]:
    """The subtitles a media file row already has: its sidecars and embedded tracks, each
    {"language","hi","forced","format","text","source": "sidecar"|"embedded","path"|"index"}
    (the wanted engineer turns this into present/missing per wanted language)."""
    found: list[dict[str, Any]] = []
    for sidecar in json.loads(media_file.sidecars_json or "[]"):
        found.append({**sidecar, "source": "sidecar",
                      "text": sidecar.get("format") != "vobsub"})
    for track in json.loads(media_file.embedded_json or "[]"):
        found.append({"language": track["language"], "hi": track["hi"],
                      "forced": track["forced"], "format": track["codec"],
                      "text": track["text"], "source": "embedded", "index": track["index"]})
    return found


def media_roots(settings: Settings) -> list[str]:
    return [os.path.abspath(str(r)) for r in settings.media_roots if str(r).strip()]


# -- walking -------------------------------------------------------------------------
def _chosen_roots(roots: Sequence[str] | None, allowed: list[str]) -> list[str]:
    if roots is None:
        return allowed
    chosen = [os.path.abspath(r) for r in roots]
    outside = [r for r in chosen if _root_of(r, allowed) is None]
    if outside:
        raise ValueError(f"not inside the media roots: {', '.join(outside)}")
    return chosen


def _root_of(path: str, allowed: list[str]) -> str | None:
    for root in allowed:
        if path == root or path.startswith(_prefix(root)):
            return root
    return None


def _inside_roots(path: str, allowed: list[str]) -> bool:
    """The real location (symlinks resolved) is inside a root too."""
    real = os.path.realpath(path)
    return any(real == os.path.realpath(r) or real.startswith(_prefix(os.path.realpath(r)))
               for r in allowed)


def _prefix(root: str) -> str:
    return root.rstrip(os.sep) + os.sep


def _walk(top: str, root: str, allowed: list[str]) -> Iterator[_Found]:
    """Videos under top; one listing per directory serves both videos and sidecars.
    Directory symlinks are not followed (loops, escapes); file symlinks must stay inside."""
    stack = [top]
    first = True
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            if first:
                raise
            log.warning("cannot list %s; skipped", directory)
            continue
        first = False
        names = [e.name for e in entries]
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif os.path.splitext(entry.name)[1].lower() in VIDEO_EXTENSIONS:
                found = _found(entry, root, names, allowed)
                if found is not None:
                    yield found


def _found(entry: os.DirEntry[str], root: str, names: list[str],
           allowed: list[str]) -> _Found | None:
    try:
        if entry.is_symlink() and not _inside_roots(entry.path, allowed):
            return None
        stat = entry.stat()
    except OSError:
        return None
    if not entry.is_file():
        return None
    return _Found(entry.path, root, stat.st_size, stat.st_mtime_ns,
                  find_sidecars(entry.path, names))


def _state_of(repo: LibraryRepository, path: str) -> dict[str, dict[str, Any]]:
    row = repo.media_file_by_path(path)
    if row is None:
        return {}
    return {path: {"id": row.id, "path": row.path, "size": row.size, "mtime_ns": row.mtime_ns,
                   "probed_at": row.probed_at, "missing": row.missing,
                   "sidecars_json": row.sidecars_json}}


# -- writing -------------------------------------------------------------------------
class _Applier:
    """Turns found files into inserts and updates, a batch at a time."""

    def __init__(self, repo: LibraryRepository, settings: Settings, report: ScanReport,
                 probe: ProbeFunc | None) -> None:
        self.repo = repo
        self.report = report
        ffprobe = str(settings.ffprobe_path or "ffprobe")
        self.probe = probe or (lambda p: probe_subtitle_tracks(p, ffprobe=ffprobe))
        self.probe_broken = False
        self._lock = threading.Lock()
        if probe is None and shutil.which(ffprobe) is None:
            # Known up front, so unprobed files are not rewritten on every scan meanwhile.
            self._probe_failed(f"cannot run ffprobe {ffprobe!r} (not found); install ffmpeg "
                               "or set SUBLARR_FFPROBE_PATH")

    def apply(self, found: list[_Found], states: dict[str, dict[str, Any]],
              progress: Progress | None) -> None:
        for start in range(0, len(found), BATCH_SIZE):
            self._batch(found[start:start + BATCH_SIZE], states)
            if progress is not None:
                progress(min(start + BATCH_SIZE, len(found)), len(found))
        if progress is not None and not found:
            progress(0, 0)

    def _batch(self, batch: list[_Found], states: dict[str, dict[str, Any]]) -> None:
        fresh: list[_Found] = []
        sidecar_updates: list[dict[str, Any]] = []
        for item in batch:
            state = states.get(item.path)
            sidecars = _sidecars_json(item.sidecars)
            if state is not None and not self._changed(item, state):
                if sidecars != state["sidecars_json"]:
                    sidecar_updates.append({"id": state["id"], "sidecars_json": sidecars})
                    self.report.updated += 1
                else:
                    self.report.unchanged += 1
            else:
                fresh.append(item)
        self.repo.update_files(sidecar_updates)
        if fresh:
            self._write_fresh(fresh, states)

    def _changed(self, item: _Found, state: dict[str, Any]) -> bool:
        if state["missing"] or (item.size, item.mtime_ns) != (state["size"], state["mtime_ns"]):
            return True
        # Never probed (ffprobe was missing then): probe now, unless it is still missing.
        return state["probed_at"] is None and not self.probe_broken

    def _write_fresh(self, fresh: list[_Found], states: dict[str, dict[str, Any]]) -> None:
        parsed = [parse_media_path(f.path, f.root) for f in fresh]
        series_ids = self.repo.ensure_containers(
            Series, {p["container_path"]: p["container"] for p in parsed
                     if p["kind"] == "episode"})
        movie_ids = self.repo.ensure_containers(
            Movie, {p["container_path"]: p["container"] for p in parsed if p["kind"] == "movie"})
        tracks = self._probe_all(fresh)
        inserts, updates = [], []
        for item, info, embedded in zip(fresh, parsed, tracks, strict=True):
            row = {**info["fields"], "kind": info["kind"], "path": item.path,
                   "size": item.size, "mtime_ns": item.mtime_ns, "missing": False,
                   "sidecars_json": _sidecars_json(item.sidecars),
                   "series_id": series_ids.get(info["container_path"])
                   if info["kind"] == "episode" else None,
                   "movie_id": movie_ids.get(info["container_path"])
                   if info["kind"] == "movie" else None}
            if embedded is not None:
                row.update(embedded_json=json.dumps(embedded), probed_at=utcnow())
            state = states.get(item.path)
            if state is None:
                inserts.append(row)
            elif state.get("arr_episode_id") is not None:
                # Sonarr/Radarr know the numbering, group and quality better than a file
                # name does; a rescan only refreshes what the file itself says.
                updates.append({k: v for k, v in row.items() if k in _FILE_FACTS}
                               | {"id": state["id"]})
            else:
                updates.append({**row, "id": state["id"]})
        self.repo.insert_files(inserts)
        self.repo.update_files(updates)
        self.report.added += len(inserts)
        self.report.updated += len(updates)

    def _probe_all(self, fresh: list[_Found]) -> list[list[dict[str, Any]] | None]:
        if self.probe_broken:
            return [None] * len(fresh)
        with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
            return list(pool.map(self._probe_one, fresh))

    def _probe_one(self, item: _Found) -> list[dict[str, Any]] | None:
        if item.size == 0:
            # An empty file has no tracks; ffprobe would only fail on it (a placeholder
            # still being written, or a stub some tools leave).
            return []
        if self.probe_broken:
            return None
        path = item.path
        try:
            tracks = self.probe(path)
        except FfprobeNotFound as exc:
            self._probe_failed(str(exc))
            return None
        with self._lock:
            self.report.probed += 1
        return tracks

    def _probe_failed(self, message: str) -> None:
        with self._lock:  # probes run in threads; report the failure once
            if self.probe_broken:
                return
            self.probe_broken = True
        log.error("%s; embedded tracks are not read in this scan", message)
        self.report.errors.append(message)


def _sidecars_json(sidecars: list[dict[str, Any]]) -> str:
    return json.dumps(sidecars, sort_keys=True)


# -- names ---------------------------------------------------------------------------
_SEASON_DIR = re.compile(r"^(?:season|series|staffel|saison|temporada|s)[ ._-]*(\d{1,4})$",
                         re.IGNORECASE)
_SPECIALS_DIR = re.compile(r"^(?:specials?|extras?)$", re.IGNORECASE)
_YEAR = re.compile(r"\s*\((\d{4})\)")
_ID_TAG = re.compile(r"\s*[\[{](tvdb|tvdbid|imdb|imdbid|tmdb|tmdbid)-([A-Za-z0-9]+)[\]}]",
                     re.IGNORECASE)


def parse_media_path(path: str, root: str) -> dict[str, Any]:
    """kind, the series/movie folder it belongs to (with title, year, ids) and the file's
    own fields (season, episode, absolute_episode, title, release group, source...)."""
    directory, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    season_dir = _season_of_dir(os.path.basename(directory)) if directory != root else None
    fields = scene_episode_fields(stem)
    if fields is None:
        guess = dict(guessit(name))
        is_episode = guess.get("type") == "episode" or season_dir is not None
        fields = _guess_fields(guess, is_episode, season_dir)
    else:
        is_episode = True
        guess = {"title": fields.pop("_show")}
    if is_episode:
        show_dir = os.path.dirname(directory) if season_dir is not None else directory
        if show_dir == root or not show_dir.startswith(_prefix(root)):
            # Loose episodes straight in a root: group them by the guessed show name.
            show_dir = os.path.join(root, str(guess.get("title") or stem))
        return {"kind": "episode", "container_path": show_dir,
                "container": _folder_info(os.path.basename(show_dir), Series), "fields": fields}
    movie_dir = directory if directory != root else os.path.splitext(path)[0]
    container = _folder_info(os.path.basename(movie_dir), Movie)
    if directory == root:
        container.update(title=str(guess.get("title") or stem), year=_int(guess.get("year")))
    return {"kind": "movie", "container_path": movie_dir, "container": container,
            "fields": fields}


def _guess_fields(guess: dict[str, Any], is_episode: bool,
                  season_dir: int | None) -> dict[str, Any]:
    season = _int(guess.get("season"))
    episode = _int(guess.get("episode"))
    absolute = _int(guess.get("absolute_episode"))
    if is_episode and season is None:
        if season_dir is not None:
            season = season_dir
        elif episode is not None and absolute is None:
            # "[Group] Show - 27": anime numbering, no season to speak of.
            absolute, episode = episode, None
    return {
        "season": season if is_episode else None,
        "episode": episode if is_episode else None,
        "absolute_episode": absolute if is_episode else None,
        "title": _text(guess.get("episode_title") if is_episode else guess.get("title"), 300),
        "release_group": _text(guess.get("release_group"), 100),
        "source": _text(guess.get("source"), 50),
        "resolution": _text(guess.get("screen_size"), 20),
        "video_codec": _text(guess.get("video_codec"), 30),
    }


def _season_of_dir(name: str) -> int | None:
    match = _SEASON_DIR.match(name.strip())
    if match:
        return int(match[1])
    return 0 if _SPECIALS_DIR.match(name.strip()) else None


def _folder_info(name: str, model: type[Series] | type[Movie]) -> dict[str, Any]:
    """Title, year and ids from an *arr-style folder name: `Title (2019) {tvdb-12345}`."""
    info: dict[str, Any] = {}
    for kind, value in _ID_TAG.findall(name):
        key = kind.lower().removesuffix("id")
        if key == "imdb":
            info["imdb_id"] = value
        elif value.isdigit() and (key == "tmdb" or (key == "tvdb" and model is Series)):
            info[f"{key}_id"] = int(value)
    name = _ID_TAG.sub("", name)
    year = _YEAR.search(name)
    info["year"] = int(year[1]) if year else None
    info["title"] = (_YEAR.sub("", name).strip() or name)[:300]
    return info


def _int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value)[:limit] if value is not None else None
