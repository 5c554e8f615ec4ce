"""The instructor's cockpit outside the web routes: class statistics (:mod:`.stats`), their plots (:mod:`.plots`)
and the HTML fragment / report directory (:mod:`.report`, ``python -m gradebot report --out DIR``).

Typical use (what the report command and the web statistics page do)::

    stats = service_stats(svc)                 # ClassStats (stats.py)
    svgs = plots.render_all(stats, "svg")      # {name: SVG text}
    html = report.stats_html(stats, svgs)      # an embeddable <section>
"""

from gradebot.cockpit.stats import ClassStats, class_stats, service_stats

__all__ = ["ClassStats", "class_stats", "service_stats"]
