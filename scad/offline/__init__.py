"""The offline model: a Messages API server whose answers are scripted by the prompt.

The real Claude Code binary talks to it through ``ANTHROPIC_BASE_URL``, so
scad can be tested end to end, and tried out, with no Anthropic account. The
directives are in the README ("The offline model").
"""

from .script import Answer, Failure, Turn, parse_script, plan_answer
from .server import OfflineModel, Served, serve_offline_model

__all__ = [
    "Answer",
    "Failure",
    "OfflineModel",
    "Served",
    "Turn",
    "parse_script",
    "plan_answer",
    "serve_offline_model",
]
