"""`scad batch ...`: many prompts as supervised headless runs, and the batches they make."""

from __future__ import annotations

from typing import Any

import asyncclick as click

from .._app import HelpGroup
from . import manage, report, run


class BatchGroup(HelpGroup):
    """`scad batch CONFIG ...` starts a batch; `scad batch status|watch|... ID` handles one."""

    async def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return await super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, "CONFIG --tag T (--prompt-file F | --prompt P ...)")
        formatter.write_usage(ctx.command_path, "status|watch|stop|resume|retry BATCH_ID")
        formatter.write_usage(ctx.command_path, "report BATCH_ID -o FILE")


@click.group(cls=BatchGroup)
def batch() -> None:
    """Run many prompts at once, each as a headless run in its own container and branch.

    The batch's supervisor runs in the background and outlives the terminal;
    this command shows it live. Ctrl-C leaves it running.
    """


for command in (run.command, *manage.commands, report.report):
    batch.add_command(command)
