"""Capture what llama.cpp prints, wherever it prints it.

llama.cpp writes to file descriptor 2 until llama-cpp-python installs its log callback, which then writes
through Python's ``sys.stderr`` (in a Jupyter kernel, straight into the notebook). Both are caught here.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["captured_native_log"]


@contextlib.contextmanager
def captured_native_log() -> Iterator[list[str]]:
    """Collect llama.cpp's log lines while the block runs (into the yielded list, at the end)."""
    lines: list[str] = []
    py_err = io.StringIO()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), 2)
        try:
            with contextlib.redirect_stderr(py_err):
                yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode("utf-8", "replace").splitlines())
            lines.extend(py_err.getvalue().splitlines())
