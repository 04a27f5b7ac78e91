"""`scad batch ...`: many prompts as supervised headless runs, and the batches they make."""

from __future__ import annotations

from typing import Any

import asyncclick as click

from .._groups import Lazy, LazyGroup

COMMANDS = {
    "report": Lazy(
        "scad.cli.batch.report:report",
        "Write a batch as one self-contained HTML file, to attach to a pull request or a "
        "ticket: its header, its timeline, its items and each run's summary (no script, no "
        "outside asset: any browser shows it offline).",
    ),
    "resume": Lazy(
        "scad.cli.batch.manage:resume",
        "Pick up a batch whose supervisor died: runs still going are adopted, queued "
        "prompts start.",
    ),
    "retry": Lazy(
        "scad.cli.batch.manage:retry",
        "Run again the prompts of an ended batch that did not succeed.",
    ),
    "run": Lazy(
        "scad.cli.batch.run:command",
        "Run each prompt as a headless session of CONFIG, many at once, and show them live.",
    ),
    "status": Lazy(
        "scad.cli.batch.manage:status",
        "Where a batch stands, from its logs (every batch, without BATCH_ID).",
    ),
    "stop": Lazy(
        "scad.cli.batch.manage:stop",
        "Stop a batch: its runs are stopped, kept, and end as cancelled.",
    ),
    "watch": Lazy(
        "scad.cli.batch.manage:watch",
        "Show a batch live until it ends (Ctrl-C leaves it running).",
    ),
}


class BatchGroup(LazyGroup):
    """`scad batch CONFIG ...` starts a batch; `scad batch status|watch|... ID` handles one."""

    async def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.lazy and not args[0].startswith("-"):
            args = ["run", *args]
        return await super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, "CONFIG --tag T (--prompt-file F | --prompt P ...)")
        formatter.write_usage(ctx.command_path, "status|watch|stop|resume|retry BATCH_ID")
        formatter.write_usage(ctx.command_path, "report BATCH_ID -o FILE")


@click.group(cls=BatchGroup, lazy=COMMANDS)
def batch() -> None:
    """Run many prompts at once, each as a headless run in its own container and branch.

    The batch's supervisor runs in the background and outlives the terminal;
    this command shows it live. Ctrl-C leaves it running.
    """
