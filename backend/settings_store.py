"""Settings saved from the web UI: the `app_settings` table, layered between the config
file and the environment (defaults < config file < saved < SUBLARR_* < create_app).

Only the groups in EDITABLE_GROUPS are saved or read back: where the database, Redis,
the data folder and the server live must never depend on the database itself. A value
set by an environment variable or by create_app's mapping wins over a saved one, so the
UI shows it locked instead of offering an edit that would not take effect.

A save is all or nothing: every value is parsed with its Setting (errors name the
setting), the resulting settings are checked as a whole (rate limits, provider and
backend names, *arr instances, path mappings, language codes), and only then written
in one transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from config import SETTINGS_BY_NAME, ConfigError, Setting, Settings, load_settings
from db import Database
from db.models import AppSetting, utcnow

log = logging.getLogger(__name__)

EDITABLE_GROUPS = ("providers", "translation", "library")
LOCKED_SOURCES = ("env", "override")


class SettingsInvalid(ValueError):
    """Values the UI cannot save; `errors` maps each bad setting to why."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.errors.items()))


@dataclass
class SaveResult:
    """What a save changed: rows written and rows removed (back to the lower value)."""

    written: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        return sorted([*self.written, *self.removed])


def is_editable(setting: Setting) -> bool:
    return setting.group in EDITABLE_GROUPS


def lock_reason(settings: Settings, name: str) -> str | None:
    """Why the UI may not change `name` here, or None when it may."""
    setting = SETTINGS_BY_NAME[name]
    if not is_editable(setting):
        return "read-only in the web UI"
    source = settings.sources.get(name)
    if source == "env":
        return f"set by {setting.env_var}"
    if source == "override":
        return "set by the start-up configuration"
    return None


# -- reading ------------------------------------------------------------------------------


def read_stored(database: Database) -> dict[str, Any]:
    """Saved values of editable settings, as JSON-decoded raw values. Other rows of the
    table (the session key, settings of a newer version) are left alone."""
    names = [s.name for s in SETTINGS_BY_NAME.values() if is_editable(s)]
    with database.session() as session:
        rows = session.execute(select(AppSetting.name, AppSetting.value_json)
                               .where(AppSetting.name.in_(names))).all()
    stored: dict[str, Any] = {}
    for name, value_json in rows:
        try:
            stored[name] = json.loads(value_json)
        except ValueError:
            log.warning("app_settings row %s is not JSON; ignored", name)
    return stored


def resolve(overrides: Mapping[str, Any] | None, database: Database,
            environ: Mapping[str, str] | None = None) -> Settings:
    """Every setting with the saved values layered in."""
    return load_settings(overrides, environ, stored=read_stored(database))


# -- checking -------------------------------------------------------------------------------


def parse_changes(current: Settings, submitted: Mapping[str, Any]) -> dict[str, Any]:
    """Submitted raw values parsed by their settings; SettingsInvalid naming every bad
    or locked one."""
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for name, raw in submitted.items():
        setting = SETTINGS_BY_NAME.get(name)
        if setting is None:
            errors[name] = "unknown setting"
            continue
        reason = lock_reason(current, name)
        if reason is not None:
            errors[name] = f"cannot be changed here: {reason}"
            continue
        try:
            parsed[name] = setting.parse(raw)
        except ConfigError as exc:
            errors[name] = str(exc)
    if errors:
        raise SettingsInvalid(errors)
    return parsed


def _check_providers(settings: Settings) -> None:
    from providers import registry

    registry.check_names(list(settings.providers_enabled))


def _rate_limit_check(name: str) -> Callable[[Settings], None]:
    def check(settings: Settings) -> None:
        from providers.resilience import parse_rate_limit

        parse_rate_limit(str(settings[name]), SETTINGS_BY_NAME[name].env_var)

    return check


def _check_backends(settings: Settings) -> None:
    from translation import BACKEND_NAMES, SETTING

    unknown = [n for n in settings.translation_backends if n.strip().lower() not in BACKEND_NAMES]
    if unknown:
        raise ConfigError(f"{SETTING}: unknown backend(s) {', '.join(map(repr, unknown))}; "
                          f"expected some of {', '.join(BACKEND_NAMES)}")


def _check_instances(settings: Settings) -> None:
    from library.arr import configured_instances

    configured_instances(settings)


def _check_mappings(settings: Settings) -> None:
    from library.arr import settings_mappings

    settings_mappings(settings)


def _languages_check(name: str) -> Callable[[Settings], None]:
    def check(settings: Settings) -> None:
        from providers.base import normalize_language

        for code in settings[name]:
            try:
                normalize_language(code)
            except ValueError as exc:
                raise ConfigError(f"{SETTINGS_BY_NAME[name].env_var}: {exc}") from None

    return check


# Checks of a whole Settings that Setting.parse cannot make, keyed by the setting an
# error is shown next to. The same checks stop start-up when a bad value comes from
# elsewhere (the provider manager, backend chain and *arr sync make them too).
WHOLE_CHECKS: dict[str, Callable[[Settings], None]] = {
    "providers_enabled": _check_providers,
    **{name: _rate_limit_check(name) for name in SETTINGS_BY_NAME
       if name.endswith("_rate_limit")},
    "translation_backends": _check_backends,
    "arr_instances": _check_instances,
    "path_mappings": _check_mappings,
    "default_languages": _languages_check("default_languages"),
    "auto_translate_sources": _languages_check("auto_translate_sources"),
}


def check_whole(settings: Settings, names: Iterable[str] | None = None) -> None:
    """Run WHOLE_CHECKS (those for `names`, or all); SettingsInvalid with every failure."""
    wanted = set(WHOLE_CHECKS if names is None else names)
    errors: dict[str, str] = {}
    for name, check in WHOLE_CHECKS.items():
        if name not in wanted:
            continue
        try:
            check(settings)
        except ConfigError as exc:
            errors[name] = str(exc)
    if errors:
        raise SettingsInvalid(errors)


# -- saving ---------------------------------------------------------------------------------


def plan_save(current: Settings, baseline: Settings,
              submitted: Mapping[str, Any]) -> tuple[SaveResult, Settings]:
    """What saving `submitted` would write, and the settings that would result.

    `baseline` is the settings without any saved value: a value equal to it removes the
    saved row (so a later config-file change shows through again); a value equal to the
    current one writes nothing."""
    parsed = parse_changes(current, submitted)
    plan = SaveResult()
    values, sources = dict(current.values), dict(current.sources)
    for name, value in parsed.items():
        if value == baseline[name]:
            if current.sources.get(name) == "stored":
                plan.removed.append(name)
            sources[name] = baseline.sources.get(name, "default")
        elif value != current[name]:
            plan.written[name] = value
            sources[name] = "stored"
        values[name] = value
    candidate = Settings(values, sources)
    check_whole(candidate, _checks_for(parsed))
    return plan, candidate


def _checks_for(parsed: Mapping[str, Any]) -> list[str]:
    """The whole-settings checks that read one of the changed values."""
    names = [name for name in WHOLE_CHECKS if name in parsed]
    if any(n.startswith(("sonarr_", "radarr_")) for n in parsed):
        names.append("arr_instances")  # the default instances may clash with a named one
    return names


def write(database: Database, plan: SaveResult) -> None:
    """Apply a plan in one transaction."""
    if not plan.written and not plan.removed:
        return
    now = utcnow()
    with database.session() as session:
        if plan.removed:
            session.execute(delete(AppSetting).where(AppSetting.name.in_(plan.removed)))
        for name, value in plan.written.items():
            row = session.get(AppSetting, name)
            if row is None:
                session.add(AppSetting(name=name, value_json=json.dumps(value),
                                       updated_at=now))
            else:
                row.value_json, row.updated_at = json.dumps(value), now


def save(database: Database, overrides: Mapping[str, Any] | None, current: Settings,
         submitted: Mapping[str, Any]) -> tuple[SaveResult, Settings]:
    """Validate and save `submitted` (setting name -> raw value); nothing is written
    when any value is bad. Returns what changed and the settings now in force."""
    baseline = load_settings(overrides)
    plan, _ = plan_save(current, baseline, submitted)
    write(database, plan)
    return plan, resolve(overrides, database)
