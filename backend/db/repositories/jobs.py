"""The jobs table: every status transition is a conditional UPDATE, so two processes
racing on one job cannot both win."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from db import Database
from db.models import Job, utcnow
from job_queue.types import ACTIVE_STATUSES, FINISHED_STATUSES, JobInfo, JobStatus

RESULT_LIMIT = 4000
ERROR_LIMIT = 4000
_T = cast(Table, Job.__table__)


def _row_to_info(row: Any) -> JobInfo:
    result = None
    if row.result_json:
        try:
            result = json.loads(row.result_json)
        except ValueError:
            result = row.result_json
    return JobInfo(
        id=row.id, func=row.func, args=json.loads(row.args_json),
        kwargs=json.loads(row.kwargs_json), status=JobStatus(row.status),
        backend=row.backend, attempts=row.attempts, max_attempts=row.max_attempts,
        progress_done=row.progress_done, progress_total=row.progress_total,
        progress_message=row.progress_message, error=row.error, result=result,
        created_at=row.created_at, enqueued_at=row.enqueued_at, started_at=row.started_at,
        finished_at=row.finished_at, run_after=row.run_after,
    )


def summarise_result(value: Any) -> str | None:
    """JSON of a job's return value, cut to a summary if it is large or not JSON."""
    if value is None:
        return None
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
    if len(text) > RESULT_LIMIT:
        text = json.dumps({"truncated": True, "preview": text[: RESULT_LIMIT - 100]})
    return text


class _StartedRow(NamedTuple):
    func: str
    args_json: str
    kwargs_json: str
    attempts: int
    max_attempts: int


class StartedJob(NamedTuple):
    """What a runner needs of a job it has just moved to running."""

    id: str
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    max_attempts: int


# The hot path (claim, start, finish, progress) runs prebuilt statements with bound
# parameters: building a statement costs several times what SQLite takes to run it.
_NEW_ROW = ("func", "args_json", "kwargs_json", "status", "backend", "attempts",
            "max_attempts", "progress_done", "progress_total", "progress_message", "error",
            "result_json", "created_at", "enqueued_at", "started_at", "finished_at",
            "run_after")
_ID: Any = bindparam("b_id")
_RUNNING = _T.c.status == JobStatus.RUNNING.value


def _claim_upsert(dialect: str) -> Any:
    """INSERT, or reuse a finished record; an active one is left alone. RETURNING tells
    which happened (rowcount is not reliable for upserts on every driver)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(_T).values(id=_ID, **{name: bindparam(f"b_{name}") for name in _NEW_ROW})
    return statement.on_conflict_do_update(
        index_elements=[_T.c.id],
        set_={name: statement.excluded[name] for name in _NEW_ROW},
        # Not IN (...): an expanding parameter costs more to render than the query runs.
        where=(_T.c.status != JobStatus.QUEUED.value) & (_T.c.status != JobStatus.RUNNING.value),
    ).returning(_T.c.id)


_CLAIM_UPSERT = {dialect: _claim_upsert(dialect) for dialect in ("postgresql", "sqlite")}
_START = (
    update(_T).where(_T.c.id == _ID, _T.c.status == JobStatus.QUEUED.value)
    .values(status=JobStatus.RUNNING.value, attempts=_T.c.attempts + 1,
            started_at=bindparam("b_now"), finished_at=None, run_after=None)
)
_COMPLETE = (
    update(_T).where(_T.c.id == _ID, _RUNNING)
    .values(status=JobStatus.COMPLETED.value, finished_at=bindparam("b_now"),
            result_json=bindparam("b_result"), error=None)
)
_FAIL = (
    update(_T).where(_T.c.id == _ID, _RUNNING)
    .values(status=JobStatus.FAILED.value, finished_at=bindparam("b_now"),
            error=bindparam("b_error"))
)
_RETRY = (
    update(_T).where(_T.c.id == _ID, _RUNNING)
    .values(status=JobStatus.QUEUED.value, error=bindparam("b_error"),
            run_after=bindparam("b_run_after"), enqueued_at=bindparam("b_now"))
)
_PROGRESS = (
    update(_T).where(_T.c.id == _ID)
    .values(progress_done=bindparam("b_done"), progress_total=bindparam("b_total"),
            progress_message=bindparam("b_message"))
)
_START_RETURNING = _START.returning(*_T.c)
_START_LIGHT = _START.returning(_T.c.func, _T.c.args_json, _T.c.kwargs_json, _T.c.attempts,
                                _T.c.max_attempts)
_START_READ = select(_T.c.func, _T.c.args_json, _T.c.kwargs_json, _T.c.attempts,
                     _T.c.max_attempts).where(_T.c.id == _ID)


_GET = select(_T).where(_T.c.id == _ID)
_STATUS = select(_T.c.status).where(_T.c.id == _ID)


class _SQLiteDriverPath:
    """Runs the three per-job statements (claim, start, complete) straight on SQLite's
    driver connection.

    SQLAlchemy's execution machinery (contexts, events, result objects) costs about twice
    what SQLite itself needs for them: measured claim + start + complete went from about
    530 to 175 us, which is what lets the thread pool run thousands of jobs a second.
    SQLAlchemy still compiles each statement once and supplies its bind processors, so the
    stored values are exactly what it would store; every transaction still takes the
    write lock up front (BEGIN IMMEDIATE), as the engine's own begin hook does.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compiled: dict[int, tuple[str, list[str], list[Any], Any]] = {}

    def run(self, statement: Any, params: dict[str, Any]) -> tuple[list[Any], int]:
        """(rows the statement returns, rows it changed), committed."""
        sql, order, processors, compiled = self._compile(statement)
        values = compiled.construct_params(params)
        args = [proc(values[name]) if proc else values[name]
                for name, proc in zip(order, processors, strict=True)]
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(sql, args)
                rows = list(cursor.fetchall())
                changed = cursor.rowcount
                raw.commit()
            except sqlite3.Error as exc:
                raw.rollback()
                raise DBAPIError.instance(sql, args, exc, sqlite3.Error) from exc
            finally:
                cursor.close()
        finally:
            raw.close()
        return rows, changed

    def _compile(self, statement: Any) -> tuple[str, list[str], list[Any], Any]:
        entry = self._compiled.get(id(statement))
        if entry is None:
            dialect = self.engine.dialect
            compiled = statement.compile(dialect=dialect)
            order = list(compiled.positiontup or [])
            processors = [compiled.binds[name].type.bind_processor(dialect) for name in order]
            entry = self._compiled[id(statement)] = (compiled.string, order, processors,
                                                     compiled)
        return entry


class JobRepository:
    def __init__(self, database: Database) -> None:
        self.db = database
        # RETURNING saves a round trip per started job where the engine has it.
        dialect = database.engine.dialect
        self._returning = bool(dialect.update_returning and dialect.insert_returning)
        self._driver = (_SQLiteDriverPath(database.engine)
                        if database.dialect == "sqlite" and self._returning else None)

    # -- creation -------------------------------------------------------------
    def claim(
        self, job_id: str, func_path: str, args_json: str, kwargs_json: str, *,
        backend: str, max_attempts: int,
    ) -> bool:
        """Record a job as queued. False when that id is already queued or running."""
        now = utcnow()
        values = dict(
            func=func_path, args_json=args_json, kwargs_json=kwargs_json,
            status=JobStatus.QUEUED.value, backend=backend, attempts=0,
            max_attempts=max_attempts, progress_done=None, progress_total=None,
            progress_message=None, error=None, result_json=None, created_at=now,
            enqueued_at=now, started_at=None, finished_at=None, run_after=None,
        )
        upsert = _CLAIM_UPSERT.get(self.db.dialect) if self._returning else None
        if upsert is not None:
            params = {"b_id": job_id, **{f"b_{name}": value for name, value in values.items()}}
            if self._driver is not None:
                return bool(self._driver.run(upsert, params)[0])
            with self.db.engine.begin() as conn:
                return conn.execute(upsert, params).first() is not None
        with self.db.engine.begin() as conn:
            reused = conn.execute(
                update(_T).where(_T.c.id == job_id, _T.c.status.in_(FINISHED_STATUSES))
                .values(**values)
            ).rowcount
            if reused:
                return True
        try:
            with self.db.engine.begin() as conn:
                conn.execute(insert(_T).values(id=job_id, **values))
            return True
        except IntegrityError:
            return False

    # -- transitions ----------------------------------------------------------
    def mark_running(self, job_id: str) -> JobInfo | None:
        """queued -> running, counting an attempt; None if the job is not queued."""
        params = {"b_id": job_id, "b_now": utcnow()}
        with self.db.engine.begin() as conn:
            if self._returning:
                row = conn.execute(_START_RETURNING, params).first()
            elif conn.execute(_START, params).rowcount:
                row = conn.execute(_GET, params).one()
            else:
                row = None
        return _row_to_info(row) if row is not None else None

    def start(self, job_id: str) -> StartedJob | None:
        """mark_running for runners: the same transition, answering only what they need."""
        params = {"b_id": job_id, "b_now": utcnow()}
        row: Any
        if self._driver is not None:
            rows = self._driver.run(_START_LIGHT, params)[0]
            row = _StartedRow(*rows[0]) if rows else None
        else:
            with self.db.engine.begin() as conn:
                if self._returning:
                    row = conn.execute(_START_LIGHT, params).first()
                elif conn.execute(_START, params).rowcount:
                    row = conn.execute(_START_READ, params).one()
                else:
                    row = None
        if row is None:
            return None
        return StartedJob(job_id, row.func, json.loads(row.args_json),
                          json.loads(row.kwargs_json), row.attempts, row.max_attempts)

    def warm_up(self) -> None:
        """Run the hot statements once (on an id no job has) so that work horses forked
        afterwards inherit them compiled instead of compiling them for every job. The
        compiled-statement cache is keyed by the parameter names too, hence the calls."""
        ghost = "#warm-up"  # no job has it: ids start with a letter or a digit
        self.start(ghost)
        self.mark_running(ghost)
        self.mark_completed(ghost, None)
        self.mark_failed(ghost, "")
        self.mark_retrying(ghost, "", utcnow())
        self.update_progress(ghost, 0, 0, None)
        self.status_of(ghost)
        self.get(ghost)

    def mark_completed(self, job_id: str, result: Any = None) -> bool:
        return self.complete(job_id, summarise_result(result))

    def complete(self, job_id: str, summary: str | None) -> bool:
        """running -> completed, with a result already summarised (summarise_result)."""
        if self._driver is not None:
            params = {"b_id": job_id, "b_now": utcnow(), "b_result": summary}
            return bool(self._driver.run(_COMPLETE, params)[1])
        return self._change(_COMPLETE, job_id, b_result=summary)

    def mark_failed(self, job_id: str, error: str) -> bool:
        return self._change(_FAIL, job_id, b_error=error[:ERROR_LIMIT])

    def mark_retrying(self, job_id: str, error: str, run_after: datetime) -> bool:
        """running -> queued after a failed attempt that the retry policy allows."""
        return self._change(_RETRY, job_id, b_error=error[:ERROR_LIMIT],
                            b_run_after=run_after)

    def _change(self, statement: Any, job_id: str, **params: Any) -> bool:
        with self.db.engine.begin() as conn:
            return bool(conn.execute(statement, {"b_id": job_id, "b_now": utcnow(),
                                                 **params}).rowcount)

    def mark_cancelled(self, job_id: str) -> bool:
        with self.db.engine.begin() as conn:
            return bool(conn.execute(
                update(_T).where(_T.c.id == job_id, _T.c.status.in_(ACTIVE_STATUSES))
                .values(status=JobStatus.CANCELLED.value, finished_at=utcnow())
            ).rowcount)

    def requeue(self, job_id: str, *, reset_attempts: bool = True) -> bool:
        """failed/cancelled -> queued (the retry action). False if not in such a state."""
        values: dict[str, Any] = dict(status=JobStatus.QUEUED.value, enqueued_at=utcnow(),
                                      finished_at=None, run_after=None)
        if reset_attempts:
            values["attempts"] = 0
        with self.db.engine.begin() as conn:
            return bool(conn.execute(
                update(_T).where(_T.c.id == job_id,
                                 _T.c.status.in_((JobStatus.FAILED.value,
                                                  JobStatus.CANCELLED.value)))
                .values(**values)
            ).rowcount)

    def reset_running(self, job_ids: list[str], error: str) -> int:
        """running -> queued for jobs whose process died; they run again."""
        if not job_ids:
            return 0
        with self.db.engine.begin() as conn:
            return conn.execute(
                update(_T).where(_T.c.id.in_(job_ids), _T.c.status == JobStatus.RUNNING.value)
                .values(status=JobStatus.QUEUED.value, error=error, run_after=None)
            ).rowcount

    def repair_running(self, job_id: str, attempts: int, error: str,
                       retry_at: datetime | None) -> bool:
        """running -> queued at retry_at (or failed without one) for a job whose worker
        died. Matching `attempts` keeps a stale view from touching a later attempt."""
        values: dict[str, Any]
        if retry_at is not None:
            values = dict(status=JobStatus.QUEUED.value, run_after=retry_at,
                          enqueued_at=utcnow())
        else:
            values = dict(status=JobStatus.FAILED.value, finished_at=utcnow())
        with self.db.engine.begin() as conn:
            return bool(conn.execute(
                update(_T).where(_T.c.id == job_id, _T.c.status == JobStatus.RUNNING.value,
                                 _T.c.attempts == attempts)
                .values(error=error[:ERROR_LIMIT], **values)
            ).rowcount)

    def update_progress(self, job_id: str, done: int | None, total: int | None,
                        message: str | None) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(_PROGRESS, {"b_id": job_id, "b_done": done, "b_total": total,
                                     "b_message": message})

    # -- queries --------------------------------------------------------------
    def get(self, job_id: str) -> JobInfo | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(_GET, {"b_id": job_id}).first()
        return _row_to_info(row) if row else None

    def status_of(self, job_id: str) -> JobStatus | None:
        with self.db.engine.connect() as conn:
            value = conn.execute(_STATUS, {"b_id": job_id}).scalar()
        return JobStatus(value) if value else None

    def list_jobs(self, *, statuses: tuple[str, ...] = (), backend: str | None = None,
             limit: int = 50, offset: int = 0, newest_first: bool = True,
             func: str | None = None) -> list[JobInfo]:
        """Job records, newest first unless asked; `func` keeps one job function's
        (its dotted path, e.g. "translator.run_translation_job")."""
        query = select(_T)
        if statuses:
            query = query.where(_T.c.status.in_(statuses))
        if backend:
            query = query.where(_T.c.backend == backend)
        if func:
            query = query.where(_T.c.func == func)
        order = _T.c.created_at.desc() if newest_first else _T.c.created_at.asc()
        query = query.order_by(order, _T.c.id).limit(limit).offset(offset)
        with self.db.engine.connect() as conn:
            return [_row_to_info(row) for row in conn.execute(query)]

    def count(self, *, statuses: tuple[str, ...] = (), backend: str | None = None) -> int:
        query = select(func.count()).select_from(_T)
        if statuses:
            query = query.where(_T.c.status.in_(statuses))
        if backend:
            query = query.where(_T.c.backend == backend)
        with self.db.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def counts_by_status(self) -> dict[str, int]:
        counts = {status.value: 0 for status in JobStatus}
        with self.db.engine.connect() as conn:
            for status, n in conn.execute(
                select(_T.c.status, func.count()).group_by(_T.c.status)
            ):
                counts[status] = int(n)
        return counts

    def due_queued_ids(self, backend: str, *, older_than: datetime | None = None,
                       limit: int = 500) -> list[str]:
        """Queued jobs of a backend whose retry delay (if any) has passed."""
        now = utcnow()
        query = select(_T.c.id).where(
            _T.c.status == JobStatus.QUEUED.value, _T.c.backend == backend,
            (_T.c.run_after.is_(None)) | (_T.c.run_after <= now),
        )
        if older_than is not None:
            query = query.where(_T.c.enqueued_at <= older_than)
        query = query.order_by(_T.c.created_at).limit(limit)
        with self.db.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def ids_with_status(self, status: JobStatus, backend: str) -> list[str]:
        with self.db.engine.connect() as conn:
            return list(conn.execute(
                select(_T.c.id).where(_T.c.status == status.value, _T.c.backend == backend)
            ).scalars())

    def running_rows(self, backend: str) -> list[Any]:
        """id, attempts, max_attempts and started_at of a backend's running jobs."""
        with self.db.engine.connect() as conn:
            return list(conn.execute(
                select(_T.c.id, _T.c.attempts, _T.c.max_attempts, _T.c.started_at)
                .where(_T.c.status == JobStatus.RUNNING.value, _T.c.backend == backend)
            ))

    def queued_rows(self, backend: str, *, retries_only: bool = False,
                    after: tuple[datetime, str] | None = None, limit: int = 500) -> list[Any]:
        """A page of a backend's queued jobs that are due (id, func, args_json,
        kwargs_json, created_at), oldest first; `after` is the last row of the previous
        page. retries_only: just those waiting out a retry delay."""
        now = utcnow()
        query = select(_T.c.id, _T.c.func, _T.c.args_json, _T.c.kwargs_json,
                       _T.c.created_at).where(
            _T.c.status == JobStatus.QUEUED.value, _T.c.backend == backend,
        )
        if retries_only:
            query = query.where(_T.c.run_after.is_not(None), _T.c.run_after <= now)
        else:
            query = query.where(_T.c.run_after.is_(None) | (_T.c.run_after <= now))
        if after is not None:
            created, last_id = after
            query = query.where(
                (_T.c.created_at > created)
                | ((_T.c.created_at == created) & (_T.c.id > last_id))
            )
        query = query.order_by(_T.c.created_at, _T.c.id).limit(limit)
        with self.db.engine.connect() as conn:
            return list(conn.execute(query))

    def purge_finished(self, older_than: timedelta) -> int:
        cutoff = utcnow() - older_than
        with self.db.engine.begin() as conn:
            return conn.execute(
                delete(_T).where(_T.c.status.in_(FINISHED_STATUSES),
                                 _T.c.finished_at < cutoff)
            ).rowcount

    def delete_with_status(self, status: JobStatus) -> int:
        with self.db.engine.begin() as conn:
            return conn.execute(delete(_T).where(_T.c.status == status.value)).rowcount
