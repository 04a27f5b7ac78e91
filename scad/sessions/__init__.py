"""Sessions: one run directory, one container, its own clones and Claude state."""

from ..runs.catchup import catch_up, follow_engine, stream_events, tail_events
from .control import CleanResult, StopResult, clean_session, select_runs, stop_sessions
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
from .status import (
    CloneInfo,
    SessionInfo,
    SessionStatus,
    TranscriptInfo,
    session_info,
    session_status,
    shared_refresh_tokens,
)
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
    "catch_up",
    "clean_session",
    "detach_keys",
    "discard_run",
    "follow_engine",
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
    "stream_events",
    "tail_events",
]
