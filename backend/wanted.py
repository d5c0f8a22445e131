"""Language profiles and the wanted list: which subtitles each media file should have,
and rows for those it lacks.

A profile is an ordered list of wishes ``{"language", "hi", "forced"}``; a series or
movie gets its profile from its own ``profile_id``, else from the first profile whose
``tags_json`` shares a tag with it (*arr tags), else from the default profile (made on
first use from ``settings.default_languages``).

A wish is met by a sidecar file of the same language and variant, or by an embedded
*text* track of that language and variant: an embedded track counts as present because
every player shows it, and downloading a second copy would only add clutter. A
"normal" wish accepts any non-forced subtitle (an HI one included); "hi" needs a hi
one; "forced" a forced one. Image tracks (PGS, VobSub) never count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from config import Settings
from db import Database
from db.models import LanguageProfile, MediaFile, Movie, Series, WantedItem, utcnow
from providers.base import normalize_language

DEFAULT_PROFILE_NAME = "Default"
VARIANTS = ("normal", "hi", "forced")
STATUSES = ("wanted", "searching", "found", "failed", "ignored")
# Statuses a refresh may reopen or close; "ignored" is the user's and never touched,
# "searching" belongs to a running job.
_OPEN = ("wanted", "failed")
_BATCH = 500


# -- profiles ---------------------------------------------------------------------------


def normalize_items(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated wishes (ValueError on a bad one), duplicates dropped, order kept."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, bool, bool]] = set()
    for raw in items:
        if not isinstance(raw, dict) or not raw.get("language"):
            raise ValueError(f"a profile item needs a language: {raw!r}")
        language = normalize_language(str(raw["language"]))
        hi, forced = bool(raw.get("hi", False)), bool(raw.get("forced", False))
        item: dict[str, Any] = {"language": language, "hi": hi, "forced": forced}
        key = (language, hi, forced)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def profile_items(profile: LanguageProfile) -> list[dict[str, Any]]:
    return list(json.loads(profile.items_json or "[]"))


def profile_tags(profile: LanguageProfile) -> set[str]:
    return {str(tag).lower() for tag in json.loads(profile.tags_json or "[]")}


def variant_of(item: dict[str, Any]) -> str:
    if item.get("forced"):
        return "forced"
    return "hi" if item.get("hi") else "normal"


def profile_to_dict(profile: LanguageProfile) -> dict[str, Any]:
    return {"id": profile.id, "name": profile.name, "items": profile_items(profile),
            "cutoff": profile.cutoff, "is_default": profile.is_default,
            "tags": sorted(profile_tags(profile))}


def create_profile(session: Session, name: str, items: Iterable[dict[str, Any]], *,
                   cutoff: int | None = None, tags: Iterable[str] = (),
                   is_default: bool = False) -> LanguageProfile:
    wishes = normalize_items(items)
    if cutoff is not None and not 0 <= cutoff < len(wishes):
        raise ValueError(f"cutoff {cutoff} is not an index of the {len(wishes)} items")
    now = utcnow()
    if is_default:
        session.execute(update(LanguageProfile).values(is_default=False))
    profile = LanguageProfile(name=name, items_json=json.dumps(wishes), cutoff=cutoff,
                              is_default=is_default,
                              tags_json=json.dumps(sorted({t.lower() for t in tags})),
                              created_at=now, updated_at=now)
    session.add(profile)
    session.flush()
    return profile


def update_profile(session: Session, profile: LanguageProfile, **changes: Any) -> None:
    if "items" in changes:
        profile.items_json = json.dumps(normalize_items(changes.pop("items")))
    if "tags" in changes:
        profile.tags_json = json.dumps(sorted({str(t).lower() for t in changes.pop("tags")}))
    if changes.get("is_default"):
        session.execute(update(LanguageProfile).values(is_default=False))
    for name in ("name", "cutoff", "is_default"):
        if name in changes:
            setattr(profile, name, changes.pop(name))
    if changes:
        raise ValueError(f"unknown profile field(s): {', '.join(sorted(changes))}")
    if profile.cutoff is not None and not 0 <= profile.cutoff < len(profile_items(profile)):
        raise ValueError(f"cutoff {profile.cutoff} is not an index of the items")
    profile.updated_at = utcnow()


def delete_profile(session: Session, profile: LanguageProfile) -> None:
    # Series and movies fall back to tags or the default (the FK is ON DELETE SET NULL,
    # which SQLite honours only with foreign keys on, so clear them ourselves).
    for model in (Series, Movie):
        session.execute(update(model).where(model.profile_id == profile.id)
                        .values(profile_id=None))
    session.delete(profile)


def profile_usage(session: Session) -> dict[int, int]:
    """How many series and movies name each profile explicitly (tags and the default
    choose for the rest)."""
    used: dict[int, int] = {}
    for model in (Series, Movie):
        rows = session.execute(select(model.profile_id, func.count())
                               .where(model.profile_id.is_not(None))
                               .group_by(model.profile_id))
        for profile_id, count in rows:
            if profile_id is not None:
                used[profile_id] = used.get(profile_id, 0) + int(count)
    return used


def default_profile(session: Session, settings: Settings) -> LanguageProfile:
    """The default profile, made from settings.default_languages on first use."""
    profile = session.scalars(select(LanguageProfile).where(LanguageProfile.is_default)
                              .order_by(LanguageProfile.id)).first()
    if profile is not None:
        return profile
    items = [{"language": code} for code in settings.default_languages]
    return create_profile(session, _free_name(session), items, is_default=True)


def _free_name(session: Session) -> str:
    names = set(session.scalars(select(LanguageProfile.name)))
    name, n = DEFAULT_PROFILE_NAME, 1
    while name in names:
        n += 1
        name = f"{DEFAULT_PROFILE_NAME} {n}"
    return name


class ProfileResolver:
    """Which profile a series or movie uses, from profiles loaded once."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.default = default_profile(session, settings)
        self.profiles = {p.id: p for p in session.scalars(
            select(LanguageProfile).order_by(LanguageProfile.id))}
        self.by_tag = [(profile_tags(p), p) for p in self.profiles.values()
                       if profile_tags(p)]
        self._items = {pid: profile_items(p) for pid, p in self.profiles.items()}

    def for_owner(self, owner: Series | Movie | None) -> LanguageProfile:
        if owner is None:
            return self.default
        if owner.profile_id is not None and owner.profile_id in self.profiles:
            return self.profiles[owner.profile_id]
        tags = {str(t).lower() for t in json.loads(owner.tags_json or "[]")}
        for profile_tag_set, profile in self.by_tag:
            if tags & profile_tag_set:
                return profile
        return self.default

    def items(self, profile: LanguageProfile) -> list[dict[str, Any]]:
        return self._items.get(profile.id) or profile_items(profile)


def resolve_profile(session: Session, settings: Settings,
                    owner: Series | Movie | None) -> LanguageProfile:
    return ProfileResolver(session, settings).for_owner(owner)


# -- what a file already has --------------------------------------------------------------


def _matches(track: dict[str, Any], language: str, variant: str) -> bool:
    code = track.get("language")
    if not code:
        return False
    try:
        if normalize_language(str(code)) != language:
            return False
    except ValueError:
        return False
    forced, hi = bool(track.get("forced")), bool(track.get("hi"))
    if variant == "forced":
        return forced
    if variant == "hi":
        return hi and not forced
    return not forced


def sidecar_for(media: MediaFile, language: str, variant: str) -> dict[str, Any] | None:
    for sidecar in json.loads(media.sidecars_json or "[]"):
        if _matches(sidecar, language, variant):
            return dict(sidecar)
    return None


def embedded_for(media: MediaFile, language: str, variant: str) -> dict[str, Any] | None:
    for track in json.loads(media.embedded_json or "[]"):
        if track.get("text", True) and _matches(track, language, variant):
            return dict(track)
    return None


def has_subtitle(media: MediaFile, language: str, variant: str) -> bool:
    return (sidecar_for(media, language, variant) is not None
            or embedded_for(media, language, variant) is not None)


def add_sidecar(media: MediaFile, path: str, language: str, variant: str,
                fmt: str) -> None:
    """Record a subtitle Sublarr wrote, so the next refresh sees it before a rescan."""
    sidecars = [s for s in json.loads(media.sidecars_json or "[]") if s.get("path") != path]
    sidecars.append({"path": path, "language": language, "hi": variant == "hi",
                     "forced": variant == "forced", "format": fmt})
    media.sidecars_json = json.dumps(sidecars)


def remove_sidecar(media: MediaFile, path: str) -> None:
    sidecars = [s for s in json.loads(media.sidecars_json or "[]") if s.get("path") != path]
    media.sidecars_json = json.dumps(sidecars)


# -- refresh -------------------------------------------------------------------------------


def refresh_wanted(database: Database, settings: Settings, *,
                   media_file_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Bring the wanted rows in line with the library: a row per missing wish
    ("wanted", due now), "found" for wishes a subtitle now meets, open rows for wishes
    no profile asks for any more removed. "ignored" rows are never touched and
    "searching" rows only when their subtitle appeared. A second run changes nothing."""
    counts = {"files": 0, "created": 0, "found": 0, "reopened": 0, "removed": 0}
    with database.session() as session:
        resolver = ProfileResolver(session, settings)
        ids = _file_ids(session, media_file_ids)
    for start in range(0, len(ids), _BATCH):
        with database.session() as session:
            _refresh_batch(session, resolver, ids[start:start + _BATCH], counts)
    return counts


def _file_ids(session: Session, media_file_ids: Sequence[int] | None) -> list[int]:
    query = select(MediaFile.id).where(MediaFile.missing.is_(False)).order_by(MediaFile.id)
    if media_file_ids is not None:
        query = query.where(MediaFile.id.in_(list(media_file_ids)))
    return list(session.scalars(query))


def _refresh_batch(session: Session, resolver: ProfileResolver, ids: list[int],
                   counts: dict[str, int]) -> None:
    files = list(session.scalars(select(MediaFile).where(MediaFile.id.in_(ids))))
    series = _by_id(session, Series, {f.series_id for f in files if f.series_id})
    movies = _by_id(session, Movie, {f.movie_id for f in files if f.movie_id})
    existing: dict[tuple[int, str, str], WantedItem] = {
        (w.media_file_id, w.language, w.variant): w for w in session.scalars(
            select(WantedItem).where(WantedItem.media_file_id.in_(ids)))}
    now = utcnow()
    desired: set[tuple[int, str, str]] = set()
    for media in files:
        counts["files"] += 1
        owner = series.get(media.series_id or -1) or movies.get(media.movie_id or -1)
        for item in resolver.items(resolver.for_owner(owner)):
            key = (media.id, item["language"], variant_of(item))
            desired.add(key)
            _reconcile(session, media, key, existing.get(key), now, counts)
    for key, row in existing.items():
        if key not in desired and row.status in _OPEN:
            session.execute(delete(WantedItem).where(WantedItem.id == row.id))
            counts["removed"] += 1


def _reconcile(session: Session, media: MediaFile, key: tuple[int, str, str],
               row: WantedItem | None, now: datetime, counts: dict[str, int]) -> None:
    _, language, variant = key
    present = has_subtitle(media, language, variant)
    if row is None:
        if not present:
            session.add(WantedItem(media_file_id=media.id, language=language,
                                   variant=variant, status="wanted", attempts=0,
                                   next_search_at=now, created_at=now, updated_at=now))
            counts["created"] += 1
        return
    if row.status == "ignored":
        return
    if present and row.status in (*_OPEN, "searching"):
        sidecar = sidecar_for(media, language, variant)
        row.status = "found"
        row.subtitle_path = sidecar["path"] if sidecar else None
        row.format = sidecar.get("format") if sidecar else None
        row.last_error = None
        row.next_search_at = None
        row.updated_at = now
        counts["found"] += 1
    elif not present and row.status == "found":
        row.status, row.next_search_at, row.updated_at = "wanted", now, now
        row.subtitle_path = row.provider = row.format = None
        row.score = None
        counts["reopened"] += 1


def _by_id(session: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


# -- library badges -------------------------------------------------------------------------


def subtitle_state(media: MediaFile, wishes: Iterable[dict[str, Any]],
                   rows: Iterable[WantedItem] = ()) -> dict[str, str]:
    """Per wish ("en", "en:hi", "en:forced"): present, embedded, translated or missing."""
    translated = {(r.language, r.variant) for r in rows
                  if r.status == "found" and r.provider == TRANSLATED_PROVIDER}
    state: dict[str, str] = {}
    for item in wishes:
        language, variant = item["language"], variant_of(item)
        label = language if variant == "normal" else f"{language}:{variant}"
        if (language, variant) in translated:
            state[label] = "translated"
        elif sidecar_for(media, language, variant) is not None:
            state[label] = "present"
        elif embedded_for(media, language, variant) is not None:
            state[label] = "embedded"
        else:
            state[label] = "missing"
    return state


# The `provider` a wanted row gets when its subtitle came from auto-translation.
TRANSLATED_PROVIDER = "translation"


def scan_and_refresh(database: Database, settings: Settings, *,
                     progress: Any = None) -> dict[str, Any]:
    """Bring the library up to date — Sonarr/Radarr first (they know numbering and ids),
    then the media roots on disk — and refresh the wanted rows. What `sublarr scan`
    runs, `POST /wanted/refresh` queues and the scheduled "sync library" task does."""
    from library.arr import configured_instances
    from library.arr_sync import sync_arr
    from library.scanner import scan_library

    report: dict[str, Any] = {"arr": None, "scan": None}
    if configured_instances(settings):
        report["arr"] = sync_arr(database, settings).to_dict()
    if settings.media_roots:
        report["scan"] = scan_library(database, settings, progress=progress).as_dict()
    report["wanted"] = refresh_wanted(database, settings)
    return report

