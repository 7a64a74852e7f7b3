"""The digest as a Telegram message (HTML), cut into parts that fit, and the cluster view
of several regions.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from core import channel_stats
from core.catalogue.active import CatalogueView
from core.digest.figures import (
    CLUSTER_KEYS,
    COMMENT_SHOWN,
    HEADLINE_KEYS,
    LIMIT,
    LIST_SHOWN,
    OVERDUE_SHOWN,
    TOP_NEEDS_SHOWN,
    Names,
    count_text,
    delta,
    duration,
    escape,
    number_line,
    period_bounds,
    shortened,
    value,
)
from core.digest.keys import NUMERIC_KEYS, SMALL_LABEL
from core.reminders.figures import plan_lines
from core.texts import Translator, split_text


def render_text(
    digest: dict[str, Any], t: Translator, view: CatalogueView, *, footer: bool = True
) -> str:
    """The Monday-morning message (HTML), all sections; split it with `split_message`.
    Without `footer`, no line about the files and commands that only Telegram has."""
    names = Names(view, t)
    demand, supply = digest["demand"], digest["supply"]
    outcomes, catalogue, attention = digest["outcomes"], digest["catalogue"], digest["attention"]
    sections: list[list[str]] = []

    start, end = period_bounds(digest["period"], t)
    sections.append(
        [
            t("digest.title", region=escape(names.region(digest["region"]))),
            t("digest.period", week=digest["week"], start=start, end=end),
        ]
    )
    sections.append(
        [t("digest.section.headline")]
        + [number_line(key, digest, t) for key in HEADLINE_KEYS]
        + [t("digest.deltas_note")]
    )

    lines = [t("digest.section.demand")]
    lines += [number_line(key, digest, t) for key in NUMERIC_KEYS["demand"][2:]]
    if demand["top_needs"]:
        lines.append(t("digest.top_needs"))
        lines += [
            t("digest.item", name=escape(names.need(row["need"])), count=t.number(row["count"]))
            for row in demand["top_needs"][:TOP_NEEDS_SHOWN]
        ]
    if demand["no_result_queries"]:
        lines.append(t("digest.no_result_queries"))
        lines += [
            t(
                "digest.query",
                query=escape(shortened(row["query"], 100)),
                count=t.number(row["count"]),
            )
            for row in demand["no_result_queries"][:LIST_SHOWN]
        ]
    if demand["by_municipality"]:
        lines.append(t("digest.by_municipality"))
        lines += [
            t("digest.item", name=escape(names.municipality(row["municipality"])), count=c)
            for row in demand["by_municipality"][:LIST_SHOWN]
            for c in [count_text(row["requests"], t)]
        ]
        if len(demand["by_municipality"]) > LIST_SHOWN:
            lines.append(t("digest.more", n=len(demand["by_municipality"]) - LIST_SHOWN))
        if any(row["requests"] == SMALL_LABEL for row in demand["by_municipality"]):
            lines.append(t("digest.small_note"))
    lines += channel_stats.digest_lines(demand, t)
    sections.append(lines)

    lines = [t("digest.section.supply")]
    lines += [number_line(key, digest, t) for key in NUMERIC_KEYS["supply"]]
    if supply["organizations"]:
        lines.append(t("digest.organizations"))
        for row in supply["organizations"][:LIST_SHOWN]:
            lines.append(
                t(
                    "digest.organization",
                    name=escape(names.organization(row["id"])),
                    received=row["received"],
                    accepted=row["accepted"],
                    resolved=row["resolved"],
                    median=duration(row["median_minutes_to_accept"], t),
                    rating=value("rating_avg", row["rating_avg"], t),
                )
            )
        if len(supply["organizations"]) > LIST_SHOWN:
            lines.append(t("digest.more", n=len(supply["organizations"]) - LIST_SHOWN))
    sections.append(lines)

    lines = [t("digest.section.outcomes")]
    lines += [number_line(key, digest, t) for key in NUMERIC_KEYS["outcomes"]]
    if outcomes["not_helped_reasons"]:
        lines.append(t("digest.not_helped_reasons"))
        lines += [
            t("digest.item", name=t(f"digest.reason.{code}"), count=count)
            for code, count in outcomes["not_helped_reasons"].items()
        ]
    if outcomes["low_ratings"]:
        lines.append(t("digest.low_ratings"))
        for row in outcomes["low_ratings"]:
            comment = row["comment"]
            lines.append(
                t(
                    "digest.low_rating",
                    stars="★" * int(row["rating"]),
                    comment=escape(shortened(comment, COMMENT_SHOWN))
                    if comment
                    else t("digest.no_comment"),
                )
            )
    sections.append(lines)

    lines = [t("digest.section.catalogue")]
    stale = catalogue["stale_measures"]
    lines.append(t("digest.stale", n=len(stale)))
    lines += [t("digest.entry", name=escape(names.measure(m))) for m in stale[:LIST_SHOWN]]
    if len(stale) > LIST_SHOWN:
        lines.append(t("digest.more", n=len(stale) - LIST_SHOWN))
    if catalogue["unhelpful_measures"]:
        lines.append(t("digest.unhelpful"))
        lines += [
            t("digest.item", name=escape(names.measure(row["id"])), count=row["count"])
            for row in catalogue["unhelpful_measures"][:LIST_SHOWN]
        ]
    sections.append(lines)

    lines = [t("digest.section.attention")]
    overdue, silent = attention["overdue_referrals"], attention["silent_organizations"]
    if not overdue and not silent:
        lines.append(t("digest.all_clear"))
    if overdue:
        shown = ", ".join(f"№{number}" for number in overdue[:OVERDUE_SHOWN])
        if len(overdue) > OVERDUE_SHOWN:
            shown += " " + t("digest.more", n=len(overdue) - OVERDUE_SHOWN)
        lines.append(t("digest.overdue", n=len(overdue), numbers=shown))
    if silent:
        lines.append(t("digest.silent", n=len(silent)))
        lines += [t("digest.entry", name=escape(names.organization(org))) for org in silent]
    if attention.get("undelivered_notifications"):
        lines.append(t("digest.undelivered", count=attention["undelivered_notifications"]))
    sections.append(lines)
    sections += plan_lines(digest.get("plans"), t, names.measure, names.municipality)
    if footer:
        sections.append([t("digest.footer")])
    return "\n\n".join("\n".join(lines) for lines in sections)


def split_message(text: str, limit: int = LIMIT) -> list[str]:
    return split_text(text, limit)


_TAG = re.compile(r"<[^>]+>")


def to_plain(text: str) -> str:
    """The HTML message as terminal text (for the CLI)."""
    return unescape(_TAG.sub("", text))


def render_cluster_text(overview: dict[str, Any], t: Translator, view: CatalogueView) -> str:
    """Pilot regions side by side: one block per region, same lines in the same order."""
    names = Names(view, t)
    blocks = [t("digest.cluster.title", week=overview["week"])]
    for row in overview["regions"]:
        previous = row["previous_week"]
        lines = [t("digest.cluster.region", region=escape(names.region(row["region"])))]
        for key in CLUSTER_KEYS:
            change = delta(key, row[key], previous.get(key), t) if key in previous else ""
            lines.append(
                t(
                    "digest.line",
                    label=t(f"digest.label.{key}"),
                    value=value(key, row[key], t),
                    delta=f" {change}" if change else "",
                )
            )
        blocks.append("\n".join(lines))
    blocks.append(t("digest.cluster.footer"))
    return "\n\n".join(blocks)
