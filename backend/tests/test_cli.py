"""The `sublarr` command: click's CliRunner for most commands, and real `python -m cli`
processes (from backend/) for the exit codes, `--json` on stdout, and `serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from cli import cli
from db.migrate import head_revisions
from tests import job_funcs
from tests.services import free_port
from tests.test_api_helpers import close_app, make_app, wait_for_job

BACKEND = Path(__file__).resolve().parent.parent


def clean_env(**values: str) -> dict[str, str]:
    """The process environment without a developer's SUBLARR_* settings, plus values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBLARR_")}
    env.update(values)
    return env


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def runner(data_dir: Path) -> CliRunner:
    # Every SUBLARR_* setting the runner does not name is unset (None removes it).
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SUBLARR_")}
    env["SUBLARR_DATA_DIR"] = str(data_dir)
    # --config sets this one in os.environ; naming it here makes the runner undo that.
    env["SUBLARR_CONFIG_FILE"] = None
    return CliRunner(env=env)


@pytest.fixture
def shared_app(data_dir: Path) -> Iterator[Flask]:
    """An app on the same data dir the CLI uses, to make jobs the CLI then sees."""
    app = make_app(data_dir)
    yield app
    close_app(app)


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), catch_exceptions=False)


def json_out(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def run_cli(*args: str, env: dict[str, str],
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=BACKEND, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- config -----------------------------------------------------------------------------


def test_config_show_json_masks_secrets(runner: CliRunner, data_dir: Path) -> None:
    runner.env["SUBLARR_API_KEY"] = "cli-secret-key-456"
    runner.env["SUBLARR_DATABASE_URL"] = "postgresql+psycopg://bob:hunter2@db.lan:5432/s"
    result = invoke(runner, "config", "show", "--json")
    values = json_out(result)
    assert values["data_dir"] == str(data_dir)
    assert values["api_key"] == "********"
    assert values["database_url"] == "postgresql+psycopg://********@db.lan:5432/s"
    assert "hunter2" not in result.output and "cli-secret-key-456" not in result.output


def test_config_show_table_and_help_list_every_setting(runner: CliRunner) -> None:
    from config import SETTINGS

    table = invoke(runner, "config", "show").stdout
    helptext = invoke(runner, "config", "show", "--help").stdout
    for setting in SETTINGS:
        assert setting.env_var in table
        assert setting.env_var in helptext


def test_config_show_includes_what_the_web_ui_saved(runner: CliRunner,
                                                   data_dir: Path) -> None:
    import json as json_module

    from db import Database
    from db.models import AppSetting, utcnow

    invoke(runner, "db", "upgrade")
    database = Database(f"sqlite:///{data_dir / 'sublarr.db'}")
    try:
        with database.session() as session:
            session.add(AppSetting(name="min_score_episode", value_json=json_module.dumps(200),
                                   updated_at=utcnow()))
    finally:
        database.dispose()
    assert json_out(invoke(runner, "config", "show", "--json"))["min_score_episode"] == 200
    row = next(line for line in invoke(runner, "config", "show").stdout.splitlines()
               if line.startswith("min_score_episode "))
    assert row.split()[-2:] == ["200", "stored"]
    runner.env["SUBLARR_MIN_SCORE_EPISODE"] = "210"  # the environment still wins
    assert json_out(invoke(runner, "config", "show", "--json"))["min_score_episode"] == 210


def test_config_file_option(runner: CliRunner, tmp_path: Path) -> None:
    config_file = tmp_path / "sublarr.toml"
    config_file.write_text("[sublarr]\nport = 6123\nlog_level = \"WARNING\"\n")
    values = json_out(invoke(runner, "--config", str(config_file), "config", "show", "--json"))
    assert values["port"] == 6123
    assert values["log_level"] == "WARNING"


def test_invalid_settings_exit_2_naming_the_setting(runner: CliRunner, tmp_path: Path) -> None:
    runner.env["SUBLARR_JOB_WORKERS"] = "0"
    result = invoke(runner, "jobs", "list")
    assert result.exit_code == 2
    assert "SUBLARR_JOB_WORKERS" in result.stderr
    assert "Traceback" not in result.output

    del runner.env["SUBLARR_JOB_WORKERS"]
    result = invoke(runner, "--config", str(tmp_path / "missing.toml"), "config", "show")
    assert result.exit_code == 2
    assert "SUBLARR_CONFIG_FILE" in result.stderr


def test_subprocess_config_show_and_invalid_setting(data_dir: Path) -> None:
    ok = run_cli("config", "show", "--json", env=clean_env(SUBLARR_DATA_DIR=str(data_dir)))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["data_dir"] == str(data_dir)

    bad = run_cli("config", "show", env=clean_env(SUBLARR_DATA_DIR=str(data_dir),
                                                    SUBLARR_PORT="abc"))
    assert bad.returncode == 2
    assert "SUBLARR_PORT" in bad.stderr and "'abc'" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert bad.stdout == ""


# -- db ---------------------------------------------------------------------------------


def test_db_upgrade_reaches_head_once(runner: CliRunner, data_dir: Path) -> None:
    head = head_revisions()[0]
    first = json_out(invoke(runner, "db", "upgrade", "--json"))
    assert first == {"revision": head, "previous": None, "upgraded": True}
    assert (data_dir / "sublarr.db").exists()
    second = invoke(runner, "db", "upgrade")
    assert second.exit_code == 0
    assert f"already at revision {head}" in second.stdout


def test_subprocess_db_upgrade(data_dir: Path) -> None:
    done = run_cli("db", "upgrade", env=clean_env(SUBLARR_DATA_DIR=str(data_dir)))
    assert done.returncode == 0, done.stderr
    assert f"to revision {head_revisions()[0]}" in done.stdout


# -- user -------------------------------------------------------------------------------


def test_user_set_password_creates_then_changes_the_login(runner: CliRunner,
                                                          data_dir: Path) -> None:
    from db import Database
    from web.accounts import verify_login

    made = runner.invoke(cli, ["user", "set-password", "--password-stdin"],
                         input="first secret 1\n", catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert "'admin' created" in made.stdout
    changed = runner.invoke(cli, ["user", "set-password"],
                            input="second secret 2\nsecond secret 2\n",
                            catch_exceptions=False)
    assert changed.exit_code == 0, changed.output
    assert "password changed" in changed.stdout
    database = Database(f"sqlite:///{data_dir / 'sublarr.db'}")
    try:
        assert verify_login(database, "admin", "second secret 2")
        assert not verify_login(database, "admin", "first secret 1")
    finally:
        database.dispose()


def test_user_set_password_refuses_a_short_password(runner: CliRunner) -> None:
    short = runner.invoke(cli, ["user", "set-password", "--password-stdin"], input="abc\n")
    assert short.exit_code == 2
    assert "at least 8 characters" in short.output


# -- jobs -------------------------------------------------------------------------------


def _make_jobs(app: Flask) -> dict[str, str]:
    queue = app.job_queue  # type: ignore[attr-defined]
    ids = {"added": queue.enqueue(job_funcs.add, 2, 3, job_id="added-job"),
           "failed": queue.enqueue(job_funcs.fail, "cli boom", job_id="failed-job")}
    for job_id in ids.values():
        wait_for_job(app, job_id)
    return ids


def test_jobs_list_json_and_table(runner: CliRunner, shared_app: Flask) -> None:
    ids = _make_jobs(shared_app)
    listing = json_out(invoke(runner, "jobs", "list", "--json"))
    assert listing["total"] == 2
    assert {job["id"]: job["status"] for job in listing["jobs"]} == {
        ids["added"]: "completed", ids["failed"]: "failed"}
    assert listing["counts"]["completed"] == 1 and listing["counts"]["failed"] == 1

    failed = json_out(invoke(runner, "jobs", "list", "--status", "failed", "--json"))
    assert [job["id"] for job in failed["jobs"]] == [ids["failed"]]
    limited = json_out(invoke(runner, "jobs", "list", "--limit", "1", "--json"))
    assert len(limited["jobs"]) == 1 and limited["total"] == 2

    table = invoke(runner, "jobs", "list").stdout
    assert ids["added"] in table and ids["failed"] in table
    assert "RuntimeError: cli boom" in table


def test_jobs_list_rejects_unknown_status(runner: CliRunner) -> None:
    result = invoke(runner, "jobs", "list", "--status", "completed,finished")
    assert result.exit_code == 2
    assert "finished" in result.stderr


def test_jobs_show(runner: CliRunner, shared_app: Flask) -> None:
    ids = _make_jobs(shared_app)
    job = json_out(invoke(runner, "jobs", "show", ids["added"], "--json"))
    assert (job["status"], job["result"], job["args"]) == ("completed", 5, [2, 3])
    text = invoke(runner, "jobs", "show", ids["failed"]).stdout
    assert "failed" in text and "RuntimeError: cli boom" in text


@pytest.mark.parametrize("command", ["show", "cancel", "retry"])
def test_unknown_job_exits_1(runner: CliRunner, command: str) -> None:
    result = invoke(runner, "jobs", command, "no-such-job")
    assert result.exit_code == 1
    assert "no-such-job" in result.stderr and "does not exist" in result.stderr
    assert result.stdout == ""


def test_jobs_cancel(runner: CliRunner, shared_app: Flask) -> None:
    ids = _make_jobs(shared_app)
    repository = shared_app.job_queue.repository  # type: ignore[attr-defined]
    # Recorded as queued with nobody running it, as a server that is busy would leave it.
    assert repository.claim("waiting-job", "tests.job_funcs.noop", "[]", "{}",
                            backend="memory", max_attempts=1)
    result = invoke(runner, "jobs", "cancel", "waiting-job")
    assert result.exit_code == 0, result.output
    assert repository.get("waiting-job").status.value == "cancelled"

    done = invoke(runner, "jobs", "cancel", ids["added"])
    assert done.exit_code == 1
    assert "completed" in done.stderr
    assert repository.get(ids["added"]).status.value == "completed"


def test_jobs_retry_leaves_the_job_to_the_server(runner: CliRunner, shared_app: Flask,
                                                 tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    queue = shared_app.job_queue  # type: ignore[attr-defined]
    job_id = queue.enqueue(job_funcs.fail_until, str(calls), 1)
    assert wait_for_job(shared_app, job_id).status.value == "failed"

    result = invoke(runner, "jobs", "retry", job_id, "--json")
    assert json_out(result)["status"] == "queued"
    # The short-lived command did not run it itself...
    assert len(calls.read_text().splitlines()) == 1
    assert queue.get_job(job_id).status.value == "queued"
    # ...the serving process picks it up from the table.
    assert queue.poll_once() == 1
    info = wait_for_job(shared_app, job_id)
    assert (info.status.value, info.result) == ("completed", 2)

    again = invoke(runner, "jobs", "retry", job_id)
    assert again.exit_code == 1
    assert "completed" in again.stderr


def test_subprocess_jobs_list_json(data_dir: Path, shared_app: Flask) -> None:
    ids = _make_jobs(shared_app)
    done = run_cli("jobs", "list", "--json", env=clean_env(SUBLARR_DATA_DIR=str(data_dir)))
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)  # exactly one document: anything else fails here
    assert {job["id"] for job in listing["jobs"]} == set(ids.values())


# -- worker -----------------------------------------------------------------------------


def test_worker_without_redis_exits_2(data_dir: Path) -> None:
    done = run_cli("worker", "--burst", env=clean_env(SUBLARR_DATA_DIR=str(data_dir)))
    assert done.returncode == 2
    assert "SUBLARR_REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_burst_runs_queued_jobs(data_dir: Path, redis_url: str) -> None:
    # A queue name of our own, so no other test's worker on this Redis takes the job.
    queue_name = f"cli-test-{uuid.uuid4().hex[:8]}"
    app = make_app(data_dir, redis_url=redis_url, job_queue_name=queue_name,
                   scheduler_enabled=False)
    try:
        queue = app.job_queue  # type: ignore[attr-defined]
        assert queue.get_backend_info()["type"] == "rq"
        job_id = queue.enqueue(job_funcs.add, 40, 2)
        assert queue.get_job(job_id).status.value == "queued"
        done = run_cli("worker", "--burst", "--name", f"{queue_name}-worker",
                       env=clean_env(SUBLARR_DATA_DIR=str(data_dir),
                                     SUBLARR_REDIS_URL=redis_url,
                                     SUBLARR_JOB_QUEUE_NAME=queue_name))
        assert done.returncode == 0, done.stderr
        info = queue.get_job(job_id)
        assert (info.status.value, info.result) == ("completed", 42)
    finally:
        close_app(app)


# -- cache ------------------------------------------------------------------------------


def test_cache_stats_and_clear_memory(runner: CliRunner) -> None:
    result = invoke(runner, "cache", "stats", "--json")
    stats = json_out(result)
    assert stats["backend"] == "memory" and stats["size"] == 0
    assert "inside the server process" in result.stderr
    cleared = json_out(invoke(runner, "cache", "clear", "--prefix", "provider:", "--json"))
    assert cleared == {"cleared": 0, "prefix": "provider:"}


def test_cache_stats_and_clear_redis(runner: CliRunner, redis_url: str,
                                     tmp_path: Path) -> None:
    from cache import create_cache_backend

    # Keys of our own: other tests may use this Redis database at the same time.
    prefix = f"sublarr-clitest-{uuid.uuid4().hex[:8]}:"
    runner.env["SUBLARR_REDIS_URL"] = redis_url
    runner.env["SUBLARR_REDIS_KEY_PREFIX"] = prefix
    cache = create_cache_backend(redis_url, key_prefix=prefix)
    try:
        assert cache.get_stats()["backend"] == "redis"
        for key in ("provider:a", "provider:b", "other:c"):
            cache.set(key, "v")
        stats = json_out(invoke(runner, "cache", "stats", "--json"))
        assert stats["backend"] == "redis"
        assert stats["size"] == 3
        result = invoke(runner, "cache", "clear", "--prefix", "provider:")
        assert result.exit_code == 0, result.output
        assert "cleared 2 cache entries" in result.stdout
        assert "inside the server process" not in result.stderr
        assert not cache.exists("provider:a") and cache.exists("other:c")
    finally:
        cache.close()


# -- serve ------------------------------------------------------------------------------


def _get_json(url: str, key: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"X-Api-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_until_serving(proc: subprocess.Popen[str], base: str, key_file: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.communicate()[1]}")
        if key_file.exists():
            key = key_file.read_text().strip()
            try:
                status, _ = _get_json(f"{base}/api/v1/system/health", key)
            except OSError:
                status = 0
            if status == 200:
                return key
        time.sleep(0.1)
    raise AssertionError("serve never answered /api/v1/system/health")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_serve_runs_jobs_and_stops_cleanly(data_dir: Path, stop_signal: int) -> None:
    # A job a previous run left queued: the server's job queue must pick it up.
    app = make_app(data_dir)
    app.job_queue.repository.claim(  # type: ignore[attr-defined]
        "left-over", "tests.job_funcs.add", "[20, 22]", "{}", backend="memory",
        max_attempts=1)
    close_app(app)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(SUBLARR_DATA_DIR=str(data_dir), SUBLARR_PORT=str(port),
                    SUBLARR_SERVER_THREADS="2")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=BACKEND, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        key = _wait_until_serving(proc, base, data_dir / "api_key")
        assert _get_json(f"{base}/api/v1/jobs", "wrong")[0] == 401
        deadline = time.monotonic() + 30
        while True:
            status, job = _get_json(f"{base}/api/v1/jobs/left-over", key)
            assert status == 200
            if job["status"] == "completed" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (job["status"], job["result"]) == ("completed", 42)
        health = _get_json(f"{base}/api/v1/system/health", key)[1]
        assert health["components"]["scheduler"]["details"]["running"] is True
        assert health["components"]["queue"]["details"]["serving"] is True

        proc.send_signal(stop_signal)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "stopped" in stderr
    assert "Traceback" not in stderr
    # The listener is gone with the process.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/api/v1/system/health", timeout=2)
