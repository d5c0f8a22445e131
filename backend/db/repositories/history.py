"""The history table: what Sublarr did to the library (downloads, upgrades, translations),
newest first, with the file and its series or movie title joined in one query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from db import Database
from db.models import HistoryEvent, MediaFile, Movie, Series


class HistoryRepository:
    def __init__(self, database: Database) -> None:
        self.database = database

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest `limit` events; `title` is the series or movie (None for an event
        whose file is gone), `path` the subtitle written."""
        stmt = (select(HistoryEvent, MediaFile, Series.title, Movie.title)
                .outerjoin(MediaFile, MediaFile.id == HistoryEvent.media_file_id)
                .outerjoin(Series, Series.id == MediaFile.series_id)
                .outerjoin(Movie, Movie.id == MediaFile.movie_id)
                .order_by(HistoryEvent.at.desc(), HistoryEvent.id.desc())
                .limit(limit))
        with self.database.session() as session:
            return [_event(event, media, series or movie)
                    for event, media, series, movie in session.execute(stmt)]


def _event(event: HistoryEvent, media: MediaFile | None, title: str | None
           ) -> dict[str, Any]:
    at: datetime = event.at
    return {
        "id": event.id, "at": at, "action": event.action, "language": event.language,
        "provider": event.provider, "score": event.score, "path": event.path,
        "media_file_id": event.media_file_id,
        "video_path": media.path if media is not None else None,
        "title": title or (media.title if media is not None else None),
        "kind": media.kind if media is not None else None,
        "season": media.season if media is not None else None,
        "episode": media.episode if media is not None else None,
    }
