"""`scad demo [--cleanup]`: the whole product on a throwaway project, no API key needed."""

from __future__ import annotations

import os
import sys

import asyncclick as click

from ._app import Application, pass_app


@click.command("demo")
@click.option("--cleanup", is_flag=True, help="Remove everything the demo made.")
@pass_app
async def demo(app: Application, cleanup: bool) -> None:
    """Watch four agents work on a throwaway project, against the offline model.

    Builds the demo's image, runs a batch of four prompts that commit real changes
    (one meets a rate limit and recovers), shows it live, brings the branches home
    and totals what it cost. Everything it makes is the config `demo`'s; `scad demo
    --cleanup` removes it.
    """
    from ..batch.process import create_batch
    from ..code import git
    from ..demo import (
        DEMO_CONFIG,
        DEMO_OPTIONS,
        DEMO_PROMPTS,
        demo_repo,
        prepare_demo,
        remove_demo,
    )
    from ..offline import serve_offline_model
    from ..reports.project import project_status
    from .batch._options import supervise_here
    from .build import ProgressPrinter
    from .project import status_table

    home = app.home
    if cleanup:
        async with app.open_engine() as engine:
            removed = await remove_demo(engine, home)
        click.echo(
            f"removed the demo: {len(removed.runs)} runs, {len(removed.batches)} batches, "
            f"{len(removed.images)} image tags"
            + (", its config and repo" if removed.config else "")
        )
        return
    # The offline model takes any key; the demo never hands a real one to anything.
    os.environ["ANTHROPIC_API_KEY"] = "scad-demo-offline-model"
    os.environ.pop("CLAUDE_CODE_OAUTH_TOKEN", None)
    async with serve_offline_model() as model:
        config = await prepare_demo(home, model.url)
        repo = demo_repo(home)
        click.echo(f"scad demo: a project in {repo}, the offline model at {model.url}")
        click.echo("[1/3] building the demo's image (the first time takes a few minutes)")
        printer = ProgressPrinter(verbose=False, live=sys.stdout.isatty())
        async with app.open_engine() as engine:
            manifest = await create_batch(
                engine, home, config, DEMO_PROMPTS, tag="greeter", source="scad demo",
                options=DEMO_OPTIONS, build_progress=printer,
            )  # fmt: skip
        printer.close()
        click.echo(
            f"[2/3] {len(manifest.items)} agents at work, each in its own container and branch"
        )
        view = await supervise_here(app, config, manifest.batch_id, as_json=None)
    click.echo("[3/3] their branches, fetched into the demo's repo:")
    listing = await git.git(repo, "branch", "--list", "--format=%(refname:short)  %(subject)")
    click.echo("".join(f"  {line}\n" for line in listing.splitlines()), nl=False)
    async with app.open_engine() as engine:
        status = await project_status(engine, home, DEMO_CONFIG)
    click.echo(f"\nscad project status {DEMO_CONFIG}:\n{status_table(status, cost=False)}")
    batch = manifest.batch_id
    hints = [
        (f"scad batch status {batch}", "the batch's table"),
        (f"scad logs --batch {batch}", "what the agents did, merged"),
        (f"scad project status {DEMO_CONFIG} --cost", "ccusage's count beside scad's"),
        (f"git -C {repo} log --all --oneline --graph", "the branches they made"),
    ]
    width = max(len(command) for command, _ in hints)
    click.echo("\nlook around:")
    click.echo("".join(f"  {command:<{width}}  {what}\n" for command, what in hints), nl=False)
    click.echo("clean up:\n  scad demo --cleanup")
    if not view.succeeded:
        raise click.exceptions.Exit(1)
