"""The README's JSON reference, rendered from the documents the commands declare:
every command with ``--json``, every field and its type, nested Structs indented
under their field. ``python -m scad.cli._jsonref README.md`` writes it into the
README between its markers; a test fails when the README differs."""

from __future__ import annotations

from collections.abc import Iterator

import asyncclick as click
import msgspec
from msgspec import inspect

from ._json import SCHEMA, Document, JsonCommand

__all__ = ["END", "START", "json_commands", "reference", "with_reference"]

#: The lines the README's reference sits between.
START = "<!-- JSON reference: made by `python -m scad.cli._jsonref README.md` -->"
END = "<!-- end of the JSON reference -->"


def json_commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[str, JsonCommand]]:
    """Every command under ``group`` that prints JSON, by its path (``session status``)."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            for path, found in json_commands(command, ctx):
                yield f"{name} {path}", found
        elif isinstance(command, JsonCommand):
            yield name, command


def reference() -> str:
    """The reference, as markdown."""
    from . import cli

    ctx = click.Context(cli)
    out = [
        "## JSON reference",
        "",
        "Generated from the Structs the commands print.",
        "",
        f'Every document, and every line of JSON lines, holds `"schema": {SCHEMA}`, the',
        "version of these shapes. `--json` prints every field; `--json a,b` only those",
        "(for a command that lists things, of each item).",
    ]
    for path, command in json_commands(cli, ctx):
        document = command.json_document
        assert document is not None
        out += ["", f"### `scad {path} --json`", ""]
        out += _describe(document)
    return "\n".join(out) + "\n"


def _describe(document: Document) -> list[str]:
    lines = []
    if document.lines is not None:
        lines += ["JSON lines, each one line of a run's log:", ""]
        lines += [f"- `{name}`: str" for name in document.lines]
    for i, shape in enumerate(document.types()):
        if i:
            lines += ["", "or:", ""]
        lines += list(_fields(inspect.type_info(shape), 0, set()))
    return lines


def _fields(info: inspect.Type, depth: int, seen: set[type]) -> Iterator[str]:
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    for member in members:
        if not isinstance(member, inspect.StructType) or member.cls in seen:
            continue
        if len(members) > 1:
            yield f"{'  ' * depth}- {_tag(member)}:"
        for field in member.fields:
            nested = _struct_of(field.type)
            yield f"{'  ' * (depth + (len(members) > 1))}- `{field.encode_name}`: {_name(field.type)}"
            if nested is not None and nested.cls not in seen:
                yield from _fields(nested, depth + 1 + (len(members) > 1), seen | {member.cls})


def _tag(member: inspect.StructType) -> str:
    if member.tag_field:
        return f'`"{member.tag_field}": "{member.tag}"`'
    return member.cls.__name__


def _struct_of(info: inspect.Type) -> inspect.StructType | None:
    if isinstance(info, inspect.StructType):
        return info
    if isinstance(info, inspect.ListType | inspect.DictType):
        item = info.item_type if isinstance(info, inspect.ListType) else info.value_type
        return _struct_of(item)
    if isinstance(info, inspect.UnionType):
        found = [s for t in info.types if (s := _struct_of(t)) is not None]
        return found[0] if len(found) == 1 else None
    return None


def _name(info: inspect.Type) -> str:
    """A field's type as JSON sees it: ``int``, ``str | null``, ``list[Check]``..."""
    match info:
        case inspect.StructType():
            return info.cls.__name__
        case inspect.ListType():
            return f"list[{_name(info.item_type)}]"
        case inspect.DictType():
            return f"object of {_name(info.value_type)}"
        case inspect.UnionType():
            return " | ".join(_name(t) for t in info.types)
        case inspect.LiteralType():
            return " | ".join(msgspec.json.encode(v).decode() for v in info.values)
        case inspect.NoneType():
            return "null"
        case inspect.RawType():
            return "object (Claude's, as written)"
    return _SIMPLE.get(type(info), type(info).__name__.removesuffix("Type").lower())


_SIMPLE: dict[type, str] = {
    inspect.StrType: "str",
    inspect.IntType: "int",
    inspect.FloatType: "float",
    inspect.BoolType: "bool",
    inspect.DateTimeType: "str (ISO time)",
}


def with_reference(readme: str) -> str:
    """``readme`` with the reference between its markers made anew."""
    before, start, rest = readme.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"the README lacks the lines {START!r} and {END!r}")
    return f"{before}{START}\n{reference()}{END}{after}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    path = Path(sys.argv[1])
    path.write_text(with_reference(path.read_text()))
