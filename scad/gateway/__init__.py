"""The model gateway: the one way runs reach the model API.

A host process per scad home (:mod:`.process`, started by :func:`ensure_gateway`)
holds the user's credential and swaps it in for each run's own token
(:func:`register_run`, :func:`revoke_run`); it measures every answer as it streams
past, writes what it measured as the run's gateway events (:func:`gateway_usage`
adds them up) and refuses a run's next model call once its budget, or its batch's,
is spent. A run on another machine also gets its repos and Claude state through it,
and sends its branches and state back (:func:`enable_transport`, :mod:`._transport`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from ._connect_proxy import open_connect_proxy
    from ._credentials import (
        Credential,
        CredentialSource,
        OAuthLogin,
        StaticCredential,
        credential_source,
    )
    from ._egress import EgressPolicy, egress_policy
    from ._events import BudgetRefused, Exchange, GatewayEvent, GatewayUsage, gateway_usage
    from ._lifecycle import (
        LOOPBACK,
        START_SECONDS,
        GatewayInfo,
        ensure_gateway,
        gateway_info,
        stop_gateway,
    )
    from ._login_file import credentials_path, oauth_expiry, refresh_token_fingerprint
    from ._network import EgressNetwork, egress_network_name, ensure_egress_network
    from ._registry import (
        DEFAULT_UPSTREAM,
        Registration,
        events_path,
        limit_run,
        load_registration,
        register_run,
        revoke_run,
        upstream_of,
    )
    from ._server import serve_gateway
    from ._status import GatewayStatus, RunSpend, gateway_status
    from ._transport import TransportLimits, enable_transport

__all__ = [
    "DEFAULT_UPSTREAM",
    "LOOPBACK",
    "START_SECONDS",
    "BudgetRefused",
    "Credential",
    "CredentialSource",
    "EgressNetwork",
    "EgressPolicy",
    "Exchange",
    "GatewayEvent",
    "GatewayInfo",
    "GatewayStatus",
    "GatewayUsage",
    "OAuthLogin",
    "Registration",
    "RunSpend",
    "StaticCredential",
    "TransportLimits",
    "credential_source",
    "credentials_path",
    "egress_network_name",
    "egress_policy",
    "enable_transport",
    "ensure_egress_network",
    "ensure_gateway",
    "events_path",
    "gateway_info",
    "gateway_status",
    "gateway_usage",
    "limit_run",
    "load_registration",
    "oauth_expiry",
    "open_connect_proxy",
    "refresh_token_fingerprint",
    "register_run",
    "revoke_run",
    "serve_gateway",
    "stop_gateway",
    "upstream_of",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "DEFAULT_UPSTREAM": "_registry",
        "LOOPBACK": "_lifecycle",
        "START_SECONDS": "_lifecycle",
        "BudgetRefused": "_events",
        "EgressNetwork": "_network",
        "EgressPolicy": "_egress",
        "egress_network_name": "_network",
        "egress_policy": "_egress",
        "ensure_egress_network": "_network",
        "open_connect_proxy": "_connect_proxy",
        "Credential": "_credentials",
        "CredentialSource": "_credentials",
        "Exchange": "_events",
        "GatewayEvent": "_events",
        "GatewayInfo": "_lifecycle",
        "GatewayStatus": "_status",
        "GatewayUsage": "_events",
        "OAuthLogin": "_credentials",
        "Registration": "_registry",
        "RunSpend": "_status",
        "StaticCredential": "_credentials",
        "TransportLimits": "_transport",
        "enable_transport": "_transport",
        "credential_source": "_credentials",
        "credentials_path": "_login_file",
        "ensure_gateway": "_lifecycle",
        "events_path": "_registry",
        "gateway_info": "_lifecycle",
        "gateway_status": "_status",
        "gateway_usage": "_events",
        "limit_run": "_registry",
        "load_registration": "_registry",
        "oauth_expiry": "_login_file",
        "refresh_token_fingerprint": "_login_file",
        "register_run": "_registry",
        "revoke_run": "_registry",
        "serve_gateway": "_server",
        "stop_gateway": "_lifecycle",
        "upstream_of": "_registry",
    },
)
