"""lienthong — the interoperability hub's public API.

Adapters (and anything else outside the core) import only from here; everything else is internal
and may change. tests/unit/test_public_api.py keeps this list complete and sorted.
"""

from __future__ import annotations

from .adapter import Adapter, AdapterContext, AdapterSpec, NoOptions
from .config import AdapterConfig, SimulatorConfig
from .envelope import Envelope, MessageKind, new_envelope
from .errors import (
    DeliveryError,
    HubError,
    InvalidMessageError,
    PermanentDeliveryError,
    SchemaValidationError,
    TransientDeliveryError,
    TranslationError,
    XmlRefusedError,
)
from .prepare import Preparation
from .simulator import SimulatorSpec
from .soap_adapter import SoapAdapter, SoapOptions
from .store import Claim, Delivered, PreparedDelivery
from .translate import Mapper, XsltMapping
from .transports.base import Transport, TransportRequest, TransportResponse
from .transports.http import HttpTransport
from .transports.memory import MemoryTransport
from .xml import parse_xml

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
