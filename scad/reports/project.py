"""A config's runs side by side: state, outcome, what each cost, and the work it holds.

Each run's state and totals come as ``session status`` makes them (its log's
summary cached beside it, see :mod:`scad.runs.summaries`); the commits a run's clones
hold beyond the host repo's default branch are counted in scad's store of each
clone (:mod:`scad.code.snapshot`): git never runs in a clone.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..code import git, hostrepo
from ..code.borrowed import run_lender
from ..code.snapshot import snapshot_clone
from ..errors import CostCheckError, GitError, NotFound, UnreadableClone
from ..gateway import load_registration
from ..home import Home
from ..progress import OnProgress, Progress
from ..runs.accounting import RunSummary
from ..runs.gatewaylog import GatewayUsage, add_usage, gateway_usage
from ..runs.ledger import Collected, collected_runs
from ..runs.records import RunPaths, RunRecord, list_runs
from ..sessions.status import SessionStatus, run_statuses
from ..taskgroups import open_task_group
from .ccusage import ccusage_command, ccusage_report

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "PARALLEL_RUNS",
    "ProjectRow",
    "ProjectStatus",
    "ProjectTotals",
    "RunFigures",
    "config_runs",
    "project_status",
]

#: Runs looked at at once (each may run git a few times), and ccusage processes at once.
PARALLEL_RUNS = 8
CCUSAGE_RUNS = 4


class RunFigures(msgspec.Struct, kw_only=True):
    """What a run, or runs together, took: a row's figures and the totals'.

    ``duration_ms`` is what Claude reported: the sum of the ``duration_ms`` of the
    conversations that reached their result (0 while none has); time spent in a
    container before or after Claude, or in a conversation with no result, is not
    counted.
    """

    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    #: The cost counts a conversation still going at its usage's price.
    cost_estimated: bool = False
    duration_ms: int = 0
    #: Cost and tokens as ccusage counts them from Claude's transcripts (``--cost``);
    #: in totals, over the runs it counted.
    ccusage_cost_usd: float | None = None
    ccusage_tokens: int | None = None
    #: What the model gateway measured of the run's requests, where no agent can
    #: write; None for a run made before the gateway. In totals, over such runs.
    gateway: GatewayUsage | None = None

    def add(self, other: RunFigures) -> None:
        self.turns += other.turns
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_creation_tokens += other.cache_creation_tokens
        self.cost_usd += other.cost_usd
        self.cost_estimated |= other.cost_estimated
        self.duration_ms += other.duration_ms
        if other.ccusage_tokens is not None:  # ccusage counted it: both figures are there
            self.ccusage_tokens = (self.ccusage_tokens or 0) + other.ccusage_tokens
            self.ccusage_cost_usd = (self.ccusage_cost_usd or 0.0) + (other.ccusage_cost_usd or 0.0)
        if other.gateway is not None:
            self.gateway = add_usage(self.gateway or GatewayUsage(), other.gateway)


class ProjectRow(RunFigures, kw_only=True):
    """One run of the config."""

    run_id: str
    created: str
    #: As ``session status`` says (running, exited, stopped, missing, cleaned, unknown,
    #: ...), or ``collected``: gc removed its folder and the ledger kept its figures.
    state: str
    exit_code: int | None = None
    #: How the run's last container ended (succeeded, failed, ..., or running); None
    #: for an interactive run (Claude in a terminal reports no result) or one never started.
    outcome: str | None = None
    branch: str
    #: Commits on the run's clones' branches that the host repos' default branches
    #: lack, all clones together; None when the clones are gone (the run was cleaned)
    #: or one could not be read (see ``problem``).
    ahead: int | None = None
    problem: str | None = None


class ProjectTotals(RunFigures, kw_only=True):
    """The rows summed up."""

    runs: int = 0
    #: How many runs ended each way (runs with no outcome are not counted).
    outcomes: dict[str, int] = {}
    #: Commits ahead, over the runs where they could be counted.
    ahead: int = 0


class ProjectStatus(msgspec.Struct, kw_only=True):
    config: str
    rows: list[ProjectRow]
    totals: ProjectTotals
    #: Why ccusage gave no figures, when it was asked and could not.
    cost_problem: str | None = None


def config_runs(home: Home, config: str) -> list[RunRecord]:
    """The runs of ``config``, oldest first (a cheap look at ``$SCAD_HOME`` alone).

    Raises NotFound when no config of that name is registered and no run has it,
    collected or not; a registered config with no runs has none.
    """
    records = [record for record in list_runs(home) if record.config == config]
    path = home.config_file(config)
    if not records and not (path.exists() or path.is_symlink()) and not _collected(home, config):
        raise NotFound(f'no config "{config}" and no runs of it; see `scad config list`')
    return records


def _collected(home: Home, config: str) -> list[Collected]:
    return [entry for entry in collected_runs(home) if entry.record.config == config]


async def project_status(
    engine: Engine | None,
    home: Home,
    config: str,
    *,
    runs: list[RunRecord] | None = None,
    cost: bool = False,
    cleaned: bool = True,
    progress: OnProgress | None = None,
) -> ProjectStatus:
    """Every run of ``config`` (or ``runs``, from :func:`config_runs`), oldest first,
    with totals; with ``cost`` also ccusage's cost and tokens for each run that still
    has its transcripts (all of them, or none and ``cost_problem`` says why). Runs
    that were cleaned, and those gc collected (from the ledger), count unless
    ``cleaned`` is False. ``progress`` hears each run ccusage has counted (it takes
    seconds a run).

    Without an engine, states are ``unknown`` (as in ``session status``). Raises
    NotFound as :func:`config_runs` does.
    """
    records = await anyio.to_thread.run_sync(config_runs, home, config) if runs is None else runs
    if not cleaned:
        records = [record for record in records if not record.cleaned]
    statuses = await run_statuses(engine, home, records)
    rows = [_row(status) for status in statuses]
    limiter = anyio.CapacityLimiter(PARALLEL_RUNS)
    bases = _DefaultBranches()

    async def count(row: ProjectRow, paths: RunPaths, record: RunRecord, keys: list[str]) -> None:
        async with limiter:
            await _count_ahead(row, paths, record, keys, bases)

    async with open_task_group() as tg:
        for row, record in zip(rows, records, strict=True):
            paths = RunPaths(home, record.run_id)
            # A cleaned run's clones are gone; a link where a clone belongs is read (and refused).
            keys = [k for k in record.repos if os.path.lexists(paths.clone(k))]
            if keys and not record.cleaned:
                tg.start_soon(count, row, paths, record, keys)
    await anyio.to_thread.run_sync(_gateway_figures, home, records, rows)
    cost_problem = None
    if cost:
        try:
            await _ccusage_figures(home, records, rows, ccusage_command(os.environ), progress)
        except CostCheckError as exc:
            cost_problem = str(exc)
            for row in rows:  # a partial count would read as the whole
                row.ccusage_cost_usd = row.ccusage_tokens = None
    if cleaned:
        collected = await anyio.to_thread.run_sync(_collected, home, config)
        rows = sorted([*rows, *map(_collected_row, collected)], key=lambda row: row.created)
    return ProjectStatus(config=config, rows=rows, totals=_totals(rows), cost_problem=cost_problem)


async def _ccusage_figures(
    home: Home,
    records: list[RunRecord],
    rows: list[ProjectRow],
    command: list[str],
    progress: OnProgress | None,
) -> None:
    """ccusage's figures into the rows of runs that still have their transcripts; the
    first reason it cannot give one (raised) ends the asking for all."""
    limiter = anyio.CapacityLimiter(CCUSAGE_RUNS)
    counted = [
        (row, record) for row, record in zip(rows, records, strict=True) if not record.cleaned
    ]
    done = 0

    def told() -> None:
        if progress is not None:
            progress(Progress(what="counting cost with ccusage", done=done, total=len(counted)))

    async def one(row: ProjectRow, record: RunRecord) -> None:
        nonlocal done
        async with limiter:
            report = await ccusage_report(RunPaths(home, record.run_id).claude_dir, command)
        row.ccusage_cost_usd, row.ccusage_tokens = report.cost_usd, report.usage.total
        done += 1
        told()

    told()
    async with open_task_group() as tg:
        for row, record in counted:
            tg.start_soon(one, row, record)


def _gateway_figures(home: Home, records: list[RunRecord], rows: list[ProjectRow]) -> None:
    """The gateway's figures into the rows of runs registered with it."""
    for row, record in zip(rows, records, strict=True):
        if load_registration(home, record.run_id) is not None:
            row.gateway = gateway_usage([RunPaths(home, record.run_id).gateway_events])


def _row(status: SessionStatus) -> ProjectRow:
    return _figures(
        status.summary,
        run_id=status.run_id,
        created=status.created,
        state=status.state,
        exit_code=status.exit_code,
        outcome=status.outcome if status.mode == "headless" else None,
        branch=status.branch,
    )


def _collected_row(entry: Collected) -> ProjectRow:
    record = entry.record
    return _figures(
        entry.log.summary,
        run_id=record.run_id,
        created=record.created,
        state="collected",
        outcome=entry.log.outcome if record.mode == "headless" else None,
        branch=record.branch,
    )


def _figures(
    summary: RunSummary,
    *,
    run_id: str,
    created: str,
    state: str,
    outcome: str | None,
    branch: str,
    exit_code: int | None = None,
) -> ProjectRow:
    usage = summary.usage
    return ProjectRow(
        run_id=run_id,
        created=created,
        state=state,
        exit_code=exit_code,
        outcome=outcome,
        turns=summary.turns,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
        cost_usd=summary.cost_usd,
        cost_estimated=summary.cost_estimated,
        duration_ms=summary.duration_ms,
        branch=branch,
    )


class _DefaultBranches:
    """Each host repo's default branch tip, looked up once however many runs ask."""

    def __init__(self) -> None:
        self._tips: dict[str, str | None] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def tip(self, host_repo: str) -> str | None:
        async with self._locks.setdefault(host_repo, anyio.Lock()):
            if host_repo not in self._tips:
                self._tips[host_repo] = await hostrepo.default_tip(Path(host_repo))
            return self._tips[host_repo]


async def _count_ahead(
    row: ProjectRow, paths: RunPaths, record: RunRecord, keys: list[str], bases: _DefaultBranches
) -> None:
    """Fill in ``row.ahead`` (and ``row.problem``) from the run's clones ``keys``."""
    total = 0
    problems: list[str] = []
    for key in keys:
        try:
            lender = run_lender(paths.home, record, key)
            count = await _clone_ahead(
                paths.clone(key), paths.store(key), record.repos[key], lender, bases
            )
        except UnreadableClone as exc:
            problems.append(f"{key}: {exc.problem}")
            continue
        except GitError as exc:
            problems.append(f"{key}: {exc}")
            continue
        total += count
    row.ahead = None if problems else total
    row.problem = "; ".join(problems) or None


async def _clone_ahead(
    clone: Path, store: Path, host_repo: str, lender: Path, bases: _DefaultBranches
) -> int:
    """How many commits the clone's branches (and a detached HEAD) hold that the host
    repo's default branch lacks, counted in scad's store of the clone."""
    snapshot = await snapshot_clone(clone, store, Path(host_repo), borrowed=lender)
    tips = set(snapshot.branches.values())
    if snapshot.detached:
        tips.add(snapshot.detached)
    if not tips:
        return 0
    base = await bases.tip(host_repo)
    if base is None:
        raise GitError(f"{host_repo} has no default branch to count from")
    # The host's commits are in the store through its alternates.
    return await git.count_commits(store, tips, [base])


def _totals(rows: list[ProjectRow]) -> ProjectTotals:
    totals = ProjectTotals(
        runs=len(rows),
        outcomes=dict(Counter(row.outcome for row in rows if row.outcome is not None)),
        ahead=sum(row.ahead for row in rows if row.ahead is not None),
    )
    for row in rows:
        totals.add(row)
    return totals
