"""`scad doctor [--json]`."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import asyncclick as click

from ._app import Application, pass_app_as_is
from ._json import Document, JsonCommand, JsonOutput, json_option

if TYPE_CHECKING:
    from ..doctor import Check

_LABELS = {"pass": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def _show(check: Check) -> None:
    about = f"{check.name} ({check.config})" if check.config else check.name
    click.echo(f"{_LABELS[check.status]:<6}{about}: {check.detail}")
    if check.fix and check.status in ("warn", "fail"):
        click.echo(f"      fix: {check.fix}")


#: What --json prints.
JSON = Document(("scad.cli._documents:DoctorReport",), items="checks")


@click.command("doctor", cls=JsonCommand)
@json_option(JSON, help="Print the checks as JSON.")
@pass_app_as_is
async def doctor(app: Application, as_json: JsonOutput | None) -> None:
    """Check that this host can run sessions: the engine, images, configs, credentials,
    CA certificates, disk, mounts, live-restore, and a container of each built image;
    for a config that runs on a swarm, its manager, nodes, registry, and a job on a node.

    Exits 1 when a check fails; warnings do not fail.
    """
    from ..doctor import run_checks

    if not as_json and sys.stderr.isatty():
        click.echo("checking (the container checks may take a minute)...", err=True)
    checks = await run_checks(
        app.home, os.environ, engine_factory=app.open_engine, on_check=None if as_json else _show
    )
    failed = any(check.status == "fail" for check in checks)
    if as_json:
        from ._documents import DoctorReport

        as_json.echo(DoctorReport(ok=not failed, checks=checks))
    if failed:
        raise click.exceptions.Exit(1)
