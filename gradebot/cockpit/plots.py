"""Plots of a :class:`~gradebot.cockpit.stats.ClassStats` with matplotlib, as SVG text (inline in HTML, readable
without JavaScript) or PNG bytes (report files). Labels are in Russian.

Every figure is a :class:`matplotlib.figure.Figure` of its own (no pyplot, no global figure state), so threads of
the web server can draw at the same time. Saving to SVG sets ``svg.hashsalt`` (per plot, so the ids of two plots
inlined in one page never collide) and ``svg.fonttype = none`` (text stays text: smaller, searchable, the
browser's fonts) for the moment of saving, under a lock, and writes no date: the same statistics give the same
SVG. Layout is fixed margins, not ``tight_layout`` (which costs a second draw).
"""
from __future__ import annotations

import io
import math
import threading
from datetime import timedelta

import matplotlib
from matplotlib.figure import Figure

from gradebot.cockpit.stats import ClassStats

PLOTS = ("histogram", "tasks", "tests", "timeline")
ON_TIME, LATE, ACCENT, DEADLINE = "#4c72b0", "#dd8452", "#55a868", "#c44e52"
FONT = 9
LABEL_CHARS = 60           # longer task/test names are cut with "…"
_save_lock = threading.Lock()


def _figure(width: float, height: float) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.tick_params(labelsize=FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _no_data(ax, text: str = "Нет данных") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT + 2, color="gray", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _cut(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _fmt(x: float) -> str:
    return f"{x:g}"


def histogram_figure(stats: ClassStats) -> Figure:
    """Bars: students per score bin of the counted attempts; the title gives n and those without one."""
    h = stats.histogram
    fig, ax = _figure(7.0, 3.4)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.86)
    ax.set_title(f"Баллы зачтённых попыток (студентов: {sum(h.counts)}; без зачтённой попытки: {h.no_counted})",
                 fontsize=FONT + 1)
    if not sum(h.counts):
        _no_data(ax)
        return fig
    bars = ax.bar(h.edges[:-1], h.counts, width=h.width, align="edge", color=ON_TIME, edgecolor="white")
    ax.bar_label(bars, labels=[str(c) if c else "" for c in h.counts], fontsize=FONT - 1)
    ax.set_xlim(0, h.edges[-1])
    ax.set_xticks(h.edges, [_fmt(e) for e in h.edges])
    ax.set_xlabel(f"баллы (из {_fmt(stats.max_total)})", fontsize=FONT)
    ax.set_ylabel("студентов", fontsize=FONT)
    ax.yaxis.get_major_locator().set_params(integer=True)
    return fig


def tasks_figure(stats: ClassStats) -> Figure:
    """Box per task: quartiles and median of the task's points in % of its maximum, whiskers at min and max, a
    dot at the mean (the same numbers as the task table)."""
    tasks = [t for t in stats.tasks if t.points.n and t.points.max_points > 0]
    fig, ax = _figure(8.0, 0.8 + 0.45 * max(len(stats.tasks), 2))
    fig.subplots_adjust(left=0.45, right=0.97, bottom=0.8 / (0.8 + 0.45 * max(len(stats.tasks), 2)), top=0.93)
    ax.set_title("Баллы по заданиям, % от максимума (зачтённые попытки)", fontsize=FONT + 1)
    if not tasks:
        _no_data(ax)
        return fig
    boxes = []
    for t in tasks:
        d, scale = t.points, 100.0 / t.points.max_points
        boxes.append({"label": _cut(f"{t.title} (макс. {_fmt(d.max_points)})", 50), "med": d.median * scale,
                      "q1": d.q1 * scale, "q3": d.q3 * scale, "whislo": d.low * scale, "whishi": d.high * scale,
                      "mean": d.mean * scale, "fliers": []})
    ax.bxp(boxes, orientation="horizontal", showmeans=True, widths=0.55, patch_artist=True,
           boxprops={"facecolor": "#c6d4ea", "edgecolor": ON_TIME}, medianprops={"color": DEADLINE},
           meanprops={"marker": "o", "markerfacecolor": "black", "markeredgecolor": "black", "markersize": 4})
    ax.invert_yaxis()
    ax.set_xlim(-2, 102)
    ax.set_xlabel("% от максимума задания", fontsize=FONT)
    ax.tick_params(axis="y", labelsize=FONT - 1)
    return fig


def tests_figure(stats: ClassStats) -> Figure:
    """Horizontal bar per grade cell (course order, top to bottom): share of counted attempts passing it."""
    cells = stats.cells
    height = 0.8 + 0.26 * max(len(cells), 2)
    fig, ax = _figure(9.0, height)
    fig.subplots_adjust(left=0.45, right=0.95, bottom=0.6 / height, top=1 - 0.35 / height)
    ax.set_title("Доля зачтённых попыток, прошедших тест", fontsize=FONT + 1)
    if not stats.counted or not cells:
        _no_data(ax)
        return fig
    rates = [100.0 * (c.pass_rate or 0.0) for c in cells]
    colors = [DEADLINE if r < 50 else LATE if r < 80 else ACCENT for r in rates]
    y = list(range(len(cells)))
    bars = ax.barh(y, rates, color=colors, height=0.7)
    ax.bar_label(bars, labels=[f"{r:.0f}%" for r in rates], fontsize=FONT - 2, padding=2)
    ax.set_yticks(y, [_cut(c.name) for c in cells], fontsize=FONT - 2)
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    return fig


def timeline_figure(stats: ClassStats) -> Figure:
    """Stacked steps: submissions per hour/day, on time and late, with the deadline as a dashed red line."""
    tl = stats.timeline
    fig, ax = _figure(8.0, 3.2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.86)
    per = "час" if tl.unit == "hour" else "день"
    ax.set_title(f"Отправки по времени (за {per})", fontsize=FONT + 1)
    if not tl.buckets:
        _no_data(ax, "Отправок нет")
        return fig
    n = len(tl.buckets)
    edges = list(range(n + 1))
    on_time = [b.on_time for b in tl.buckets]
    both = [b.on_time + b.late for b in tl.buckets]
    ax.stairs(both, edges, fill=True, color=LATE, label="после срока")
    ax.stairs(on_time, edges, fill=True, color=ON_TIME, label="в срок")
    step = timedelta(hours=1) if tl.unit == "hour" else timedelta(days=1)
    fmt = "%d.%m %H:00" if tl.unit == "hour" else "%d.%m"
    stride = max(1, math.ceil(n / 8))
    ticks = list(range(0, n, stride))
    ax.set_xticks([t + 0.5 for t in ticks], [tl.buckets[t].start.strftime(fmt) for t in ticks], fontsize=FONT - 1)
    if tl.deadline is not None:
        x = (tl.deadline - tl.buckets[0].start) / step
        ax.axvline(x, color=DEADLINE, linestyle="--", linewidth=1.5,
                   label="срок сдачи " + tl.deadline.strftime("%d.%m %H:%M"))
    ax.set_xlim(0, n)
    ax.set_ylim(0, max(both) * 1.3 or 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("отправок", fontsize=FONT)
    ax.legend(fontsize=FONT - 1, frameon=False, loc="upper left", ncols=3)
    return fig


FIGURES = {"histogram": histogram_figure, "tasks": tasks_figure, "tests": tests_figure,
           "timeline": timeline_figure}


def to_svg(fig: Figure, name: str) -> str:
    """The figure as SVG text (ids salted with ``name``, no date, text as <text>)."""
    buf = io.StringIO()
    with _save_lock, matplotlib.rc_context({"svg.hashsalt": "gradebot-" + name, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def render_all(stats: ClassStats, fmt: str = "svg") -> dict[str, str | bytes]:
    """{name: SVG text (fmt "svg") or PNG bytes (fmt "png")} for every plot of :data:`PLOTS`."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"fmt={fmt!r}: use 'svg' or 'png'")
    out = {}
    for name in PLOTS:
        fig = FIGURES[name](stats)
        out[name] = to_svg(fig, name) if fmt == "svg" else to_png(fig)
    return out
