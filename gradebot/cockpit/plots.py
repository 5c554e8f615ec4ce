"""Plots of a :class:`~gradebot.cockpit.stats.ClassStats` with matplotlib, as SVG text (inline in HTML, readable
without JavaScript) or PNG bytes (report files). Labels are in Russian, from the catalog (``gradebot.messages``,
``ST_PLOT_*``).

Every figure is a :class:`matplotlib.figure.Figure` of its own (no pyplot, no global figure state), so threads of
the web server can draw at the same time. Saving to SVG sets ``svg.hashsalt`` (fixed per plot: the same
statistics give the same SVG) and ``svg.fonttype = none`` (text stays text: smaller, searchable, the browser's
fonts) for the moment of saving, under a lock, and writes no date. Then every id of the plot's SVG gets the plot's
prefix (:func:`scope_ids`), so the plots inlined in one HTML page share no id and each one's clip paths and
markers resolve within it: matplotlib numbers the groups of every file afresh (``figure_1``, ``axes_1``,
``patch_1``...), and of its own means ``svg.hashsalt`` reaches only the hashed ids, ``svg.id`` only the root
element, and an artist's gid only the artists that exist before drawing (not the ticks drawing creates).

Layout is fixed margins, not ``tight_layout`` (which costs a second draw); titles have a fixed position and long
labels and values are plain text artists rather than tick labels and annotations: what takes the time in
matplotlib is measuring text for automatic placement (``benchmarks/bench_cockpit.py``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import threading
from collections import OrderedDict
from datetime import timedelta

import matplotlib
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from gradebot import messages as msg
from gradebot.cockpit.stats import ClassStats

PLOTS = ("histogram", "tasks", "tests", "timeline")
ON_TIME, LATE, ACCENT, DEADLINE = "#4c72b0", "#dd8452", "#55a868", "#c44e52"
FONT = 9
LABEL_CHARS = 60  # longer task/test names are cut with "…"
CACHE_SIZE = 8  # render_all keeps the plots of this many different statistics
_save_lock = threading.Lock()
_cache: OrderedDict[str, dict] = OrderedDict()
_cache_lock = threading.Lock()


def _figure(width: float, height: float) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.tick_params(labelsize=FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _title(ax, text: str) -> None:
    """A title at a fixed height (matplotlib's automatic title position measures every tick label)."""
    ax.set_title(text, fontsize=FONT + 1, y=1.0, pad=8)


def _no_data(ax, text: str = msg.ST_NO_DATA) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT + 2, color="gray", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _cut(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def histogram_figure(stats: ClassStats) -> Figure:
    """Bars: students per score bin of the counted attempts; the title gives n and those without one."""
    h = stats.histogram
    fig, ax = _figure(7.0, 3.4)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.86)
    _title(ax, msg.ST_PLOT_HISTOGRAM_T.format(n=sum(h.counts), none=h.no_counted))
    if not sum(h.counts):
        _no_data(ax)
        return fig
    ax.bar(h.edges[:-1], h.counts, width=h.width, align="edge", color=ON_TIME, edgecolor="white")
    for left, count in zip(h.edges, h.counts):
        if count:
            ax.text(left + h.width / 2, count, str(count), ha="center", va="bottom", fontsize=FONT - 1)
    ax.set_ylim(0, max(h.counts) * 1.12)
    ax.set_xlim(0, h.edges[-1])
    ax.set_xticks(h.edges, [msg.points(e) for e in h.edges])
    ax.set_xlabel(msg.ST_PLOT_POINTS_T.format(max=msg.points(stats.max_total)), fontsize=FONT)
    ax.set_ylabel(msg.ST_PLOT_STUDENTS, fontsize=FONT)
    ax.yaxis.get_major_locator().set_params(integer=True)
    return fig


def tasks_figure(stats: ClassStats) -> Figure:
    """Box per task: quartiles and median of the task's points in % of its maximum, whiskers at min and max, a
    dot at the mean (the same numbers as the task table)."""
    tasks = [t for t in stats.tasks if t.points.n and t.points.max_points > 0]
    height = 0.8 + 0.45 * max(len(stats.tasks), 2)
    fig, ax = _figure(8.0, height)
    # margins in inches (0.8 below for the axis label, 0.35 above for the title), whatever the number of tasks
    fig.subplots_adjust(left=0.45, right=0.97, bottom=0.8 / height, top=1 - 0.35 / height)
    _title(ax, msg.ST_PLOT_TASKS)
    if not tasks:
        _no_data(ax)
        return fig
    boxes = []
    for t in tasks:
        d, scale = t.points, 100.0 / t.points.max_points
        label = msg.ST_PLOT_TASK_LABEL_T.format(title=t.title, max=msg.points(d.max_points))
        boxes.append(
            {
                "label": _cut(label, 50),
                "med": d.median * scale,
                "q1": d.q1 * scale,
                "q3": d.q3 * scale,
                "whislo": d.low * scale,
                "whishi": d.high * scale,
                "mean": d.mean * scale,
                "fliers": [],
            }
        )
    ax.bxp(
        boxes,
        orientation="horizontal",
        showmeans=True,
        widths=0.55,
        patch_artist=True,
        boxprops={"facecolor": "#c6d4ea", "edgecolor": ON_TIME},
        medianprops={"color": DEADLINE},
        meanprops={"marker": "o", "markerfacecolor": "black", "markeredgecolor": "black", "markersize": 4},
    )
    ax.invert_yaxis()
    ax.set_xlim(-2, 102)
    ax.set_xlabel(msg.ST_PLOT_TASK_AXIS, fontsize=FONT)
    ax.tick_params(axis="y", labelsize=FONT - 1)
    return fig


def tests_figure(stats: ClassStats) -> Figure:
    """Horizontal bar per grade cell (course order, top to bottom): share of counted attempts passing it."""
    cells = stats.cells
    height = 0.8 + 0.26 * max(len(cells), 2)
    fig, ax = _figure(9.0, height)
    fig.subplots_adjust(left=0.45, right=0.95, bottom=0.6 / height, top=1 - 0.35 / height)
    _title(ax, msg.ST_PLOT_TESTS)
    if not stats.counted or not cells:
        _no_data(ax)
        return fig
    rates = [100.0 * (c.pass_rate or 0.0) for c in cells]
    colors = [DEADLINE if r < 50 else LATE if r < 80 else ACCENT for r in rates]
    y = list(range(len(cells)))
    # one collection instead of a Rectangle per test (each patch updates the data limits on its own)
    ax.add_collection(
        PolyCollection(
            [[(0, r - 0.35), (v, r - 0.35), (v, r + 0.35), (0, r + 0.35)] for r, v in zip(y, rates)],
            facecolors=colors,
            edgecolors="none",
        ),
        autolim=False,
    )
    names = blended_transform_factory(ax.transAxes, ax.transData)  # x in axes fractions, y in rows
    for row, (cell, rate) in enumerate(zip(cells, rates)):
        ax.text(rate + 1, row, f"{rate:.0f}%", va="center", fontsize=FONT - 2)
        ax.text(-0.01, row, _cut(cell.name), transform=names, ha="right", va="center", fontsize=FONT - 2)
    ax.set_yticks([])
    ax.set_ylim(len(cells) - 0.5, -0.5)
    ax.set_xlim(0, 110)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    return fig


def timeline_figure(stats: ClassStats) -> Figure:
    """Stacked steps: submissions per hour/day, on time and late, with the deadline as a dashed red line."""
    tl = stats.timeline
    fig, ax = _figure(8.0, 3.2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.86)
    _title(ax, msg.ST_TIMELINE_T.format(unit=msg.ST_UNIT[tl.unit]))
    if not tl.buckets:
        _no_data(ax, msg.ST_NO_SUBMISSIONS)
        return fig
    n = len(tl.buckets)
    edges = list(range(n + 1))
    on_time = [b.on_time for b in tl.buckets]
    both = [b.on_time + b.late for b in tl.buckets]
    ax.stairs(both, edges, fill=True, color=LATE, label=msg.ST_PLOT_LATE)
    ax.stairs(on_time, edges, fill=True, color=ON_TIME, label=msg.ST_PLOT_ON_TIME)
    step = timedelta(hours=1) if tl.unit == "hour" else timedelta(days=1)
    fmt = "%d.%m %H:00" if tl.unit == "hour" else "%d.%m"
    stride = max(1, math.ceil(n / 8))
    ticks = list(range(0, n, stride))
    ax.set_xticks([t + 0.5 for t in ticks], [tl.buckets[t].start.strftime(fmt) for t in ticks], fontsize=FONT - 1)
    if tl.deadline is not None:
        x = (tl.deadline - tl.buckets[0].start) / step
        ax.axvline(
            x,
            color=DEADLINE,
            linestyle="--",
            linewidth=1.5,
            label=msg.ST_PLOT_DEADLINE_T.format(when=tl.deadline.strftime("%d.%m %H:%M")),
        )
    ax.set_xlim(0, n)
    ax.set_ylim(0, max(both) * 1.3 or 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(msg.ST_PLOT_SUBMISSIONS, fontsize=FONT)
    ax.legend(fontsize=FONT - 1, frameon=False, loc="upper left", ncols=3)
    return fig


FIGURES = {"histogram": histogram_figure, "tasks": tasks_figure, "tests": tests_figure, "timeline": timeline_figure}


def to_svg(fig: Figure, name: str) -> str:
    """The figure as SVG text (every id prefixed with ``gb-<name>-``: :func:`scope_ids`; no date; text as
    <text>)."""
    buf = io.StringIO()
    with _save_lock, matplotlib.rc_context({"svg.hashsalt": "gradebot-" + name, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return scope_ids(buf.getvalue(), f"gb-{name}-")


_TAG = re.compile(r"<[^<>]+>")  # matplotlib escapes < and > in text and attribute values
_ID_OR_REF = re.compile(r'(?<=\s)(id=")([^"]+")|(url\(#)([^)]+\))|((?<=\s)(?:xlink:)?href="#)([^"]+")')


def scope_ids(svg: str, prefix: str) -> str:
    """``svg`` (matplotlib's SVG text) with ``prefix`` before every id and every reference to one (``url(#id)``,
    ``href="#id"``, ``xlink:href="#id"``), inside tags only: text is left as it is."""

    def attribute(m: re.Match) -> str:
        head = m.group(1) or m.group(3) or m.group(5)
        return head + prefix + (m.group(2) or m.group(4) or m.group(6))

    return _TAG.sub(lambda tag: _ID_OR_REF.sub(attribute, tag.group(0)), svg)


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def render_all(stats: ClassStats, fmt: str = "svg") -> dict[str, str | bytes]:
    """{name: SVG text (fmt "svg") or PNG bytes (fmt "png")} for every plot of :data:`PLOTS`. The same statistics
    (equal :meth:`ClassStats.to_json`) are drawn once: the last :data:`CACHE_SIZE` results are kept, so reloading
    an unchanged statistics page costs no drawing."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"fmt={fmt!r}: use 'svg' or 'png'")
    key = fmt + hashlib.sha256(json.dumps(stats.to_json(), sort_keys=True).encode()).hexdigest()
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return dict(_cache[key])
    out = {}
    for name in PLOTS:
        fig = FIGURES[name](stats)
        out[name] = to_svg(fig, name) if fmt == "svg" else to_png(fig)
    with _cache_lock:
        _cache[key] = out
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return dict(out)
