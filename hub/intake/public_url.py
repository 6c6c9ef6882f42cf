"""The address the hub gives out for itself: in served WSDLs and in the REST API's status links.

Never taken from the request's ``Host`` header: a caller (or anyone in front of the hub) chooses that
header, and a WSDL whose ``soap:address`` it decides would send the next client that fetches the WSDL
— with its credentials and citizens' data — wherever the header said. The configured
``api.public_url`` wins (the name ministries reach the hub by, behind a proxy or load balancer);
without one, the local address of the connection the request came in on, which the network decided,
not the caller.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from lienthong.config.models import Configuration

__all__ = ["public_base_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def public_base_url(conn: HTTPConnection, config: Configuration) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash."""
    configured = config.hub.api.public_url
    if configured is not None:
        return configured.rstrip("/")
    scheme = "https" if config.hub.tls is not None else "http"
    server = conn.scope.get("server")
    host, port = server if server else (config.hub.api.host, config.hub.api.port)
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
