"""The digest's PNG chart: this week's outcomes against the previous week."""

from __future__ import annotations

import io
from typing import Any

from core.catalogue.active import CatalogueView
from core.digest.figures import CHART_OUTCOMES, LIST_SHOWN, Names, shortened
from core.texts import Translator


def render_chart(digest: dict[str, Any], t: Translator, view: CatalogueView) -> bytes:
    """A PNG: requests by need on the left, this week's referral outcomes on the right."""
    # The object API with an Agg canvas: no pyplot global state, safe in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = Names(view, t)
    figure = Figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(
        t("digest.chart.title", region=names.region(digest["region"]), week=digest["week"]),
        fontsize=13,
    )
    demand_ax, outcome_ax = figure.subplots(1, 2, width_ratios=(3, 2))

    needs = digest["demand"]["top_needs"][:LIST_SHOWN]
    demand_ax.set_title(t("digest.chart.demand"), fontsize=11)
    if needs:
        labels = [shortened(names.need(row["need"]), 32) for row in reversed(needs)]
        counts = [row["count"] for row in reversed(needs)]
        bars = demand_ax.barh(labels, counts, color="#4C78A8")
        demand_ax.bar_label(bars, padding=3, fontsize=9)
        demand_ax.margins(x=0.15)
    else:
        demand_ax.text(0.5, 0.5, t("digest.chart.empty"), ha="center", va="center")
        demand_ax.set_yticks([])
    demand_ax.set_xticks([])
    demand_ax.tick_params(axis="y", labelsize=9)

    supply = digest["supply"]
    outcome_ax.set_title(t("digest.chart.outcomes"), fontsize=11)
    labels = [t(f"digest.chart.{key}") for key in CHART_OUTCOMES]
    current = [supply[key] for key in CHART_OUTCOMES]
    previous = [digest["previous_week"].get(key) or 0 for key in CHART_OUTCOMES]
    positions = range(len(CHART_OUTCOMES))
    width = 0.4
    outcome_ax.bar(
        [p - width / 2 for p in positions],
        previous,
        width,
        color="#BBBBBB",
        label=t("digest.chart.previous"),
    )
    bars = outcome_ax.bar(
        [p + width / 2 for p in positions],
        current,
        width,
        color="#F58518",
        label=t("digest.chart.current"),
    )
    outcome_ax.bar_label(bars, padding=2, fontsize=9)
    outcome_ax.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=9)
    outcome_ax.legend(fontsize=9)
    outcome_ax.margins(y=0.15)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
