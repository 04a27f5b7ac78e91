"""`--json [FIELDS]` as a contract: every command's JSON is a declared document with
its schema version, FIELDS select (as gh's do), unknown ones are one line, and the
reference in the README is the one the documents render."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import asyncclick as click
import msgspec
import pytest

from scad.cli import cli
from scad.cli._json import SCHEMA, JsonCommand
from scad.cli._jsonref import json_commands, with_reference
from scad.home import Home
from scad.runs.records import RunPaths
from tests.conftest import Cli
from tests.unit.cli import test_project_commands as projects
from tests.unit.cli.test_project_commands import three_runs
from tests.unit.test_projects import add_run
from tests.unit.test_summaries import Log, headless

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_engine")]

#: Status views without an engine: states unknown, figures as last read.
no_engine = projects.no_engine

README = Path(__file__).parents[3] / "README.md"


def _commands(
    group: click.Group, ctx: click.Context, path: str = ""
) -> list[tuple[str, click.Command]]:
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            found += _commands(command, ctx, f"{path}{name} ")
        else:
            found.append((f"{path}{name}", command))
    return found


def test_every_command_with_json_declares_its_document() -> None:
    ctx = click.Context(cli)
    with_json = [
        path
        for path, command in _commands(cli, ctx)
        if any("--json" in p.opts for p in command.params if isinstance(p, click.Option))
    ]
    declared = [path for path, _ in json_commands(cli, ctx)]
    assert with_json and with_json == declared
    for path, command in json_commands(cli, ctx):
        assert isinstance(command, JsonCommand) and command.json_document is not None, path
        assert command.json_document.known(), path


def _every_field(
    info: msgspec.inspect.Type, where: str, seen: frozenset[type] = frozenset()
) -> Iterator[tuple[str, str, msgspec.inspect.Type]]:
    """Each field of a shape and the shapes inside it: (where, name, type)."""
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls in seen:
            return
        for field in info.fields:
            yield f"{where}.{info.cls.__name__}", field.encode_name, field.type
            yield from _every_field(field.type, where, seen | {info.cls})
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from _every_field(member, where, seen)
    elif isinstance(info, msgspec.inspect.ListType):
        yield from _every_field(info.item_type, where, seen)
    elif isinstance(info, msgspec.inspect.DictType):
        yield from _every_field(info.value_type, where, seen)


def _scalar(info: msgspec.inspect.Type) -> str:
    """A field's JSON kind with null left out: ``int``, ``str`` (a literal is one), ..."""
    kinds = {
        "str" if isinstance(t, msgspec.inspect.LiteralType | msgspec.inspect.StrType)
        else type(t).__name__.removesuffix("Type").lower()
        for t in (info.types if isinstance(info, msgspec.inspect.UnionType) else (info,))
        if not isinstance(t, msgspec.inspect.NoneType)
    }  # fmt: skip
    return " | ".join(sorted(kinds))


def _literals(info: msgspec.inspect.Type) -> set[object]:
    members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    return {v for t in members if isinstance(t, msgspec.inspect.LiteralType) for v in t.values}


def test_one_name_for_one_idea_across_every_document() -> None:
    """Durations are ``*_ms`` in whole milliseconds, sizes ``*_bytes``, money ``*_usd``;
    how a run ended is its ``outcome``; a name holds one kind of value everywhere."""
    ctx = click.Context(cli)
    kinds: dict[str, dict[str, str]] = {}
    for path, command in json_commands(cli, ctx):
        assert command.json_document is not None
        for shape in command.json_document.types():
            for where, name, info in _every_field(msgspec.inspect.type_info(shape), path):
                kind = _scalar(info)
                if kind in ("int", "float", "str", "bool"):
                    kinds.setdefault(name, {})[kind] = where
                if name.endswith("_ms") or name.endswith("_bytes"):
                    assert kind == "int", (where, name, kind)
                if name.endswith("_usd"):
                    assert kind == "float", (where, name, kind)
                assert not name.endswith("_s"), (where, name)
                assert name not in ("seconds", "elapsed", "size"), (where, name)
                assert name not in ("why", "error", "batch", "statuses"), (where, name)
                if "succeeded" in _literals(info):
                    assert name == "outcome", (where, name)
    mixed = {name: found for name, found in kinds.items() if len(found) > 1}
    assert mixed == {}


def test_the_reference_is_the_documents_rendered() -> None:
    """Regenerate with `python -m scad.cli._jsonref README.md`."""
    text = README.read_text()
    assert with_reference(text) == text


async def test_every_document_opens_with_its_schema(
    run_cli: Cli,
    scad_home: Path,
    tmp_path: Path,
) -> None:
    three_runs(scad_home, tmp_path)
    for args in (
        ("config", "list", "--json"),
        ("project", "status", "proj", "--json"),
        ("session", "status", "--all", "--json"),
        ("gateway", "status", "--json"),
        ("batch", "status", "--json"),
    ):
        result = await run_cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert next(iter(json.loads(result.stdout).items())) == ("schema", SCHEMA), args


async def test_json_lines_carry_the_schema_on_every_line(
    run_cli: Cli,
    scad_home: Path,
    tmp_path: Path,
) -> None:
    home = Home(scad_home)
    add_run(home, "proj-a-Dec06-1000")
    headless(Log(RunPaths(home, "proj-a-Dec06-1000")))
    lines = (await run_cli("logs", "--json")).stdout.splitlines()
    assert lines and all(json.loads(line)["schema"] == SCHEMA for line in lines)
    picked = (await run_cli("logs", "--json", "seq,event")).stdout.splitlines()
    assert picked and all(set(json.loads(line)) <= {"schema", "seq", "event"} for line in picked)


async def test_fields_select_each_listed_items_fields(
    run_cli: Cli,
    scad_home: Path,
    tmp_path: Path,
) -> None:
    three_runs(scad_home, tmp_path)
    for args in (
        ("project", "status", "proj", "--json", "run_id,outcome"),
        ("project", "status", "--json", "run_id,outcome", "proj"),
        ("project", "status", "proj", "--json=run_id,outcome"),
    ):
        result = await run_cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert json.loads(result.stdout) == {
            "schema": SCHEMA,
            "rows": [
                {"run_id": "proj-a-Nov27-1001", "outcome": "succeeded"},
                {"run_id": "proj-b-Nov27-1002", "outcome": "failed"},
                {"run_id": "proj-c-Nov27-1003", "outcome": "running"},
            ],
        }, args
    totals = json.loads((await run_cli("project", "status", "proj", "--json", "totals")).stdout)
    assert sorted(totals) == ["schema", "totals"]


async def test_a_bare_json_before_an_argument_leaves_the_argument_alone(
    run_cli: Cli,
    scad_home: Path,
    tmp_path: Path,
) -> None:
    three_runs(scad_home, tmp_path)
    result = await run_cli("project", "status", "--json", "proj")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["config"] == "proj"


@pytest.mark.parametrize(
    "args",
    [
        ("project", "status", "proj", "--json", "run_id,nope"),
        ("project", "status", "proj", "--json=nope"),
        ("session", "status", "--json", "nope"),
    ],
)
async def test_an_unknown_field_is_one_line_naming_the_known_ones(
    run_cli: Cli,
    scad_home: Path,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    three_runs(scad_home, tmp_path)
    result = await run_cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("scad: error: unknown JSON field nope; known fields: ")
    assert "run_id" in line
