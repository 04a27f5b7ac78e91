"""Which engine scad talks to, and how: the local socket, ``DOCKER_HOST`` (with
``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``), or a Docker context, read as the docker
CLI stores it (``contexts/meta/<sha256 of its name>/meta.json``, its TLS files in
``contexts/tls/<same>/docker/``).

What is chosen is a plain :class:`Endpoint`; only :func:`tls_context` reads the key
files, and no message ever carries their content, only their paths.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping
from pathlib import Path

import msgspec

from ..errors import EngineUnavailable

__all__ = [
    "DEFAULT_SOCKET",
    "Endpoint",
    "TlsFiles",
    "context_endpoint",
    "endpoint_of",
    "tls_context",
]

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
#: A context's meta.json is a few hundred bytes; more is not one.
META_LIMIT = 1 << 16


class TlsFiles(msgspec.Struct, frozen=True, kw_only=True):
    """Where an engine's TLS material is: the CA that signs it, and scad's own
    certificate and key (each None when absent)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    #: Check the engine's certificate against ``ca`` (the docker CLI's TLS verify).
    verify: bool = True


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """An engine's address (``unix:///path`` or ``tcp://host:port``) and its TLS, if any."""

    host: str
    tls: TlsFiles | None = None
    #: How it was chosen, for messages: ``DOCKER_HOST``, ``context lab``, ...
    origin: str = "the local socket"

    @property
    def remote(self) -> bool:
        """Whether the engine is on another host (``tcp://``, ``ssh://``), where a
        container sees none of this host's files: not a socket of this one."""
        return not self.host.startswith(("unix://", "npipe://"))

    @property
    def socket(self) -> str | None:
        """The path of the engine's unix socket on this host; None for any other address."""
        return self.host.removeprefix("unix://") if self.host.startswith("unix://") else None

    @property
    def shown(self) -> str:
        """The address and how it was chosen, for messages."""
        return f"{self.host} ({self.origin})"

    @property
    def url(self) -> str:
        """The address as an HTTP client takes it (``https://`` under TLS)."""
        if self.host.startswith("tcp://"):
            scheme = "https://" if self.tls is not None else "http://"
            return scheme + self.host.removeprefix("tcp://")
        return self.host


def endpoint_of(environ: Mapping[str, str], manager: str | None = None) -> Endpoint:
    """The engine ``manager`` names (``unix://``, ``tcp://`` or ``context:NAME``), else
    the one the docker CLI would use: ``DOCKER_HOST``, else ``DOCKER_CONTEXT``, else the
    current context in its config, else the local socket."""
    config_dir = Path(environ.get("DOCKER_CONFIG") or Path(environ.get("HOME", "/"), ".docker"))
    if manager is not None:
        if manager.startswith("context:"):
            return context_endpoint(manager.removeprefix("context:"), config_dir)
        return _with_env_tls(Endpoint(host=manager, origin="swarm.manager"), environ, config_dir)
    if host := environ.get("DOCKER_HOST"):
        return _with_env_tls(Endpoint(host=host, origin="DOCKER_HOST"), environ, config_dir)
    name = environ.get("DOCKER_CONTEXT") or _current_context(config_dir)
    if name and name != "default":
        return context_endpoint(name, config_dir)
    return Endpoint(host=DEFAULT_SOCKET)


def context_endpoint(name: str, config_dir: Path) -> Endpoint:
    """The docker endpoint of context ``name``; one line when there is none."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest / "meta.json"
    try:
        with meta.open("rb") as file:
            data = file.read(META_LIMIT + 1)
    except FileNotFoundError:
        raise EngineUnavailable(
            f"no Docker context named {name} (`docker context ls` lists them)"
        ) from None
    except OSError as exc:
        raise EngineUnavailable(f"context {name}: cannot read {meta}: {exc.strerror}") from None
    try:
        decoded = msgspec.json.decode(data[:META_LIMIT], type=_Meta)
    except msgspec.DecodeError as exc:
        raise EngineUnavailable(f"context {name}: {meta} is not a context's meta.json") from exc
    docker = decoded.Endpoints.get("docker")
    if docker is None or not docker.Host:
        raise EngineUnavailable(f"context {name} names no Docker engine")
    tls_dir = config_dir / "contexts" / "tls" / digest / "docker"
    files = {part: tls_dir / f"{part}.pem" for part in ("ca", "cert", "key")}
    present = {part: path if path.is_file() else None for part, path in files.items()}
    tls = None
    if docker.Host.startswith("tcp://") and (any(present.values()) or docker.SkipTLSVerify):
        tls = TlsFiles(**present, verify=not docker.SkipTLSVerify)
    return Endpoint(host=docker.Host, tls=tls, origin=f"context {name}")


def tls_context(tls: TlsFiles, origin: str) -> ssl.SSLContext:
    """A client TLS context from ``tls``'s files (blocking: it reads them). A file that
    cannot be used is named, its content never shown."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if tls.ca is not None and tls.verify:
            context.load_verify_locations(cafile=str(tls.ca))
        if tls.cert is not None:
            context.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(str(p) for p in (tls.ca, tls.cert, tls.key) if p is not None)
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "unusable"
        raise EngineUnavailable(f"{origin}: cannot use the TLS files {files} ({reason})") from None
    return context


class _DockerMeta(msgspec.Struct):
    Host: str = ""
    SkipTLSVerify: bool = False


class _Meta(msgspec.Struct):
    Endpoints: dict[str, _DockerMeta] = {}


def _current_context(config_dir: Path) -> str | None:
    try:
        with (config_dir / "config.json").open("rb") as file:
            data = file.read(1 << 20)
        return msgspec.json.decode(data, type=_CliConfig).currentContext or None
    except (OSError, msgspec.DecodeError):
        return None


class _CliConfig(msgspec.Struct):
    currentContext: str = ""


def _with_env_tls(endpoint: Endpoint, environ: Mapping[str, str], config_dir: Path) -> Endpoint:
    """``DOCKER_TLS_VERIFY`` (or ``DOCKER_TLS``) puts TCP under TLS with the files in
    ``DOCKER_CERT_PATH`` (default: the docker config folder), as the docker CLI does."""
    verify = bool(environ.get("DOCKER_TLS_VERIFY"))
    if not endpoint.host.startswith("tcp://") or not (verify or environ.get("DOCKER_TLS")):
        return endpoint
    folder = Path(environ.get("DOCKER_CERT_PATH") or config_dir)
    present = {
        part: path if (path := folder / f"{part}.pem").is_file() else None
        for part in ("ca", "cert", "key")
    }
    return msgspec.structs.replace(endpoint, tls=TlsFiles(**present, verify=verify))
