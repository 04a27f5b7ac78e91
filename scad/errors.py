"""The exceptions scad raises on purpose.

Every one of them means "the user can fix this"; the CLI prints its message on
one line and exits with its ``exit_code``. Anything else is a bug.

    ScadError
    ├── ConfigError          a config file is missing, unreadable or invalid   (exit 2)
    ├── UsageError           an argument is invalid (tag, name, path)           (exit 2)
    ├── NotFound             a named config or run does not exist               (exit 2)
    ├── HomeUnwritable       scad cannot write in its home ($SCAD_HOME)
    ├── EngineUnavailable    the Docker engine does not answer
    ├── EngineError          the engine refused a request
    │   └── LogUnavailable   the engine said, in a log stream, that it could not read the log
    ├── ImageError           an image cannot be built or used
    │   ├── BaseImageMissing the base image is absent and cannot be pulled
    │   └── BuildFailed      a build step failed
    │       └── UntrustedCertificate  it failed because it did not trust a TLS certificate
    ├── GitError             a git command failed
    ├── BranchRefused        a branch scad would build is not its to write      (exit 2)
    ├── AgentFileError       a file an agent can write is not what scad may read or replace
    │   └── AgentFileMissing it is not there
    │   └── TooManyEntries   a folder an agent can write holds more than scad lists
    ├── UnreadableClone      a clone cannot be read without trusting it
    ├── CostCheckError       ccusage cannot give its figure for a run
    ├── GatewayError         the model gateway cannot be started or reached
    ├── CredentialsError     the host's Claude login cannot be read, used or refreshed
    └── SessionError         a session cannot do what was asked
        ├── UnfetchedWork    cleaning would destroy commits the host lacks
        └── RefBusy          git in the session holds a ref scad would write (scad.code.clonewrite)
"""

from __future__ import annotations

from .text import printable

__all__ = [
    "AgentFileError",
    "AgentFileMissing",
    "BaseImageMissing",
    "BranchRefused",
    "BuildFailed",
    "ConfigError",
    "CostCheckError",
    "CredentialsError",
    "EngineError",
    "EngineUnavailable",
    "GatewayError",
    "GitError",
    "HomeUnwritable",
    "ImageError",
    "LogUnavailable",
    "NotFound",
    "ScadError",
    "SessionError",
    "TooManyEntries",
    "UnfetchedWork",
    "UnreadableClone",
    "UntrustedCertificate",
    "UsageError",
]


class ScadError(Exception):
    """Raised for any failure the user can act on; the message is one line."""

    exit_code = 1


class ConfigError(ScadError):
    """Raised when a config file is missing, unreadable or invalid."""

    exit_code = 2

    def __init__(self, file: str, message: str, *, field: str = "") -> None:
        self.file = file
        self.field = field
        self.problem = message
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {message}")


class UsageError(ScadError):
    """Raised when an argument is invalid."""

    exit_code = 2


class NotFound(ScadError):
    """Raised when a named config or run does not exist."""

    exit_code = 2


class HomeUnwritable(ScadError):
    """Raised when scad cannot write in its home; ``problem`` says which path and why."""

    FIX = "set SCAD_HOME to a folder you can write, or make this one writable"

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"scad's home is not usable: {problem}; {self.FIX}")


class EngineUnavailable(ScadError):
    """Raised when the Docker engine cannot be reached."""


class EngineError(ScadError):
    """Raised when the Docker engine refuses a request; ``status`` is its HTTP status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class LogUnavailable(EngineError):
    """Raised when the engine says, in a log's own stream, that it could not read the
    log (a swarm manager that cannot reach the node a task ran on)."""


class ImageError(ScadError):
    """Raised when an image cannot be built or used."""


class BaseImageMissing(ImageError):
    """Raised when the base image is not present and cannot be pulled."""

    def __init__(self, image: str) -> None:
        self.image = image
        super().__init__(
            f"base image {image} is not present and cannot be pulled; "
            f"load or tag it locally (docker load / docker tag ... {image}) "
            "or set image.base in the config"
        )


class BuildFailed(ImageError):
    """Raised when a step of an image build fails."""

    def __init__(self, message: str, *, step: str = "", output: tuple[str, ...] = ()) -> None:
        self.step = step
        self.output = output
        super().__init__(message)


class UntrustedCertificate(BuildFailed):
    """Raised when a build step failed because it did not trust a TLS certificate (a
    proxy that intercepts TLS); ``evidence`` is the tool's line that says so."""

    def __init__(
        self, message: str, *, evidence: str, step: str = "", output: tuple[str, ...] = ()
    ) -> None:
        self.evidence = evidence
        super().__init__(message, step=step, output=output)


class GitError(ScadError):
    """Raised when a git command fails."""


class BranchRefused(ScadError):
    """Raised when the host branch a merge would build must not be written: checked
    out in a worktree, a symbolic ref, a name git refuses, or moved meanwhile."""

    exit_code = 2


class AgentFileError(ScadError):
    """Raised when a file an agent can write is a link, not a regular file, or too large."""

    def __init__(self, path: str, problem: str) -> None:
        # Names in these messages come from an agent: shown, never obeyed by a terminal.
        self.path = printable(path)
        self.problem = printable(problem)
        super().__init__(f"{self.path} {self.problem}")


class AgentFileMissing(AgentFileError):
    """Raised when a file or folder an agent can write is not there (often simply not yet)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "does not exist")


class TooManyEntries(AgentFileError):
    """Raised when a folder an agent can write holds more entries than scad lists."""


class UnreadableClone(ScadError):
    """Raised when a run's clone cannot be read without trusting what the agent wrote."""

    def __init__(self, clone: str, problem: str) -> None:
        self.clone = clone
        self.problem = printable(problem)
        super().__init__(f"clone {clone}: {self.problem}")


class CostCheckError(ScadError):
    """Raised when ccusage cannot run or its output cannot be read."""


class GatewayError(ScadError):
    """Raised when the model gateway cannot be started or reached."""


class CredentialsError(ScadError):
    """Raised when the host's Claude login cannot be read, used or refreshed."""


class SessionError(ScadError):
    """Raised when a session cannot do what was asked."""


class UnfetchedWork(SessionError):
    """Raised when cleaning a run would destroy commits that are not in the host repo."""
