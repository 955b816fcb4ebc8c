"""Local against cloud, measured: the same tasks through each endpoint, latency and quality side by side.

>>> import nxs_lab as nx
>>> ev = nx.evaluate({"lmstudio": lmstudio, "kimi": kimi}, repetitions=3)   # doctest: +SKIP
>>> ev.summary(); ev.win_rates(); ev.plot(); ev.verdict()                   # doctest: +SKIP
"""

from .judge import DEFAULT_RUBRIC, Judge, JudgeError
from .report import Evaluation, load_history, plot_history
from .run import evaluate
from .scorers import SCORERS, from_check
from .tasks import TOOLS, Task, load_tasks, shipped_tasks

__all__ = [
    "DEFAULT_RUBRIC",
    "SCORERS",
    "TOOLS",
    "Evaluation",
    "Judge",
    "JudgeError",
    "Task",
    "evaluate",
    "from_check",
    "load_history",
    "load_tasks",
    "plot_history",
    "shipped_tasks",
]
