"""lienthong — the interoperability hub's public API.

Adapters (and anything else outside the core) import only from here; everything else is internal
and may change. tests/unit/test_architecture.py keeps this list complete and sorted.

Each name is imported on first use (PEP 562), so ``import lienthong`` — which every ``hub`` command,
every plugin and every test pays — loads no web server, SOAP client, signature library or database
layer until something asks for one. The ``TYPE_CHECKING`` imports give type checkers the same names.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from lienthong.adapter import Adapter, AdapterContext, AdapterSpec, NoOptions
    from lienthong.config.models import AdapterConfig, SimulatorConfig
    from lienthong.delivery.rest_adapter import RestAdapter, RestOptions
    from lienthong.delivery.soap_adapter import SoapAdapter, SoapOptions
    from lienthong.delivery.transports.base import Transport, TransportRequest, TransportResponse
    from lienthong.delivery.transports.http import HttpTransport
    from lienthong.delivery.transports.memory import MemoryTransport
    from lienthong.devtools.simulator import SimulatorSpec
    from lienthong.envelope import Envelope, MessageKind, new_envelope
    from lienthong.errors import (
        DeliveryError,
        HubError,
        InvalidMessageError,
        PermanentDeliveryError,
        SchemaValidationError,
        TransientDeliveryError,
        TranslationError,
        XmlRefusedError,
    )
    from lienthong.pipeline.prepare import Preparation
    from lienthong.pipeline.translate import Mapper, XsltMapping
    from lienthong.store import Claim, Delivered, PreparedDelivery
    from lienthong.xml import parse_xml

#: The module each public name comes from.
_SOURCES: dict[str, str] = {
    "Adapter": "lienthong.adapter",
    "AdapterConfig": "lienthong.config.models",
    "AdapterContext": "lienthong.adapter",
    "AdapterSpec": "lienthong.adapter",
    "Claim": "lienthong.store",
    "Delivered": "lienthong.store",
    "DeliveryError": "lienthong.errors",
    "Envelope": "lienthong.envelope",
    "HttpTransport": "lienthong.delivery.transports.http",
    "HubError": "lienthong.errors",
    "InvalidMessageError": "lienthong.errors",
    "Mapper": "lienthong.pipeline.translate",
    "MemoryTransport": "lienthong.delivery.transports.memory",
    "MessageKind": "lienthong.envelope",
    "NoOptions": "lienthong.adapter",
    "PermanentDeliveryError": "lienthong.errors",
    "Preparation": "lienthong.pipeline.prepare",
    "PreparedDelivery": "lienthong.store",
    "RestAdapter": "lienthong.delivery.rest_adapter",
    "RestOptions": "lienthong.delivery.rest_adapter",
    "SchemaValidationError": "lienthong.errors",
    "SimulatorConfig": "lienthong.config.models",
    "SimulatorSpec": "lienthong.devtools.simulator",
    "SoapAdapter": "lienthong.delivery.soap_adapter",
    "SoapOptions": "lienthong.delivery.soap_adapter",
    "TransientDeliveryError": "lienthong.errors",
    "TranslationError": "lienthong.errors",
    "Transport": "lienthong.delivery.transports.base",
    "TransportRequest": "lienthong.delivery.transports.base",
    "TransportResponse": "lienthong.delivery.transports.base",
    "XmlRefusedError": "lienthong.errors",
    "XsltMapping": "lienthong.pipeline.translate",
    "new_envelope": "lienthong.envelope",
    "parse_xml": "lienthong.xml",
}

__all__ = [
    "Adapter",
    "AdapterConfig",
    "AdapterContext",
    "AdapterSpec",
    "Claim",
    "Delivered",
    "DeliveryError",
    "Envelope",
    "HttpTransport",
    "HubError",
    "InvalidMessageError",
    "Mapper",
    "MemoryTransport",
    "MessageKind",
    "NoOptions",
    "PermanentDeliveryError",
    "Preparation",
    "PreparedDelivery",
    "RestAdapter",
    "RestOptions",
    "SchemaValidationError",
    "SimulatorConfig",
    "SimulatorSpec",
    "SoapAdapter",
    "SoapOptions",
    "TransientDeliveryError",
    "TranslationError",
    "Transport",
    "TransportRequest",
    "TransportResponse",
    "XmlRefusedError",
    "XsltMapping",
    "new_envelope",
    "parse_xml",
]


def __getattr__(name: str) -> typing.Any:
    """Import a public name's module on first use, and keep the name here so the next use is direct."""
    try:
        source = _SOURCES[name]
    except KeyError:
        raise AttributeError(f"module 'lienthong' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
