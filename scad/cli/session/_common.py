"""Helpers the session commands share: prompts, confirmation, selection."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from ...errors import UsageError
from .._confirm import confirm


def read_prompt(prompt: str | None, prompt_file: Path | None) -> str | None:
    if prompt is not None and prompt_file is not None:
        raise UsageError("give either --prompt or --prompt-file, not both")
    if prompt_file is None:
        return prompt
    try:
        return prompt_file.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the prompt file {prompt_file}: {exc.strerror}") from None


def prompt_options(function):  # type: ignore[no-untyped-def]
    function = click.option(
        "--prompt-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the prompt from a file.",
    )(function)
    return click.option("--prompt", "-p", help="What Claude should do.")(function)


def confirm_many(action: str, run_ids: list[str], yes: bool) -> None:
    """Ask before acting on several sessions; without a terminal, --yes is required."""
    if len(run_ids) <= 1 or yes:
        return
    listing = "".join(f"  {r}\n" for r in run_ids)
    confirm(
        f"{listing}{action} these {len(run_ids)} sessions?",
        refusal=f"{action} {len(run_ids)} sessions? pass --yes to confirm",
    )


def selection_options(function):  # type: ignore[no-untyped-def]
    function = click.option(
        "--yes", "-y", is_flag=True, help="Do not ask before acting on several."
    )(function)
    function = click.option("--config", "config_name", help="Every session of this config.")(
        function
    )
    function = click.option("--all", "all_runs", is_flag=True, help="Every session.")(function)
    return function


def check_selection(run_ids: tuple[str, ...], all_runs: bool, config_name: str | None) -> None:
    given = sum([bool(run_ids), all_runs, config_name is not None])
    if given != 1:
        raise UsageError("name sessions by RUN_ID, or use --all or --config CONFIG (one of them)")
