"""The root group: the one place errors are reported, and the application every
command is handed (the scad home and the way to the engine)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

import asyncclick as click

from ..errors import ScadError, UsageError
from ..home import Home, scad_home
from ._groups import LazyGroup

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "Application",
    "EngineFactory",
    "ScadGroup",
    "abort",
    "pass_app",
    "pass_app_as_is",
]

P = ParamSpec("P")
R = TypeVar("R")


class EngineFactory(Protocol):
    """Opens an engine whose pool holds ``max_connections`` streams at once."""

    def __call__(self, *, max_connections: int = ...) -> AbstractAsyncContextManager[Engine]: ...


@dataclass(frozen=True)
class Application:
    """What every command shares, on the click context: the scad home, the engine,
    and the socket engine (a local container's life and the listings without the
    Docker client: see :func:`scad.engine.open_socket_engine`).
    A command never reads ``SCAD_HOME`` or opens an engine of its own; tests hand
    the root group an application of theirs (``obj=``)."""

    home: Home
    open_engine: EngineFactory
    open_socket_engine: Callable[[], AbstractAsyncContextManager[Engine]]

    @classmethod
    def for_host(cls) -> Application:
        """``$SCAD_HOME`` and the engine at ``DOCKER_HOST`` (else the local socket)."""
        return cls(scad_home(), _open_docker, _open_docker_socket)

    @classmethod
    def with_engine(cls, home: Home, open_engine: EngineFactory) -> Application:
        """``home``, and ``open_engine``'s engine in place of the socket engine too."""
        return cls(home, open_engine, open_engine)


def _open_docker(*, max_connections: int = 100) -> AbstractAsyncContextManager[Engine]:
    from ..engine import open_engine  # the face: aiodocker is imported when it is opened

    return open_engine(max_connections=max_connections)


def _open_docker_socket() -> AbstractAsyncContextManager[Engine]:
    from ..engine import open_socket_engine

    return open_socket_engine()


def pass_app(f: Callable[Concatenate[Application, P], R]) -> Callable[P, R]:
    """Hands a command the :class:`Application` as its first argument, once its home
    is known to be writable (every command writes there, status views included: they
    catch logs up): otherwise the command ends with one line saying where and why."""

    def new_func(*args: P.args, **kwargs: P.kwargs) -> R:
        app: Application = click.get_current_context().obj
        app.home.require_writable()
        return f(app, *args, **kwargs)

    return update_wrapper(new_func, f)


#: Hands a command the :class:`Application` whatever its home is like (``doctor``
#: reports an unwritable home among its checks).
pass_app_as_is = click.pass_obj


class ScadGroup(LazyGroup):
    """The root group, its commands imported on first use.

    Domain errors (:class:`ScadError`) end the command here with one line on
    stderr and the error's exit code, and so does a value an option's type refuses
    (exit 2, as a usage error); anything else is a bug and keeps its traceback.
    """

    async def invoke(self, ctx: click.Context) -> Any:
        try:
            return await super().invoke(ctx)
        except ScadError as exc:
            abort(exc)
        except click.BadParameter as exc:
            if isinstance(exc, click.MissingParameter) or exc.param is None:
                raise
            abort(UsageError(f"{_spelled(exc.param)}: {exc.message.rstrip('.')}"))


def _spelled(param: click.Parameter) -> str:
    """A parameter as the user gives it: an option's longest name, an argument's."""
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return (param.metavar or param.name or "argument").upper()


def abort(exc: ScadError) -> Any:
    click.echo(f"scad: error: {exc}", err=True)
    raise click.exceptions.Exit(exc.exit_code)
