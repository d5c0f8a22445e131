"""Translation as a job: submit_translation_job on create_app(testing=True)'s memory
queue, the real backend chain against a fake Ollama server, the job record's progress
and result, and failed jobs that leave nothing written."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import close_app, create_app
from job_queue.types import JobInfo
from tests.fakes.ollama import FakeOllama
from tests.fakes.server import FakeServer, serve
from tests.test_job_queue_helpers import wait_for_job
from tests.translator_helpers import FIXTURES
from translation import backend_states
from translator import submit_translation_job


@dataclass
class JobWorld:
    app: Flask
    ollama: FakeOllama
    server: FakeServer
    media: Path

    def copy(self, fixture: str, name: str) -> Path:
        target = self.media / name
        shutil.copyfile(FIXTURES / fixture, target)
        return target

    def run(self, path: Path, **kwargs: Any) -> JobInfo:
        kwargs.setdefault("source_lang", "en")
        kwargs.setdefault("target_lang", "de")
        with self.app.app_context():
            job_id = submit_translation_job(str(path), **kwargs)
        return wait_for_job(self.app.job_queue, job_id)  # type: ignore[attr-defined]


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[JobWorld]:
    media = tmp_path / "media"
    media.mkdir()
    ollama = FakeOllama()
    with serve(ollama.app) as server:
        app = create_app({"data_dir": str(tmp_path / "data"), "ollama_url": server.url,
                          "media_roots": [str(media)], "job_max_retries": 0,
                          "translation_batch_size": 3}, testing=True)
        try:
            yield JobWorld(app, ollama, server, media)
        finally:
            # Breaker and back-off state is per process: leave none to a later test.
            backend_states(app.settings).clear()  # type: ignore[attr-defined]
            close_app(app)


def test_a_translation_job_runs_through_the_queue_and_records_progress(
        jobs: JobWorld) -> None:
    source = jobs.copy("fansub.ass", "Station Story - 01.en.ass")
    info = jobs.run(source)
    assert info.status.value == "completed", info.error
    assert info.func == "translator.run_translation_job"
    assert (info.progress_done, info.progress_total) == (9, 9)
    target = jobs.media / "Station Story - 01.de.ass"
    assert info.result["output_path"] == str(target)
    assert info.result["lines_translated"] == 9
    assert info.result["backend"] == "ollama"
    assert info.result["model_id"].startswith("ollama")
    # 8 distinct dialogue lines in batches of 3.
    assert info.result["backend_calls"] == jobs.ollama.calls == 3
    text = target.read_text()
    assert "{\\be1}Wo bist du GOING?" in text
    assert "{\\an8\\pos(960,120)\\fnArial\\fs60\\c&H00FFFF&\\bord0\\frz4.3}Tanaka Bakery" in text

    again = jobs.run(source, force=True)
    assert again.status.value == "completed", again.error
    assert again.result["lines_from_memory"] == 9 and again.result["backend_calls"] == 0
    assert jobs.ollama.calls == 3


def test_a_file_that_does_not_parse_fails_the_job_with_the_reason(jobs: JobWorld) -> None:
    source = jobs.media / "Broken.en.srt"
    source.write_text("no subtitle here\n")
    info = jobs.run(source)
    assert info.status.value == "failed"
    assert "InvalidSubtitle" in (info.error or "") and "Broken.en.srt" in (info.error or "")
    assert sorted(p.name for p in jobs.media.iterdir()) == ["Broken.en.srt"]
    assert jobs.ollama.calls == 0


def test_an_existing_target_fails_the_job_unless_forced(jobs: JobWorld) -> None:
    source = jobs.copy("dialogue.srt", "Show.S01E01.en.srt")
    target = jobs.media / "Show.S01E01.de.srt"
    target.write_text("mine\n")
    info = jobs.run(source)
    assert info.status.value == "failed" and "already exists" in (info.error or "")
    assert target.read_text() == "mine\n"
    forced = jobs.run(source, force=True)
    assert forced.status.value == "completed", forced.error
    assert target.read_bytes().startswith(b"1\r\n00:00:01,000 --> 00:00:03,500\r\n<i>Wo ")


def test_a_backend_that_keeps_failing_fails_the_job_and_writes_nothing(
        jobs: JobWorld) -> None:
    source = jobs.copy("dialogue.srt", "Show.S01E02.en.srt")
    jobs.ollama.fault = "bad_request"
    info = jobs.run(source)
    assert info.status.value == "failed"
    assert "ollama" in (info.error or "")
    assert sorted(p.name for p in jobs.media.iterdir()) == ["Show.S01E02.en.srt"]


def test_submitting_checks_language_codes_before_anything_is_queued(jobs: JobWorld) -> None:
    source = jobs.copy("dialogue.srt", "Show.S01E03.en.srt")
    with jobs.app.app_context(), pytest.raises(ValueError, match="xx-nope"):
        submit_translation_job(str(source), source_lang="en", target_lang="xx-nope")
    with jobs.app.app_context(), pytest.raises(TypeError, match="colour"):
        submit_translation_job(str(source), target_lang="de", colour="blue")
    assert jobs.app.job_queue.repository.count() == 0  # type: ignore[attr-defined]


def test_a_finished_translation_is_in_the_history_with_its_video(jobs: JobWorld) -> None:
    from sqlalchemy import select

    from db.models import HistoryEvent, MediaFile, utcnow

    video = jobs.media / "Station Story - 01.mkv"
    video.write_bytes(b"\0" * 64)
    other = jobs.media / "Station Story - 01 extra.mkv"  # shares a prefix, not the stem
    other.write_bytes(b"\0" * 64)
    database = jobs.app.database  # type: ignore[attr-defined]
    now = utcnow()
    with database.session() as session:
        rows = [MediaFile(kind="episode", path=str(path), size=64, mtime_ns=0,
                          created_at=now, updated_at=now) for path in (other, video)]
        session.add_all(rows)
        session.flush()
        video_id = rows[1].id
    info = jobs.run(jobs.copy("fansub.ass", "Station Story - 01.en.ass"))
    assert info.status.value == "completed", info.error
    with database.session() as session:
        (event,) = session.scalars(select(HistoryEvent)).all()
        assert (event.action, event.language, event.provider, event.path) == (
            "translated", "de", "ollama", str(jobs.media / "Station Story - 01.de.ass"))
        assert event.media_file_id == video_id
    failed = jobs.run(jobs.copy("fansub.ass", "Station Story - 01.en.ass"))
    assert failed.status.value == "failed"  # the German file exists: nothing recorded
    with database.session() as session:
        assert len(session.scalars(select(HistoryEvent)).all()) == 1
