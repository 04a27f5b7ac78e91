"""The root group: lazy command loading and the one place errors are reported."""

from __future__ import annotations

import importlib
from typing import Any

import asyncclick as click

from ..errors import ScadError


class ScadGroup(click.Group):
    """A group whose commands are imported on first use.

    Domain errors (:class:`ScadError`) end the command here with one line on
    stderr and the error's exit code; anything else is a bug and keeps its
    traceback.
    """

    def __init__(
        self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    async def invoke(self, ctx: click.Context) -> Any:
        try:
            return await super().invoke(ctx)
        except ScadError as exc:
            abort(exc)


def abort(exc: ScadError) -> Any:
    click.echo(f"scad: error: {exc}", err=True)
    raise click.exceptions.Exit(exc.exit_code)
