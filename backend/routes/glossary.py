"""/api/v1/glossary: the translation glossary — terms a translation must render one way
(names, attacks, places), per language pair, for every series or for one.

``GET ?source_lang=&target_lang=&series=`` lists; ``PUT`` with
``{"source_lang", "target_lang", "term", "translation", "series"?}`` adds or changes
one; ``DELETE`` with ``{"source_lang", "target_lang", "term", "series"?}`` removes one."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from errors import BadRequest, NotFound, ValidationFailed
from providers.base import normalize_language
from translation.glossary import GlossaryStore

bp = Blueprint("glossary", __name__)

MAX_TEXT = 300  # the columns' width


def _store() -> GlossaryStore:
    return GlossaryStore(current_app.database)  # type: ignore[attr-defined]


@bp.get("")
def list_terms() -> ResponseReturnValue:
    args = request.args
    terms = _store().list_terms(_optional_language(args, "source_lang"),
                                _optional_language(args, "target_lang"),
                                series=args.get("series") or None)
    return jsonify({"terms": [asdict(term) for term in terms]})


@bp.put("")
def set_term() -> ResponseReturnValue:
    body = _body()
    term = _store().set_term(_language(body, "source_lang"), _language(body, "target_lang"),
                             _text(body, "term"), _text(body, "translation"),
                             series=_series(body))
    return jsonify(asdict(term))


@bp.delete("")
def remove_term() -> ResponseReturnValue:
    body = _body()
    source, target, text = (_language(body, "source_lang"), _language(body, "target_lang"),
                            _text(body, "term"))
    if not _store().remove_term(source, target, text, series=_series(body)):
        raise NotFound(f"no glossary term {text!r} for {source} -> {target}",
                       details={"term": text})
    return jsonify({"deleted": text})


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _language(source: Any, field: str) -> str:
    found = _optional_language(source, field)
    if found is None:
        raise ValidationFailed(field, "is required (a language code such as en)")
    return found


def _optional_language(source: Any, field: str) -> str | None:
    raw = source.get(field)
    if raw in (None, ""):
        return None
    try:
        return normalize_language(str(raw))
    except ValueError as exc:
        raise ValidationFailed(field, str(exc)) from None


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(field, "must be non-empty text")
    if len(value.strip()) > MAX_TEXT:
        raise ValidationFailed(field, f"must be at most {MAX_TEXT} characters")
    return value.strip()


def _series(body: dict[str, Any]) -> str | None:
    series = body.get("series")
    if series is not None and (not isinstance(series, str) or len(series) > MAX_TEXT):
        raise ValidationFailed("series", f"must be a series title of at most {MAX_TEXT} "
                                         "characters, or null for every series")
    return (series.strip() or None) if isinstance(series, str) else None
