"""Shell completion callbacks: synchronous, reading only ``$SCAD_HOME``."""

from __future__ import annotations

from typing import Any

from asyncclick.shell_completion import CompletionItem

from ..home import scad_home


def config_names(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in scad_home().config_names() if n.startswith(incomplete)]


def run_ids(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(r) for r in scad_home().run_ids() if r.startswith(incomplete)]
