"""The extra CA certificates this host trusts: a TLS-intercepting proxy's, which an
image must trust too before its build can reach npm, PyPI or Debian through it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["HOST_CERTIFICATES", "host_certificates"]

#: Where Debian and Ubuntu keep the certificates a host adds to its trust store.
HOST_CERTIFICATES = Path("/usr/local/share/ca-certificates")
#: A file larger than this is no certificate a proxy hands out.
MAX_CERTIFICATE_BYTES = 1 << 20


def host_certificates(folder: Path | None = None) -> list[str]:
    """The PEM certificate files (``*.crt``) in ``folder`` (default: the host's,
    :data:`HOST_CERTIFICATES`), sorted; none when it is absent. A file that cannot be
    read or holds no certificate is left out, as a config could not list it. Blocking."""
    folder = folder or HOST_CERTIFICATES
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.crt")):
        try:
            with path.open("rb") as f:
                text = f.read(MAX_CERTIFICATE_BYTES)
        except OSError:
            continue
        if b"-----BEGIN CERTIFICATE-----" in text:
            found.append(str(path))
    return found
