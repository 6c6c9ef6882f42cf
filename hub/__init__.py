"""lienthong — the interoperability hub's public API.

Adapters (and anything else outside the core) import only from here; everything else is internal
and may change. tests/unit/test_public_api.py keeps this list complete and sorted.
"""

from __future__ import annotations

from .adapter import Adapter, AdapterContext, AdapterSpec, NoOptions
from .config import AdapterConfig
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
from .simulator import SimulatorSpec
from .soap_adapter import SoapAdapter, SoapOptions
from .store import Claim, Delivered, PreparedDelivery
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
    "HubError",
    "InvalidMessageError",
    "MessageKind",
    "NoOptions",
    "PermanentDeliveryError",
    "PreparedDelivery",
    "SchemaValidationError",
    "SimulatorSpec",
    "SoapAdapter",
    "SoapOptions",
    "TransientDeliveryError",
    "TranslationError",
    "XmlRefusedError",
    "new_envelope",
    "parse_xml",
]
