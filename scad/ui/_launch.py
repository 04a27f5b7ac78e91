"""The page ``scad ui --open`` hands a browser: a file only this user can read that
refreshes to the address with its token, so the token is never in the browser's
argument list (which every local user can read in /proc)."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["launch_page"]


def launch_html(url: str) -> str:
    """A page that sends the browser on to ``url`` (no script: a refresh, and a link)."""
    quoted = html.escape(url)
    return (
        '<!doctype html>\n<meta charset="utf-8">\n<meta name="referrer" content="no-referrer">\n'
        f'<meta http-equiv="refresh" content="0; url={quoted}">\n'
        f'<title>scad ui</title>\n<p><a href="{quoted}">Open the web view</a></p>\n'
    )


@contextmanager
def launch_page(url: str) -> Iterator[Path]:
    """The page for ``url``, in a folder of its own (0700) that is removed when the
    block ends; the file is 0600 and made new, never one found there."""
    with tempfile.TemporaryDirectory(prefix="scad-ui-") as folder:
        page = Path(folder) / "open.html"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(page, flags, 0o600), "w", encoding="utf-8") as file:
            file.write(launch_html(url))
        yield page
