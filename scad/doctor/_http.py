"""One plain HTTP request a check makes to see whether something answers. Blocks."""

from __future__ import annotations

import http.client

__all__ = ["http_status"]


def http_status(host: str, port: int, method: str, path: str, *, timeout: float) -> int | OSError:
    """The status of ``method path`` at ``host:port``, or the error that kept it from
    answering."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path)
        return connection.getresponse().status
    except OSError as exc:
        return exc
    finally:
        connection.close()
