"""Recognising a build step that failed because it did not trust a TLS certificate:
what a proxy that intercepts TLS causes until the image trusts its CA certificate.

Each tool words it its own way; these are the words of npm (and Node), curl, pip (and
Python's ssl), apt (GnuTLS), git and wget.
"""

from __future__ import annotations

import re

from ..text import printable

__all__ = ["untrusted_certificate"]

_UNTRUSTED = re.compile(
    "|".join(
        [
            # npm and Node: the error codes OpenSSL's verification gives them.
            r"\b(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT"
            r"|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|UNABLE_TO_VERIFY_LEAF_SIGNATURE"
            r"|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE)\b",
            # Python (pip, requests) and OpenSSL's own wording (curl, git, Node's text).
            r"CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError",
            r"self[- ]signed certificate",
            r"unable to get (local )?issuer certificate",
            r"SSL certificate problem",
            # apt (GnuTLS), git built with GnuTLS, wget.
            r"certificate verification failed",
            r"certificate is NOT trusted",
            r"cannot verify \S+ certificate",
        ]
    ),
    re.IGNORECASE,
)
#: The longest piece of a line quoted as evidence, and how much of it comes before
#: the words that tell (npm, pip and git name the URL there).
EVIDENCE_CHARS = 200
LEAD_CHARS = 60


def untrusted_certificate(line: str) -> str | None:
    """``line``, cut to its telling part, when it says a TLS certificate was not
    trusted; else None."""
    line = line.strip()
    if (match := _UNTRUSTED.search(line)) is None:
        return None
    if len(line) <= EVIDENCE_CHARS:
        return printable(line)
    start = max(0, min(match.start() - LEAD_CHARS, len(line) - EVIDENCE_CHARS))
    text = line[start : start + EVIDENCE_CHARS]
    return printable(
        ("…" if start else "") + text + ("…" if start + EVIDENCE_CHARS < len(line) else "")
    )
