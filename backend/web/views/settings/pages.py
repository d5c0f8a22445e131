"""Settings: General (API key, folders), the editable sections (Providers, Translation,
Sonarr/Radarr, Library) with their "Test connection" buttons, and System (read-only)."""

from __future__ import annotations

import os
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

import settings_store
from app import apply_settings, saved_settings_overrides
from config import SETTINGS, ConfigError, Settings, mask_value
from errors import NotFound
from web.blueprint import bp
from web.views.settings.forms import SECTION_TITLES, build_fieldsets, clear_name, read_form

# Sub-navigation: (key, label, endpoint, endpoint arguments).
TABS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("general", "General", "web.settings", {}),
    ("providers", "Providers", "web.settings_section", {"section": "providers"}),
    ("languages", "Languages", "web.settings_profiles", {}),
    ("translation", "Translation", "web.settings_section", {"section": "translation"}),
    ("arr", "Sonarr / Radarr", "web.settings_section", {"section": "arr"}),
    ("library", "Library", "web.settings_section", {"section": "library"}),
    ("system", "System", "web.settings_system", {}),
)
READ_ONLY_GROUPS = ("server", "storage", "jobs")


def render_settings(template: str, tab: str, status: int = 200,
                    **context: Any) -> ResponseReturnValue:
    return render_template(template, page_title="Settings", active_page="settings",
                           tabs=TABS, tab=tab, **context), status


def _settings() -> Settings:
    return current_app.settings  # type: ignore[attr-defined,no-any-return]


@bp.get("/settings")
def settings() -> ResponseReturnValue:
    current = _settings()
    return render_settings("settings/general.html", "general",
                           api_key=current_app.api_key,  # type: ignore[attr-defined]
                           api_key_source=current.sources.get("api_key", "default"),
                           data_dir=current.data_dir, media_roots=current.media_roots,
                           config_file=_config_file())


def _config_file() -> str | None:
    return os.environ.get("SUBLARR_CONFIG_FILE") or None


# -- editable sections ---------------------------------------------------------------------


@bp.route("/settings/<any(providers, translation, arr, library):section>",
          methods=["GET", "POST"])
def settings_section(section: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _render_section(section)
    current = _settings()
    submitted = read_form(current, section, request.form)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        plan, saved = settings_store.save(app.database, saved_settings_overrides(app),
                                          current, submitted)
    except settings_store.SettingsInvalid as exc:
        return _render_section(section, submitted=submitted, errors=exc.errors, status=400)
    if plan.changed:
        apply_settings(app, saved)
        flash(f"Saved: {', '.join(plan.changed)}.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("web.settings_section", section=section))


def _render_section(section: str, *, submitted: dict[str, Any] | None = None,
                    errors: dict[str, str] | None = None,
                    status: int = 200) -> ResponseReturnValue:
    current = _settings()
    fieldsets = build_fieldsets(current, section, submitted or {}, errors or {})
    extra: dict[str, Any] = {}
    if section == "arr":
        extra["instances"], extra["instances_error"] = _instances(current)
    return render_settings("settings/section.html", section, status=status,
                           section=section, title=SECTION_TITLES[section],
                           fieldsets=fieldsets, errors=errors or {},
                           clear_name=clear_name, **extra)


def _instances(settings: Settings) -> tuple[list[dict[str, str]], str | None]:
    from library.arr import configured_instances

    try:
        found = configured_instances(settings)
    except ConfigError as exc:
        return [], str(exc)
    return [{"name": i.name, "kind": i.kind, "url": mask_value(i.url)} for i in found], None


@bp.post("/settings/arr/test")
def settings_arr_test() -> ResponseReturnValue:
    """Ask one configured instance for its system status (library.arr.test_connection)."""
    from library.arr import configured_instances, test_connection

    name = request.form.get("instance", "")
    try:
        instances = {i.name: i for i in configured_instances(_settings())}
    except ConfigError as exc:
        raise NotFound(str(exc)) from None
    if name not in instances:
        raise NotFound(f"no Sonarr/Radarr instance named {name!r}", details={"name": name})
    result = test_connection(instances[name])
    if request.headers.get("HX-Request"):
        return render_template("settings/_arr_test.html", result=result)
    if result["ok"]:
        flash(f"{name}: connected, {result['kind'].title()} {result.get('version')}.", "success")
    else:
        flash(f"{name}: {result['error']}", "error")
    return redirect(url_for("web.settings_section", section="arr"))


# -- system (read-only) ---------------------------------------------------------------------


@bp.get("/settings/system")
def settings_system() -> ResponseReturnValue:
    from db.migrate import current_revision
    from routes.system import describe_error, health_report, sublarr_version

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    report = health_report(app)
    database = app.database
    try:
        revision = current_revision(database)
    except Exception as exc:  # noqa: BLE001 - shown on the page, like the health report
        revision = f"unknown ({describe_error(exc)})"
    try:
        queue_length: int | str = app.job_queue.get_queue_length()
    except Exception as exc:  # noqa: BLE001
        queue_length = describe_error(exc)
    current = _settings()
    return render_settings(
        "settings/system.html", "system", report=report, version=sublarr_version(),
        database_url=mask_value(current.effective_database_url), dialect=database.dialect,
        revision=revision, queue_length=queue_length, read_only=_read_only(current),
        duration=duration, shown=shown)


def duration(seconds: float) -> str:
    """900 -> "15 min", 21600 -> "6 h": scheduler intervals at a glance."""
    value = int(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} s"


def shown(value: Any) -> str:
    """A read-only value as text: yes/no, lists joined, empty as a dash."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "\u2013"
    if value is None or value == "":
        return "\u2013"
    return str(value)


def _read_only(settings: Settings) -> list[tuple[str, list[dict[str, Any]]]]:
    masked = settings.masked()
    groups = []
    for group in READ_ONLY_GROUPS:
        rows = [{"name": s.name, "env_var": s.env_var, "help": s.help,
                 "value": masked[s.name], "source": settings.sources.get(s.name, "default")}
                for s in SETTINGS if s.group == group]
        groups.append((group, rows))
    return groups
