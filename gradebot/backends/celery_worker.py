"""Command line of the Celery backend: ``python -m gradebot.backends.celery_worker worker|sweep|init-gradebook``.

A separate module so that :mod:`gradebot.backends.celery_backend` (which defines the Celery app and its task) is
always imported under its own name, never as ``__main__`` (Celery would then register the task twice).
"""

import sys

from gradebot.backends.celery_backend import main

if __name__ == "__main__":
    sys.exit(main())
