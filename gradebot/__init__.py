"""gradebot: the grading bot of the numnet course.

The core (``gradebot.core``) stores submissions durably, queues them through a backend (``gradebot.backends``),
grades each one with nbgrader while student code runs only inside ``gradebot.core.sandbox``, and reports points
per task. Front ends (``gradebot.frontends``: cli, web, telegram) are thin adapters over
:class:`gradebot.core.service.GradingService`. See docs/gradebot_core_api.md and docs/gradebot.md.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
