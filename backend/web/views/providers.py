"""Provider Stats: one card per provider with its counters, response times, circuit and
throttle state and a chart of the last day; Test and Clear cache buttons.

The numbers come from ProviderManager.stats() (what GET /api/v1/providers/stats answers)
and the chart from the provider_stats_history buckets; the page polls one fragment
every few seconds whose parts swap into the cards out of band, so a test result shown in
a card is not wiped by the next poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from db.models import utcnow
from db.repositories.provider_history import ProviderHistoryRepository
from errors import ApiError
from providers.registry import REGISTRY
from routes.providers import check_provider, known_provider
from web.blueprint import bp
from web.filters import parse_timestamp
from web.views.provider_chart import WINDOW, Chart, build_chart

if TYPE_CHECKING:
    from providers import ProviderManager

POLL_SECONDS = 5
# How the providers spell themselves; unknown names are shown as they are.
DISPLAY_NAMES = {"opensubtitles": "OpenSubtitles", "jimaku": "Jimaku",
                 "animetosho": "AnimeTosho", "subdl": "SubDL", "podnapisi": "Podnapisi"}


@dataclass
class ProviderCard:
    """What one card shows, from one row of ProviderManager.stats()."""

    name: str
    row: dict[str, Any]
    chart: Chart

    @property
    def title(self) -> str:
        return DISPLAY_NAMES.get(self.name, self.name)

    @property
    def failures_total(self) -> int:
        return sum(int(n) for n in self.row["failures"].values())

    @property
    def success_rate(self) -> float | None:
        """Answered searches (provider or cache) over answered plus failed calls."""
        attempts = self.row["searches"] + self.failures_total
        return self.row["searches"] / attempts if attempts else None

    @property
    def results_per_search(self) -> float | None:
        searches = self.row["searches"]
        return self.row["results"] / searches if searches else None

    @property
    def cache_hit_ratio(self) -> float | None:
        searches = self.row["searches"]
        return self.row["cache_hits"] / searches if searches else None

    def when(self, key: str) -> datetime | None:
        """An ISO timestamp of the stats row as a datetime (for the `ago` filter)."""
        return parse_timestamp(self.row.get(key))


def _manager() -> ProviderManager:
    return current_app.provider_manager  # type: ignore[attr-defined,no-any-return]


def provider_cards() -> list[ProviderCard]:
    """Every configured provider's card (stats() writes pending counts first)."""
    rows = _manager().stats()
    now = utcnow()
    history = ProviderHistoryRepository(current_app.database).since(  # type: ignore[attr-defined]
        now - WINDOW, [row["provider"] for row in rows])
    return [ProviderCard(row["provider"], row,
                         build_chart(DISPLAY_NAMES.get(row["provider"], row["provider"]),
                                     history.get(row["provider"], []), now))
            for row in rows]


def _not_enabled() -> list[str]:
    """Providers Sublarr knows but the settings do not enable."""
    enabled = set(_manager().provider_names())
    return [DISPLAY_NAMES.get(name, name) for name in REGISTRY if name not in enabled]


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.get("/providers")
def providers() -> ResponseReturnValue:
    return render_template("providers/index.html", page_title="Provider Stats",
                           active_page="providers", cards=provider_cards(),
                           not_enabled=_not_enabled(), poll_seconds=POLL_SECONDS,
                           now=utcnow())


@bp.get("/providers/live")
def providers_live() -> ResponseReturnValue:
    """The polled fragment: each card's numbers and chart, swapped in out of band."""
    return render_template("providers/_live.html", cards=provider_cards(), now=utcnow())


@bp.post("/providers/<name>/test")
def providers_test(name: str) -> ResponseReturnValue:
    """One cheap call to the provider, as POST /api/v1/providers/<name>/test does."""
    known_provider(_manager(), name)
    try:
        answer: dict[str, Any] = check_provider(_manager(), name)
    except ApiError as exc:  # a failed test is an answer here, not an error page
        answer = {"provider": name, "ok": False, "error": exc.message,
                  "kind": exc.details.get("kind")}
    if _is_htmx():
        return render_template("providers/_test_result.html", answer=answer)
    if answer.get("ok"):
        flash(f"{name}: test passed in {answer.get('elapsed_ms', 0):.0f} ms", "success")
    else:
        flash(f"{name}: test failed: {answer.get('error')}", "error")
    return redirect(url_for("web.providers"))


@bp.post("/providers/<name>/clear-cache")
def providers_clear_cache(name: str) -> ResponseReturnValue:
    """Empty this provider's cached searches in both tiers (POST /api/v1/providers/
    cache/clear with a provider)."""
    manager = _manager()
    known_provider(manager, name)
    cleared = manager.clear_cache(name)
    message = (f"{name}: {cleared['database']} cached searches cleared"
               f" ({cleared['fast']} in the fast tier)")
    if _is_htmx():
        card = next(card for card in provider_cards() if card.name == name)
        return render_template("providers/_cleared.html", card=card, message=message,
                               now=utcnow())
    flash(message, "success")
    return redirect(url_for("web.providers"))
