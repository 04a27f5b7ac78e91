"""Notify: telling a person when something needs them, by a command that reads one
JSON document on stdin or a URL that receives it by POST; bounded, never in a run's way.

:mod:`.notice` is the document, :mod:`.deliver` one delivery, :mod:`.notifier`
deliveries in the background, :mod:`.hook` the hook an interactive session calls
when it waits for its user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .deliver import Delivery, command_argv, deliver
    from .hook import IDLE_PATH, idle_hook_settings
    from .notice import ATTENTION, NOTICE_SCHEMA, Notice, NoticeKind, encode_notice
    from .notifier import Notifier

__all__ = [
    "ATTENTION",
    "IDLE_PATH",
    "NOTICE_SCHEMA",
    "Delivery",
    "Notice",
    "NoticeKind",
    "Notifier",
    "command_argv",
    "deliver",
    "encode_notice",
    "idle_hook_settings",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "ATTENTION": "notice",
        "IDLE_PATH": "hook",
        "NOTICE_SCHEMA": "notice",
        "Delivery": "deliver",
        "Notice": "notice",
        "NoticeKind": "notice",
        "Notifier": "notifier",
        "command_argv": "deliver",
        "deliver": "deliver",
        "encode_notice": "notice",
        "idle_hook_settings": "hook",
    },
)
