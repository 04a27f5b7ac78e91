"""The local web view of a home's runs and batches: live pages served on 127.0.0.1
behind a token, reading the same logs every other view reads; its few actions are
the very library calls the commands make."""

from __future__ import annotations

from ._launch import launch_page
from ._serve import Serving, serve_ui
from ._sources import Sources

__all__ = ["Serving", "Sources", "launch_page", "serve_ui"]
