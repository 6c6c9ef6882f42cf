"""lienthong — the interoperability hub's public API.

Adapters (and anything else outside the core) import only from here; everything else is internal
and may change. tests/unit/test_architecture.py keeps this list complete and sorted.
"""

from __future__ import annotations

from lienthong.adapter import Adapter, AdapterContext, AdapterSpec, NoOptions
from lienthong.config.models import AdapterConfig, SimulatorConfig
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
