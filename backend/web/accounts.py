"""Web UI accounts and the session key, kept in the database so that every serving
process behind one database agrees on them."""

from __future__ import annotations

import json
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from db import Database
from db.models import AppSetting, WebUser, utcnow

SESSION_SECRET = "web.session_secret"
MIN_PASSWORD_LENGTH = 8
# Checked against when the user name is unknown, so a wrong name costs as long as a
# wrong password and timing tells nobody which names exist.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class AccountError(ValueError):
    """A user name or password Sublarr will not accept; the message says why."""


def has_users(database: Database) -> bool:
    with database.session() as session:
        return bool(session.scalar(select(func.count()).select_from(WebUser)))


def validate_credentials(username: str, password: str, confirm: str | None = None) -> None:
    if not username.strip():
        raise AccountError("user name: must not be empty")
    if len(username) > 100:
        raise AccountError("user name: at most 100 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if confirm is not None and confirm != password:
        raise AccountError("password: the two passwords differ")


def create_first_user(database: Database, username: str, password: str) -> bool:
    """Create the first account; False when one exists already (someone was first)."""
    validate_credentials(username, password)
    now = utcnow()
    with database.session() as session:
        if session.scalar(select(func.count()).select_from(WebUser)):
            return False
        session.add(WebUser(username=username.strip(),
                            password_hash=generate_password_hash(password),
                            created_at=now, updated_at=now))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def set_password(database: Database, username: str, password: str) -> bool:
    """Set (or create) `username`'s password; True when the account was created."""
    validate_credentials(username, password)
    now = utcnow()
    with database.session() as session:
        user = session.scalars(select(WebUser).where(WebUser.username == username)).first()
        created = user is None
        if user is None:
            user = WebUser(username=username, created_at=now)
            session.add(user)
        user.password_hash = generate_password_hash(password)
        user.updated_at = now
        session.commit()
    return created


def verify_login(database: Database, username: str, password: str) -> bool:
    with database.session() as session:
        stored = session.scalar(select(WebUser.password_hash)
                                .where(WebUser.username == username.strip()))
    if stored is None:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(stored, password)


def session_secret(database: Database) -> str:
    """The key that signs session cookies: made once, then shared by every process."""
    existing = _read_value(database, SESSION_SECRET)
    if isinstance(existing, str) and existing:
        return existing
    now = utcnow()
    with database.session() as session:
        session.add(AppSetting(name=SESSION_SECRET, value_json=json.dumps(
            secrets.token_hex(32)), updated_at=now))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another process made it first; use theirs
    value = _read_value(database, SESSION_SECRET)
    assert isinstance(value, str)
    return value


def _read_value(database: Database, name: str) -> Any:
    with database.session() as session:
        raw = session.scalar(select(AppSetting.value_json).where(AppSetting.name == name))
    return None if raw is None else json.loads(raw)
