"""`scad code merge BATCH --into BRANCH [--only passed|RUN]... [--check | --dry-run]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncclick as click

from ...text import printable
from .._app import Application, pass_app
from .._json import Document, JsonCommand, JsonOutput, json_option
from .._render import table

if TYPE_CHECKING:
    from ...review.merge import BatchMerge, RepoMerge
    from ...runs.envelopes import Checked

#: What --json prints.
JSON = Document(("scad.review.merge:BatchMerge",), items="repos")
#: The table's width: it fits a terminal of 80 columns.
WIDTH = 80


@click.command("merge", cls=JsonCommand)
@click.argument("batch_text", metavar="BATCH")
@click.option("--into", "branch", required=True, metavar="BRANCH", help="The branch to build.")
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="passed|RUN",
    help="The runs to merge: those that passed (the default), or runs by id "
    "(a unique beginning will do; repeat, or separate with commas).",
)
@click.option(
    "--check",
    "check",
    is_flag=True,
    help="Judge each branch written with the config's checks, as a run's commits are.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be merged; write no branch.")
@json_option(JSON)
@pass_app
async def command(
    app: Application,
    batch_text: str,
    branch: str,
    only: tuple[str, ...],
    check: bool,
    dry_run: bool,
    as_json: JsonOutput | None,
) -> None:
    """Merge a batch's runs into BRANCH of each host repo, one run at a time.

    Each prompt's final run is merged in the batch's order, each as a merge
    commit that names it; a run that conflicts is left out and its conflicting
    files named. Merging happens in git's object store: no working tree, index
    or HEAD is touched, and a BRANCH checked out in any worktree is refused.
    BRANCH starts where it is, or, when new, where the runs started (the
    commit of the host's branch they were cloned from). A BRANCH that moves
    while the runs are merged is left as it is.

    With --check, the branches as merged are judged by the batch's config's
    checks (each in a fresh container of the config's image, as a run's
    commits are) before the user looks.

    Exits 0 when every chosen run merged (or the branch held it already) and
    every check passed, 1 when any run was left out or any check failed.
    """
    from ...code.merge import check_branch_name
    from ...errors import UsageError
    from ...review.merge import check_merge, choose_runs, merge_batch

    if check and dry_run:
        raise UsageError("--check judges the branches written; it does not go with --dry-run")
    check_branch_name(branch)
    wanted = [part.strip() for text in only for part in text.split(",") if part.strip()]
    chosen = choose_runs(app.home, batch_text, wanted)
    result = await merge_batch(app.home, chosen.batch_id, chosen.run_ids, branch, dry_run=dry_run)
    if check:
        async with app.open_engine() as engine:
            result = await check_merge(engine, app.home, result)
    if as_json:
        as_json.echo(result)
    else:
        _show(result, dry_run)
    if result.left_out or result.checks_failed:
        raise click.exceptions.Exit(1)


def _show(result: BatchMerge, dry_run: bool) -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    for repo in result.repos:
        rows += [(r.run_id, repo.key, "merged", r.merge[:12], "-") for r in repo.merged]
        rows += [(run_id, repo.key, "current", "-", "nothing to merge") for run_id in repo.current]
        for left in repo.left_out:
            why = left.problem or _files(left.conflicts, left.conflicts_cut, left.files)
            rows.append((left.run_id, repo.key, "left out", (left.commit or "-")[:12], why))
    order = {run_id: n for n, run_id in enumerate(result.run_ids)}
    rows.sort(key=lambda row: (row[1], order.get(row[0], 0)))
    click.echo(table(("RUN ID", "REPO", "RESULT", "COMMIT", "CONFLICTS"), rows, width=WIDTH))
    for repo in result.repos:
        click.echo(_summary(repo, dry_run))
    if result.checks == []:
        click.echo("checks: the config names none")
    for checked in result.checks or ():
        click.echo(f"check {printable(checked.name)}: {_verdict(checked)}")


def _verdict(checked: Checked) -> str:
    seconds = f"{checked.duration_ms / 1000:.1f}s"
    if checked.passed:
        return f"passed ({seconds})"
    if checked.stop == "timed-out":
        return f"stopped: past its time limit ({seconds})"
    if checked.exit_code is None:
        return "stopped: it could not start"
    return f"failed with exit code {checked.exit_code} ({seconds})"


def _files(count: int, cut: bool, names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return f"{count}{'+' if cut else ''}: {shown}" + (", ..." if cut or count > 3 else "")


def _summary(repo: RepoMerge, dry_run: bool) -> str:
    counts = f"{len(repo.merged)} merged, {len(repo.left_out)} left out"
    if repo.commit == repo.start:
        return f"{repo.key}: nothing merged; {repo.branch} is unchanged ({counts})"
    verb = "would be" if dry_run else "is"
    where = f"{repo.branch} {verb} at {repo.commit[:12]}"
    was = f"was {repo.previous[:12]}" if repo.previous else "new"
    tail = "; nothing written" if dry_run else ""
    return f"{repo.key}: {where} ({was}); {counts}{tail}"
