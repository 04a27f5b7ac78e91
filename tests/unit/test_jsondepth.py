"""How deep a JSON text nests, told without decoding it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scad.runs._jsondepth import nests_within

values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet='[]{}"\\ab')),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), inner, max_size=4)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(value=values, spaced=st.booleans())
def test_the_depth_is_told_exactly(value: Any, spaced: bool) -> None:
    text = json.dumps(value, indent=1 if spaced else None).encode()
    assert nests_within(text, depth(value))
    assert depth(value) == 0 or not nests_within(text, depth(value) - 1)


@pytest.mark.parametrize(
    ("text", "limit", "within"),
    [
        pytest.param(b"[" * 5000 + b"]" * 5000, 128, False, id="deep"),
        pytest.param(b"[" * (3 << 20), 128, False, id="megabytes-of-openers"),
        pytest.param(b"]]][[[", 2, False, id="unpaired"),
        pytest.param(b'["' + b"[" * 500 + b'"]', 1, True, id="brackets-in-a-string"),
        pytest.param(b'["\\"' + b"[" * 500 + b'"]', 1, True, id="after-an-escaped-quote"),
    ],
)
def test_edges(text: bytes, limit: int, within: bool) -> None:
    assert nests_within(text, limit) is within


@pytest.mark.timeout(120)  # quadratic work on this line takes days; linear takes a second
def test_an_unclosed_string_of_escaped_quotes_is_read_in_one_pass() -> None:
    """Past the cheap count, a line of 16 MiB that opens a string and then only
    escapes quotes is measured without going over the rest of it from each quote."""
    text = b"[" * 129 + b'"' + b'\\"' * (8 << 20)
    assert not nests_within(text, 128)  # 129 openers, none closed: deeper than 128
