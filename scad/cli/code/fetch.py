"""`scad code fetch RUN_ID... | --batch B`."""

from __future__ import annotations

import asyncclick as click

from ...errors import ScadError, UsageError
from ...progress import Progress
from .._app import Application, pass_app
from .._complete import run_ids
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._progress import ProgressLine
from .._render import table

#: What --json prints.
JSON = Document(("scad.cli._documents:FetchReport",), items="runs")


@click.command("fetch", cls=JsonCommand)
@click.argument("run_id_args", metavar="[RUN_ID]...", nargs=-1, shell_complete=run_ids)
@click.option("--batch", "-b", "batch_id", help="Every run of this batch.")
@json_option(JSON)
@pass_app
async def command(
    app: Application, run_id_args: tuple[str, ...], batch_id: str | None, as_json: JsonOutput | None
) -> None:
    """Bring runs' branches into the host repos.

    New branches keep their names and branches the host has are fast-forwarded;
    a branch that diverged, a branch checked out on the host, a name that is a
    symbolic ref on the host (master -> main), or a new one whose name could pass
    for another ref (origin/main) lands under scad/RUN_ID/BRANCH instead. The host's working tree is never touched. Exits 1 when a run or a
    clone could not be fetched (each says why).
    """
    from ...batch.store import find_batch_id
    from ...code.fetch import fetch_run
    from ...sessions import select_runs

    if bool(run_id_args) == (batch_id is not None):
        raise UsageError("name runs by RUN_ID, or a batch with --batch BATCH_ID (one of them)")
    home = app.home
    if batch_id is not None:  # an unknown batch is an error, not an empty list
        batch_id = find_batch_id(home, batch_id)
    records = select_runs(home, run_ids=run_id_args, batch=batch_id)
    results, problems = [], []
    with ProgressLine(quiet=as_json is not None or len(records) < 2) as progress:
        for done, record in enumerate(records):
            progress(Progress(what="fetching runs", done=done, total=len(records)))
            try:
                result = await fetch_run(home, record)
            except ScadError as exc:
                if len(records) == 1:
                    raise
                problems.append(str(exc))
                continue
            results.append(result)
            problems += result.problems
    if as_json:
        from .._documents import FetchReport

        as_json.echo(FetchReport(runs=results, problems=problems))
    else:
        rows = [
            (
                run.run_id,
                repo.key,
                branch.branch,
                branch.target or "-",
                branch.action,
                branch.ahead,
                _files(branch.files_changed, branch.files),
            )
            for run in results
            for repo in run.repos
            for branch in repo.branches
        ]
        if rows:
            click.echo(
                table(("RUN ID", "REPO", "BRANCH", "ON THE HOST", "ACTION", "AHEAD", "FILES"), rows)
            )
        else:
            click.echo("nothing to fetch")
        for run in results:
            for repo in run.repos:
                for branch in repo.branches:
                    if why := _APART.get(branch.action):
                        why = why.format(alias_of=branch.alias_of)
                        click.echo(
                            f"{run.run_id}: {repo.key} {branch.branch} {why}; "
                            f"it is at {branch.target}"
                        )
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
    if problems:
        raise click.exceptions.Exit(1)


_APART = {
    "diverged": "diverged from the host's (which is unchanged)",
    "checked-out": "is checked out on the host (which is unchanged)",
    "aliased": "is a symbolic ref to {alias_of} on the host: not written through, "
    "and {alias_of} is unchanged",
    "misleading": "could pass for another ref of the host's, or another run's",
    "refused": "was refused by git on the host",
    "kept": "holds commits only a tag, the stash, a note or a reflog of the clone kept",
}


def _files(count: int, names: list[str]) -> str:
    if not count:
        return "-"
    shown = ", ".join(names[:3])
    return f"{count}: {shown}" + (", ..." if count > 3 else "")
