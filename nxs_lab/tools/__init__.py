"""Tool calling: a typed :class:`Toolbox`, the loop that runs it, MCP tools behind an allowlist, transcripts."""

from .loop import RunOutcome, ToolRun, TraceStep, run_tools
from .toolbox import Tool, Toolbox, ToolOutcome
from .transcript import Transcript

__all__ = ["RunOutcome", "Tool", "ToolOutcome", "ToolRun", "Toolbox", "TraceStep", "Transcript", "run_tools"]
