"""The generic SOAP/XML adapter: validate → translate → validate → sign at intake; send at delivery.

Most ministry adapters are this class with different YAML, schemas and an XSLT mapping; a plugin
only names the SOAP operation it calls (:class:`SoapOptions`).
"""

from __future__ import annotations

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

from .adapter import AdapterContext
from .envelope import Envelope
from .errors import InvalidMessageError, PermanentDeliveryError, TransientDeliveryError, XmlRefusedError
from .soap import CONTENT_TYPES, HubHeader, build_envelope, parse_envelope, request_hash
from .store import Claim, Delivered, PreparedDelivery
from .translate import XsltMapping
from .transports.http import HttpTransport
from .validate import XsdValidator
from .xml import parse_xml


class SoapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = Field(description="Name of the SOAP operation called, e.g. TiepNhanHoSo.")
    soap_action: str | None = Field(default=None, description="SOAPAction value (SOAP 1.1) / action (1.2).")


class SoapAdapter:
    def __init__(self, ctx: AdapterContext) -> None:
        cfg = ctx.config
        options = ctx.options
        if not isinstance(options, SoapOptions):
            raise TypeError("SoapAdapter needs SoapOptions")
        self.name = cfg.name
        self.config = cfg
        self.options = options
        self.hub_agency = ctx.hub_agency
        self.input_schema = XsdValidator(ctx.path(cfg.input_schema)) if cfg.input_schema else None
        self.output_schema = XsdValidator(ctx.path(cfg.schema_)) if cfg.schema_ else None
        self.mapping = XsltMapping(ctx.path(cfg.mapping)) if cfg.mapping else None
        self.signer = ctx.signer
        self.transport = HttpTransport(timeout=cfg.timeout, connect_timeout=cfg.connect_timeout)
        self.service = f"{cfg.agency}/{cfg.name}/{options.operation}"

    # ------------------------------------------------------------------ intake side

    def prepare(self, envelope: Envelope, tree: etree._Element | None) -> PreparedDelivery:
        if not envelope.is_xml:
            raise InvalidMessageError(
                f"adapter '{self.name}' needs an XML payload, got {envelope.content_type}"
            )
        root = tree if tree is not None else parse_xml(envelope.payload)
        if self.input_schema is not None:
            self.input_schema.validate(root, what=f"payload for '{self.name}'")
        out = root
        if self.mapping is not None:
            out = self.mapping.apply(
                root,
                message_id=str(envelope.message_id),
                sender=envelope.sender,
                hub_agency=self.hub_agency,
                target_agency=self.config.agency,
            )
        if self.output_schema is not None:
            self.output_schema.validate(out, what=f"translation for '{self.name}'")
        if self.signer is not None:
            # Last, after the output schema accepted the document: the XSD describes the document
            # without its signature (a target's schema may not allow ds:Signature at all), and
            # nothing may touch the bytes once they are signed. What is stored is what is sent.
            out = self.signer.sign(out)
        payload = etree.tostring(out, xml_declaration=True, encoding="UTF-8")
        return PreparedDelivery(target=self.name, payload=payload, content_type="application/xml")

    # ------------------------------------------------------------------ delivery side

    def deliver(self, claim: Claim) -> Delivered:
        env = claim.envelope
        body = parse_xml(claim.payload, what="stored payload")
        header = HubHeader(
            message_id=str(env.message_id),
            correlation_id=str(env.correlation_id),
            causation_id=str(env.causation_id) if env.causation_id else None,
            client=self.hub_agency,
            service=self.service,
        )
        version = self.config.transport
        request = build_envelope(version, header, body)
        headers = {"Content-Type": CONTENT_TYPES[version]}
        action = self.options.soap_action or self.options.operation
        if version == "soap11":
            headers["SOAPAction"] = f'"{action}"'
        else:
            headers["Content-Type"] += f'; action="{action}"'
        response = self.transport.post(self.config.endpoint, request, headers)
        return self._interpret(request, response.status, response.body)

    def _interpret(self, request: bytes, status: int, body: bytes) -> Delivered:
        def fail(
            error: type[TransientDeliveryError | PermanentDeliveryError], message: str
        ) -> TransientDeliveryError | PermanentDeliveryError:
            return error(message, response=body, response_status=status, request=request)

        looks_soap = body.lstrip()[:1] == b"<"
        if (status >= 500 and not looks_soap) or status in (408, 429):
            raise fail(TransientDeliveryError, f"HTTP {status} from {self.config.endpoint}")
        if 400 <= status < 500 and not looks_soap:
            raise fail(PermanentDeliveryError, f"HTTP {status} from {self.config.endpoint}")
        try:
            parsed = parse_envelope(body, self.config.transport)
        except (XmlRefusedError, ValueError) as exc:
            raise fail(TransientDeliveryError, f"unreadable response (HTTP {status}): {exc}") from exc
        if parsed.fault is not None:
            fault = parsed.fault
            detail = f": {fault.detail}" if fault.detail else ""
            message = f"SOAP fault {fault.code}: {fault.reason}{detail}"
            raise fail(PermanentDeliveryError if fault.is_sender_error else TransientDeliveryError, message)
        if status >= 300:
            raise fail(TransientDeliveryError, f"HTTP {status} without a SOAP fault")
        echoed = parsed.header.get("requestHash")
        if echoed is not None and echoed != request_hash(request):
            raise fail(TransientDeliveryError, "response requestHash does not match the request sent")
        return Delivered(response=body, response_status=status, request=request)

    def close(self) -> None:
        self.transport.close()
