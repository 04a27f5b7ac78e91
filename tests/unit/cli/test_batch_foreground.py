"""`scad batch --foreground`: the view in the supervisor's own process."""

from __future__ import annotations

import anyio
import pytest

from scad.cli import _app
from scad.cli._json import JsonOutput
from scad.cli.batch import _view
from scad.cli.batch._options import supervise_here
from scad.cli.batch._view import VIEW_JSON
from scad.config.schema import Config
from scad.home import Home
from tests.conftest import opening
from tests.unit.test_dispatch import OK, Scripted, make_batch, project

__all__ = ["project"]

pytestmark = pytest.mark.anyio


async def test_the_view_shows_the_end_as_soon_as_its_supervisor_is_done(
    project: tuple[Home, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    """However long the view pauses between looks, the end is shown once the
    supervisor in its process is done, not a pause later."""
    monkeypatch.setattr(_view, "LOOK_SECONDS", 3600.0)
    monkeypatch.setattr(_view, "REDRAW_SECONDS", 3600.0)
    home, config = project
    batch_id = make_batch(home, ["a", "b"])
    engine = Scripted({"01": [OK], "02": [OK]})
    app = _app.Application.with_engine(home, opening(engine))
    async with anyio.create_task_group() as tg:
        engine.tg = tg  # type: ignore[attr-defined]
        with anyio.fail_after(30):
            view = await supervise_here(app, config, batch_id, as_json=JsonOutput(VIEW_JSON, None))
    assert view.succeeded
    assert [row.outcome for row in view.rows] == ["succeeded", "succeeded"]
