"""What the CLI shows of text an agent wrote: what is there, never instructions to the terminal."""

from __future__ import annotations

import io

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
