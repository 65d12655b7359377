"""Alert rules, evaluated on each closed event-time window.

Every alert id is deterministic (rule + window + subject), so a replay or a restarted worker
produces the same ids, and the aggregator's table of published ids keeps each one unique.
A surge is one alert per episode: consecutive windows above the threshold are one surge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pipeline.alerts.config import AlertConfig
from schemas.alert import Alert, Severity


class Window(Protocol):
    """What the rules read of a closed window (pipeline.windows.window.Window)."""

    start: float
    posts: int
    by_language: dict[str, int]
    by_media_type: dict[str, int]
    clusters: dict[str, int]
    cluster_crossed: list[str]
    cluster_first: dict[str, str]
    examples: list[tuple[str, str]]
    watch: dict[str, int]


@dataclass
class History:
    """What the rules remember across windows (the ledger keeps it)."""

    windows: list[list[float]] = field(default_factory=list)  # [start, posts, videos]
    languages: list[str] = field(default_factory=list)
    surge_active: bool = False
    video_surge_active: bool = False


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _baseline(values: list[float], k: float) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    # A flat baseline has sd 0: a Poisson floor keeps one extra post from being a "surge".
    return mean, mean + k * max(sd, math.sqrt(mean))


def evaluate(
    w: Window, size: float, history: History, cfg: AlertConfig, raised_at: datetime
) -> list[Alert]:
    """Alerts for a closed window; ``raised_at`` is the event time it closed at (not the
    clock), so the same campaign raises the same alerts with the same fields every time."""
    start, end = _when(w.start), _when(w.start + size)
    span = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    examples = [uid for uid, _ in w.examples]
    links = [url for _, url in w.examples if url]
    alerts: list[Alert] = []

    def alert(
        rule: str,
        subject: str,
        severity: Severity,
        summary: str,
        value: float,
        threshold: float,
        ex: list[str] | None = None,
        ln: list[str] | None = None,
    ) -> None:
        alerts.append(
            Alert(
                id=f"{rule}:{start.isoformat()}:{subject}",
                rule=rule,
                severity=severity,
                subject=subject,
                summary=summary,
                window_start=start,
                window_end=end,
                value=value,
                threshold=threshold,
                examples=ex if ex is not None else examples,
                links=ln if ln is not None else links,
                raised_at=raised_at,
            )
        )

    videos = float(w.by_media_type.get("video", 0))
    past = history.windows[-cfg.surge_history :]
    if cfg.surge and len(past) >= cfg.surge_min_history:
        mean, threshold = _baseline([p[1] for p in past], cfg.surge_k)
        threshold = max(threshold, float(cfg.surge_min_posts))
        above = w.posts > threshold
        if above and not history.surge_active:
            ratio = w.posts / mean if mean else float("inf")
            alert(
                "surge",
                "all",
                "critical" if w.posts > 2 * threshold else "warning",
                f"Volume surge: {w.posts:,} posts in {span}, {ratio:.1f}× the baseline of "
                f"{mean:,.0f} per window (threshold {threshold:,.0f})",
                w.posts,
                threshold,
            )
        history.surge_active = above
    if len(past) >= cfg.surge_min_history:
        vmean, vthreshold = _baseline([p[2] for p in past], cfg.surge_k)
        vthreshold = max(vthreshold, float(cfg.video_surge_min))
        above = videos > vthreshold
        if above and not history.video_surge_active:
            alert(
                "media-surge",
                "video",
                "warning",
                f"Video surge: {videos:,.0f} videos in {span} (baseline {vmean:,.1f}, "
                f"threshold {vthreshold:,.0f})",
                videos,
                vthreshold,
            )
        history.video_surge_active = above

    for cluster_id in w.cluster_crossed:  # exactly one window holds a cluster's crossing
        size_now = w.clusters[cluster_id]
        first = w.cluster_first.get(cluster_id)
        alert(
            "copy-paste",
            cluster_id,
            "warning",
            f"Copy-paste campaign: {size_now:,} posts share one text (cluster {cluster_id}) "
            f"in {span}",
            size_now,
            cfg.cluster_size,
            ln=[first] if first else links,
        )

    seen = set(history.languages) | set(cfg.languages)
    if len(history.windows) >= cfg.surge_min_history or cfg.languages:
        for lang, n in sorted(w.by_language.items()):
            if lang not in seen and lang != "und" and n >= cfg.new_language_min:
                alert(
                    "new-language",
                    lang,
                    "info",
                    f"New language: {n:,} posts in '{lang}' in {span}, not seen before in this "
                    "campaign",
                    n,
                    cfg.new_language_min,
                )
    for term, n in sorted(w.watch.items()):
        if n >= cfg.watch_min:
            alert(
                "watchlist",
                term,
                "warning",
                f"Watchlist: '{term}' in {n:,} posts in {span}",
                n,
                cfg.watch_min,
            )

    history.windows = [*history.windows, [w.start, float(w.posts), videos]][-cfg.surge_history :]
    history.languages = sorted(set(history.languages) | set(w.by_language))
    return alerts
