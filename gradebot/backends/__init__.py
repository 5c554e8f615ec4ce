"""Queue backends (see :mod:`gradebot.backends.base` for the interface). Selected by ``config.backend``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gradebot.core.errors import ConfigError

if TYPE_CHECKING:
    from gradebot.backends.base import QueueBackend
    from gradebot.config import Config

# name -> "module:Class"; a distributed backend adds itself here
BACKENDS = {
    "embedded": "gradebot.backends.embedded:EmbeddedBackend",
    "celery": "gradebot.backends.celery_backend:CeleryBackend",
}


def load_backend(config: Config) -> QueueBackend:
    """Instantiate the backend named by ``config.backend``."""
    try:
        target = BACKENDS[config.backend]
    except KeyError:
        raise ConfigError(f"backend={config.backend!r} is unknown; available: {sorted(BACKENDS)}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(config)
