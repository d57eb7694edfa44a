"""Figures for the benchmarks (``--plot PATH``), as SVG.

matplotlib is imported inside each function, so a benchmark run without
``--plot`` needs no more than the SDK; ``pip install -e ".[bench]"`` brings it.
Figures are drawn on a bare ``Figure`` (no pyplot, no global backend) with text
kept as text and no timestamp, so that regenerating a figure from the same data
gives the same file.

Two kinds:

* :func:`plot_timelines`: requests per second over time, one panel per client,
  from the times at which each request was sent, accepted or refused.
* :func:`plot_layers`: where each client spends its CPU per request, one
  stacked bar per client.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Width of a figure in inches: at the 96 dpi of SVG it fills a docs page's text column.
WIDTH = 8.0
#: Height of one timeline panel in inches: enough for a readable rate axis.
PANEL_HEIGHT = 2.0
#: SVG settings: text as <text> (small, searchable, drawn in the page's font) and
#: fixed element ids, so that the same data gives the same bytes.
_SVG = {"svg.fonttype": "none", "svg.hashsalt": "voiceclone-bench"}
_SENT, _ACCEPTED, _REFUSED, _LIMIT = "#1f77b4", "#2ca02c", "#d62728", "#555555"


@dataclass(frozen=True)
class Timeline:
    """What one client did during a run, each event in seconds from the run's start.

    Attributes:
        sent: when each request (every attempt, retries included) left the client.
        accepted: when each successful answer arrived.
        refused: when each rate-limit answer (1002, 1039, 2045) arrived.
    """

    sent: Sequence[float] = field(default_factory=list)
    accepted: Sequence[float] = field(default_factory=list)
    refused: Sequence[float] = field(default_factory=list)


def plot_timelines(
    path: str | Path,
    timelines: Mapping[str, Timeline],
    *,
    limit_per_s: float | None,
    title: str,
    bin_s: float | None = None,
) -> None:
    """Draw requests sent and accepted per second over time, one panel per client.

    Each panel shares the time and rate axes with the others, so the panels
    compare at a glance: the account's limit is a dashed line, every rate-limit
    answer a red tick along the bottom.

    Args:
        path: the SVG file to write.
        timelines: a `Timeline` per client, drawn top to bottom in this order.
        limit_per_s: the server's limit in requests per second, or None.
        title: the figure's title.
        bin_s: seconds per bar of the rate curves; by default about 40 bars
            over the longest run (fine enough to show a storm, coarse enough
            that a paced client draws a flat line).
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    end = max(max([*t.sent, *t.accepted, *t.refused], default=1e-3) for t in timelines.values())
    width = bin_s if bin_s is not None else _nice(end / 40)
    edges = [i * width for i in range(math.ceil(end / width) + 1)]
    with rc_context(_SVG):
        figure = Figure(figsize=(WIDTH, 0.9 + PANEL_HEIGHT * len(timelines)), layout="constrained")
        axes = figure.subplots(len(timelines), 1, sharex=True, squeeze=False)[:, 0]
        rates = {
            name: (_rate(t.sent, edges), _rate(t.accepted, edges)) for name, t in timelines.items()
        }
        # One rate scale for every panel, from 0 to the highest bar or the limit.
        top = max([limit_per_s or 0.0, *(max(s + a) for s, a in rates.values())]) * 1.1 or 1.0
        for ax, (name, timeline) in zip(axes, timelines.items(), strict=True):
            sent, accepted = rates[name]
            ax.stairs(sent, edges, color=_SENT, linewidth=1.5)
            ax.stairs(accepted, edges, color=_ACCEPTED, linewidth=1.5, linestyle="--")
            if limit_per_s is not None:
                ax.axhline(limit_per_s, color=_LIMIT, linewidth=1, linestyle=":")
            if timeline.refused:
                # Drawn over the axis line, not clipped, and left out of the layout
                # (which would otherwise make room for ticks that poke out).
                ax.plot(
                    timeline.refused,
                    [0.0] * len(timeline.refused),
                    linestyle="none",
                    marker="|",
                    markersize=12,
                    color=_REFUSED,
                    clip_on=False,
                    in_layout=False,
                )
            refused = len(timeline.refused)
            ax.set_title(
                f"{name}: {len(timeline.accepted)} accepted, {refused} rate-limit answers",
                loc="left",
                fontsize="medium",
            )
            ax.set_ylabel("requests / s")
            ax.set_ylim(0, top)
            ax.grid(axis="y", alpha=0.3)
        axes[-1].set_xlabel("seconds from the start of the run")
        axes[-1].set_xlim(0, edges[-1])
        legend = [
            Line2D([], [], color=_SENT, linewidth=1.5, label="sent"),
            Line2D([], [], color=_ACCEPTED, linewidth=1.5, linestyle="--", label="accepted"),
            Line2D([], [], color=_REFUSED, linestyle="none", marker="|", label="rate-limit answer"),
        ]
        if limit_per_s is not None:
            legend.append(Line2D([], [], color=_LIMIT, linestyle=":", label="the limit"))
        figure.legend(handles=legend, loc="outside lower center", ncols=len(legend), frameon=False)
        figure.suptitle(title, x=0.01, ha="left")
        _save(figure, path)


def plot_layers(
    path: str | Path,
    layers: Mapping[str, Mapping[str, float]],
    *,
    title: str,
    unit: str = "µs of client CPU per clone",
    colours: Mapping[str, str] | None = None,
) -> None:
    """Draw one horizontal bar per client, stacked by layer.

    Args:
        path: the SVG file to write.
        layers: per client, the cost of each layer (in ``unit``); a layer
            missing for a client costs it nothing. Layers are stacked in the
            order first met, so put the shared ones (the event loop, aiohttp)
            first and the bars line up on them.
        title: the figure's title.
        unit: the label of the cost axis.
        colours: a colour per layer, for those that should stand out or
            recede (say, shared layers in greys); others get tab10's colours.
    """
    from matplotlib import colormaps, rc_context
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(name for costs in layers.values() for name in costs))
    clients = list(layers)
    with rc_context(_SVG):
        figure = Figure(figsize=(WIDTH, 1.6 + 0.6 * len(clients)), layout="constrained")
        ax = figure.subplots()
        # tab10 without its grey, which reads as one of the receding layers.
        palette = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]
        chosen = colours or {}
        left = [0.0] * len(clients)
        unchosen = [name for name in names if name not in chosen]
        for name in names:
            widths = [layers[c].get(name, 0.0) for c in clients]
            colour = chosen.get(name) or palette[unchosen.index(name) % len(palette)]
            ax.barh(clients, widths, left=left, color=colour, label=name, height=0.5)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for y, total in enumerate(left):
            ax.annotate(
                f"{total:.0f}",
                (total, y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
            )
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_xlim(0, max(left, default=1.0) * 1.1)
        ax.grid(axis="x", alpha=0.3)
        figure.legend(loc="outside lower center", ncols=4, frameon=False, fontsize="small")
        figure.suptitle(title, x=0.01, ha="left")
        _save(figure, path)


def _rate(times: Sequence[float], edges: Sequence[float]) -> list[float]:
    """Events per second in each bin between consecutive ``edges``."""
    width = edges[1] - edges[0]
    counts = [0] * (len(edges) - 1)
    for t in times:
        counts[min(int(t / width), len(counts) - 1)] += 1
    return [c / width for c in counts]


def _nice(seconds: float) -> float:
    """The nearest of 1, 2 or 5 times a power of ten at or above ``seconds``."""
    power = 10 ** math.floor(math.log10(seconds))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= seconds)


def _save(figure: Any, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # No date in the file: the same data must give the same bytes.
    figure.savefig(path, format="svg", metadata={"Date": None})
