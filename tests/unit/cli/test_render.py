"""What the CLI shows of text an agent wrote: what is there, never instructions to the terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from scad.cli._render import table
from scad.cli.batch._view import _note


def test_a_table_cell_shows_what_an_agent_wrote_as_it_is() -> None:
    rows = [("s\u202eexe.txt", "error (\x1b]52;c;Zm9v\x07)"), ("plain", None)]
    assert table(("SESSION", "OUTCOME"), rows).splitlines() == [
        "SESSION         OUTCOME",
        "s\\u202eexe.txt  error (\\x1b]52;c;Zm9v\\x07)",
        "plain",
    ]


def test_a_batch_note_is_text_never_markup() -> None:
    """A fetch problem quotes the branch an agent named: rich markup in it (a link, or a
    closing tag that would raise) is shown as written."""
    out = io.StringIO()
    note = "code: .git/HEAD names 'refs/heads/[link=https://example.test]ok[/link] [/]\u2066'"
    Console(file=out, width=200, color_system=None).print(_note(note))
    assert out.getvalue() == (
        "code: .git/HEAD names 'refs/heads/[link=https://example.test]ok[/link] [/]\\u2066'\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("界" * 60, id="cjk"),
        pytest.param("🙂" * 60, id="emoji"),
        pytest.param("e\u0301" * 60, id="combining"),
    ],
)
def test_a_table_fits_and_lines_up_by_the_columns_text_takes_on_a_terminal(text: str) -> None:
    """A wide character takes two columns of a terminal and a combining mark none:
    a table that counted characters would overflow its width or misalign its columns."""
    from scad.cli._render import Column, table_lines
    from scad.text import display_width

    columns = (Column("NAME", cut=True), Column("OUTCOME"), Column("COST"))
    rows = [(text, "checks-failed", "$1.0000"), ("plain", "succeeded", "$2.0000")]
    lines = table_lines(columns, rows, width=60)
    assert all(display_width(line) <= 60 for line in lines), lines
    starts = {display_width(line[: line.index(outcome)]) for line, outcome in
              zip(lines, ("OUTCOME", "checks-failed", "succeeded"), strict=True)}  # fmt: skip
    assert len(starts) == 1, lines
    assert "\u2026" in lines[1]


def test_the_cut_columns_share_the_room_left() -> None:
    """The widest cut column gives way only as far as the next: a long node's name
    and a long detail are both shown in part, neither squeezed to nothing."""
    from scad.cli._render import Column, table_lines

    columns = (Column("#"), Column("NODE", cut=True), Column("DETAIL", cut=True))
    lines = table_lines(columns, [(1, "n" * 64, "d" * 90)], width=40)
    assert lines[1] == f"1  {'n' * 16}\u2026  {'d' * 17}\u2026"
