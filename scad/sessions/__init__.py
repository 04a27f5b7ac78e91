"""Sessions: one run directory, one container, its own clones and Claude state.

Each name is loaded on first use: a status view takes the status module, not the
machinery that starts and resumes sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .control import CleanResult, StopResult, clean_session, select_runs, stop_sessions
    from .info import CloneInfo, SessionInfo, TranscriptInfo, session_info
    from .restart import Resumed, prepare_restart, resume_session
    from .start import (
        Prepared,
        SessionRefresh,
        discard_run,
        prepare_session,
        refresh_session,
        run_session,
        start_session,
    )
    from .status import SessionStatus, session_status, shared_refresh_tokens
    from .terminal import attach_command, detach_keys, pane_text

__all__ = [
    "CleanResult",
    "CloneInfo",
    "Prepared",
    "Resumed",
    "SessionInfo",
    "SessionRefresh",
    "SessionStatus",
    "StopResult",
    "TranscriptInfo",
    "attach_command",
    "clean_session",
    "detach_keys",
    "discard_run",
    "pane_text",
    "prepare_restart",
    "prepare_session",
    "refresh_session",
    "resume_session",
    "run_session",
    "select_runs",
    "session_info",
    "session_status",
    "shared_refresh_tokens",
    "start_session",
    "stop_sessions",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "CleanResult": "control",
        "CloneInfo": "info",
        "Prepared": "start",
        "Resumed": "restart",
        "SessionInfo": "info",
        "SessionRefresh": "start",
        "SessionStatus": "status",
        "StopResult": "control",
        "TranscriptInfo": "info",
        "attach_command": "terminal",
        "clean_session": "control",
        "detach_keys": "terminal",
        "discard_run": "start",
        "pane_text": "terminal",
        "prepare_restart": "restart",
        "prepare_session": "start",
        "refresh_session": "start",
        "resume_session": "restart",
        "run_session": "start",
        "select_runs": "control",
        "session_info": "info",
        "session_status": "status",
        "shared_refresh_tokens": "status",
        "start_session": "start",
        "stop_sessions": "control",
    },
)
