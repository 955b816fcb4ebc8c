"""The optional data stack (pandas, matplotlib, numpy, tqdm, gguf: the ``data`` extra) imported where it is needed.

``nxs-lab ask`` and a plain ``Provider`` need none of it, so the core install leaves it out; a call that needs a
missing piece raises :class:`~nxs_lab.errors.MissingDependency` naming the extra. A progress bar is the one
exception: without tqdm the work runs without one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from .errors import MissingDependency

__all__ = ["DATA_EXTRA", "needs", "progress"]

DATA_EXTRA = "data"
T = TypeVar("T")


@contextlib.contextmanager
def needs(extra: str = DATA_EXTRA) -> Iterator[None]:
    """Around the imports of an optional package: a missing one becomes :class:`MissingDependency` naming ``extra``.

    >>> with needs():
    ...     import json  # any import; a missing module would name the extra to install
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        raise MissingDependency((exc.name or "a module").split(".")[0], extra) from exc


def progress(iterable: Iterable[T] | None = None, **options: Any) -> Any:
    """tqdm.auto's bar over ``iterable`` (or a bar to ``update``) where tqdm is installed; without it, the iterable
    itself (or a bar that shows nothing), so the work runs the same."""
    try:
        from tqdm.auto import tqdm
    except ModuleNotFoundError:
        return iterable if iterable is not None else _NoBar()
    return tqdm(iterable, **options) if iterable is not None else tqdm(**options)


class _NoBar:
    """What :func:`progress` hands out without tqdm: every bar method, doing nothing."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        return None

    def set_description(self, text: str) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
