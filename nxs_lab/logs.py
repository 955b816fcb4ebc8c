"""The kit's log lines, and how to see them.

The kit logs under the ``nxs_lab`` logger: INFO for what a user should know happened (a failover, a breaker that
opens or closes, a prompt the server cut, a request refitted after an overflow), DEBUG for each call. No line
carries message content or a key. Nothing is printed unless asked: ``NXS_LAB_LOG=info`` (or ``debug``) in the
environment, :func:`configure` in code, ``-v`` / ``-vv`` on the command line.

    >>> import logging
    >>> configure("info", stream=None) is logging.getLogger("nxs_lab")
    True
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

__all__ = ["LOG_ENV", "configure", "configure_from_env", "search"]

LOG_ENV = "NXS_LAB_LOG"
_FORMAT = "%(asctime)s nxs_lab %(levelname)s %(name)s: %(message)s"


class _KitHandler(logging.StreamHandler):
    """The one handler :func:`configure` installs (replaced, never stacked, when called again)."""


def configure(level: str | int = "info", *, stream: IO[str] | None = sys.stderr) -> logging.Logger:
    """Show the kit's log lines at ``level`` (``"debug"``, ``"info"``, ``"warning"`` …) on ``stream``
    (``None``: set the level only, for a handler of your own)."""
    logger = logging.getLogger("nxs_lab")
    resolved = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(resolved, int):
        raise ValueError(f"{level!r} is not a log level (debug, info, warning, error)")
    logger.setLevel(resolved)
    for h in [h for h in logger.handlers if isinstance(h, _KitHandler)]:
        logger.removeHandler(h)
    if stream is not None:
        handler = _KitHandler(stream)
        handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        logger.addHandler(handler)
    return logger


def configure_from_env(environ: Mapping[str, str] | None = None) -> None:
    """Apply ``NXS_LAB_LOG`` when it is set (a bad value is said once, on stderr, and ignored)."""
    value = (os.environ if environ is None else environ).get(LOG_ENV)
    if not value:
        return
    try:
        configure(value)
    except ValueError as exc:
        print(f"nxs_lab: {LOG_ENV}: {exc}", file=sys.stderr)


def search(words: str, **kw: Any) -> Any:
    """The logged calls whose question or answer holds ``words`` (see :func:`nxs_lab.logsearch.search`)."""
    from .logsearch import search as find

    return find(words, **kw)
