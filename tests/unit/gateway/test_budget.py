"""Budget decisions: the run's cap first, then its batch's; spent means at or past it."""

from __future__ import annotations

import pytest

from scad.gateway._budget import Overspent, overspent
from scad.gateway._registry import Registration


def registration(**limits: object) -> Registration:
    return Registration(
        run_id="r", secret="s", upstream="http://127.0.0.1:1", registered="now", **limits
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limits", "run_spent", "batch_spent", "expected"),
    [
        pytest.param({}, 1e9, 1e9, None, id="no-caps"),
        pytest.param({"max_usd": 1.0}, 0.99, 0.0, None, id="under-run-cap"),
        pytest.param({"max_usd": 1.0}, 1.0, 0.0, Overspent("run", 1.0, 1.0), id="at-run-cap"),
        pytest.param(
            {"batch": "b", "batch_max_usd": 5.0}, 0.1, 5.2, Overspent("batch", 5.2, 5.0), id="batch"
        ),
        pytest.param({"batch_max_usd": 5.0}, 0.1, 9.0, None, id="batch-cap-without-batch"),
        pytest.param(
            {"max_usd": 1.0, "batch": "b", "batch_max_usd": 5.0},
            2.0,
            6.0,
            Overspent("run", 2.0, 1.0),
            id="run-first",
        ),
        pytest.param({"max_usd": 0.0}, 0.0, 0.0, Overspent("run", 0.0, 0.0), id="zero-cap"),
    ],
)
def test_overspent(
    limits: dict[str, object], run_spent: float, batch_spent: float, expected: Overspent | None
) -> None:
    assert overspent(registration(**limits), run_spent, batch_spent) == expected
