"""The command groups: help that lists each command's first sentence whole, and
commands imported only when they run.

A command's module imports what the command needs (the library layers it calls,
their msgspec types, at times the Docker client), and importing every command to
run one cost several times a bare Python start. So a group names its commands in a
table, each with the module that defines it and its one-line help: ``--help`` lists
them from the table, and running one imports that one module (a test checks that
every table says what its commands say).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import asyncclick as click

__all__ = ["HelpGroup", "Lazy", "LazyGroup"]


class HelpGroup(click.Group):
    """A group whose help lists each command with its first sentence whole (click
    cuts it with ``...`` to fit one line; a wrapped sentence reads better)."""

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [
            (name, line)
            for name in self.list_commands(ctx)
            if (line := self.command_help(ctx, name)) is not None
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def command_help(self, ctx: click.Context, name: str) -> str | None:
        """Command ``name``'s line in the group's help; None when it is not listed."""
        command = self.get_command(ctx, name)
        if command is None or command.hidden:
            return None
        return command.get_short_help_str(limit=1_000)


class Lazy(NamedTuple):
    """A command of a group, not imported yet."""

    #: ``module:attribute`` of the command.
    target: str
    #: Its one-line help, as the command's own says it.
    help: str


class LazyGroup(HelpGroup):
    """A group whose commands (``lazy``, by name) are imported on first use."""

    def __init__(self, *args: Any, lazy: Mapping[str, Lazy] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name].target.split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def command_help(self, ctx: click.Context, name: str) -> str | None:
        if name in self.lazy and name not in self.commands:
            return self.lazy[name].help
        return super().command_help(ctx, name)
