"""What a terminal shows of text an agent wrote is what is there."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scad.text import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("fix: parser", "fix: parser", id="plain"),
        pytest.param("Grüße, 世界 🎉", "Grüße, 世界 🎉", id="letters-and-emoji"),
        pytest.param("evil\u202egpj.exe", "evil\\u202egpj.exe", id="right-to-left-override"),
        pytest.param("a\u2066b\u2069", "a\\u2066b\\u2069", id="isolates"),
        pytest.param("main\u200b", "main\\u200b", id="zero-width-space"),
        pytest.param("x\ufeffy\u00adz", "x\\ufeffy\\xadz", id="bom-and-soft-hyphen"),
        pytest.param("tag\U000e0041", "tag\\U000e0041", id="tag-character"),
        pytest.param("\x1b]52;c;Zm9v\x07", "\\x1b]52;c;Zm9v\\x07", id="osc-clipboard"),
        pytest.param("a\u2028b\u00a0c", "a\\u2028b\\xa0c", id="separators"),
        pytest.param("bad\udcff", "bad\\udcff", id="not-utf8"),
    ],
)
def test_what_is_shown(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text())
def test_nothing_a_terminal_hides_or_reorders_gets_through(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable()
    hidden = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    assert not any(unicodedata.category(char) in hidden for char in shown)


@given(st.text())
def test_text_that_shows_as_itself_is_left_alone(text: str) -> None:
    if text.isprintable():
        assert printable(text) == text
    else:
        assert printable(text) != text
