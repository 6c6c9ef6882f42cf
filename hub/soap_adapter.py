"""The generic SOAP/XML adapter: validate → translate → validate → sign at intake; send at delivery.

Most ministry adapters are this class with different YAML, schemas and an XSLT mapping; a plugin
only names the SOAP operation it calls (:class:`SoapOptions`).

Delivery takes one of two paths, chosen once, when the adapter is built:

* **with a WSDL** (``wsdl:`` in the adapter file, the normal case): zeep loads the WSDL and its XSDs
  from the local ``schemas/`` tree only, and the adapter refuses to start when the WSDL imports
  anything over the network, has no binding for ``transport``, or lacks ``options.operation``. zeep
  writes the envelope, takes the SOAPAction from the WSDL and reads the reply and its faults
  (``transports/wsdl.py``);
* **without one**: the hub writes a plain document/literal envelope itself (``soap.py``), with
  ``options.soap_action`` (default: the operation name) — for services that publish no WSDL.

Either way the Body holds the stored payload's exact bytes, the hub header blocks travel in the
Header, the exact request and response bytes are kept on the attempt, and ``lt:requestHash`` in an
answer must match the request sent.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault as ZeepFault

from .adapter import AdapterContext
from .envelope import Envelope
from .errors import (
    ConfigError,
    ConfigIssue,
    InvalidMessageError,
    PermanentDeliveryError,
    TransientDeliveryError,
    XmlRefusedError,
)
from .soap import (
    CONTENT_TYPES,
    HubHeader,
    envelope_ns,
    envelope_skeleton,
    envelope_with_payload,
    fault_code_local,
    fault_is_sender_error,
    hub_header_values,
    parse_envelope,
    request_hash,
)
from .store import Claim, Delivered, PreparedDelivery
from .translate import XsltMapping
from .transports.http import HttpTransport
from .transports.wsdl import WsdlError, WsdlOperation, ZeepResponse
from .validate import XsdValidator
from .xml import parse_xml, serialize


class SoapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = Field(
        description="Name of the SOAP operation called, e.g. TiepNhanHoSo; with a WSDL, it must be "
        "an operation of the binding for 'transport'."
    )
    soap_action: str | None = Field(
        default=None,
        description="SOAPAction value (SOAP 1.1) / action (1.2). With a WSDL it may be left out (the "
        "WSDL's soapAction is used); a value that differs from the WSDL's is a configuration error.",
    )


_Failure = type[TransientDeliveryError | PermanentDeliveryError]
_FailFactory = Callable[[_Failure, str], TransientDeliveryError | PermanentDeliveryError]


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
        #: The WSDL path's operation, or None for the plain envelope path.
        self.wsdl: WsdlOperation | None = None
        self.endpoint = cfg.endpoint
        if cfg.wsdl is not None:
            try:
                self.wsdl = WsdlOperation.load(
                    ctx.path(cfg.wsdl),
                    version=cfg.transport,
                    operation=options.operation,
                    soap_action=options.soap_action,
                    http=self.transport,
                )
            except WsdlError as exc:
                self.transport.close()
                issue = ConfigIssue(f"adapters/{cfg.name}.yaml", None, None, exc.key, exc.message)
                raise ConfigError([issue]) from exc
            self.endpoint = cfg.endpoint or self.wsdl.address or ""

    # ------------------------------------------------------------------ intake side

    def prepare(self, envelope: Envelope, tree: etree._Element | None) -> PreparedDelivery:
        if not envelope.is_xml:
            raise InvalidMessageError(
                f"adapter '{self.name}' needs an XML payload, got {envelope.content_type}"
            )
        root = tree if tree is not None else parse_xml(envelope.payload)
        del tree
        if self.input_schema is not None:
            self.input_schema.validate(root, what=f"payload for '{self.name}'", source=envelope.payload)
        out = root
        if self.mapping is not None:
            out = self.mapping.apply(
                root,
                message_id=str(envelope.message_id),
                sender=envelope.sender,
                hub_agency=self.hub_agency,
                target_agency=self.config.agency,
            )
        # Done with the input. When intake handed it over (see Intake._prepare) nothing else holds it, and
        # it goes now rather than beside the translation while that is validated, signed and written.
        del root
        if self.output_schema is not None:
            self.output_schema.validate(out, what=f"translation for '{self.name}'")
        if self.signer is not None:
            # Last, after the output schema accepted the document: the XSD describes the document
            # without its signature (a target's schema may not allow ds:Signature at all), and
            # nothing may touch the bytes once they are signed. What is stored is what is sent.
            out = self.signer.sign(out)
        payload = serialize(out)
        return PreparedDelivery(target=self.name, payload=payload, content_type="application/xml")

    # ------------------------------------------------------------------ delivery side

    def deliver(self, claim: Claim) -> Delivered:
        env = claim.envelope
        header = HubHeader(
            message_id=str(env.message_id),
            correlation_id=str(env.correlation_id),
            causation_id=str(env.causation_id) if env.causation_id else None,
            client=self.hub_agency,
            service=self.service,
        )
        try:
            if self.wsdl is not None:
                request, headers = self.wsdl.request(header, claim.payload)
            else:
                request, headers = self._plain_request(header, claim.payload)
        except (ValueError, XmlRefusedError) as exc:
            raise PermanentDeliveryError(f"the stored payload cannot be sent: {exc}") from exc
        response = self.transport.post(self.endpoint, request, headers)
        return self._interpret(request, response.status, response.headers, response.body)

    def _plain_request(self, header: HubHeader, payload: bytes) -> tuple[bytes, dict[str, str]]:
        version = self.config.transport
        request = envelope_with_payload(envelope_skeleton(version, header), payload)
        headers = {"Content-Type": CONTENT_TYPES[version]}
        action = self.options.soap_action or self.options.operation
        if version == "soap11":
            headers["SOAPAction"] = f'"{action}"'
        else:
            headers["Content-Type"] += f'; action="{action}"'
        return request, headers

    def _interpret(self, request: bytes, status: int, headers: dict[str, str], body: bytes) -> Delivered:
        def fail(error: _Failure, message: str) -> TransientDeliveryError | PermanentDeliveryError:
            return error(message, response=body, response_status=status, request=request)

        looks_soap = body.lstrip()[:1] == b"<"
        if (status >= 500 and not looks_soap) or status in (408, 429):
            raise fail(TransientDeliveryError, f"HTTP {status} from {self.endpoint}")
        if 400 <= status < 500 and not looks_soap:
            raise fail(PermanentDeliveryError, f"HTTP {status} from {self.endpoint}")
        if self.wsdl is not None:
            echoed = self._read_with_zeep(self.wsdl, fail, status, headers, body)
        else:
            echoed = self._read_plain(fail, status, body)
        if echoed is not None and echoed != request_hash(request):
            raise fail(TransientDeliveryError, "response requestHash does not match the request sent")
        return Delivered(response=body, response_status=status, request=request)

    def _read_with_zeep(
        self,
        wsdl: WsdlOperation,
        fail: _FailFactory,
        status: int,
        headers: dict[str, str],
        body: bytes,
    ) -> str | None:
        """zeep reads the reply; the hub's parser sees the bytes first, as it sees all untrusted XML."""
        echoed = entry = None
        if body.strip():
            try:
                root = parse_xml(body, what="SOAP response")
            except XmlRefusedError as exc:
                raise fail(TransientDeliveryError, f"unreadable response (HTTP {status}): {exc}") from exc
            echoed = hub_header_values(root, wsdl.version).get("requestHash")
            entry = root.find(f"{{{envelope_ns(wsdl.version)}}}Body/*")
        try:
            wsdl.read_reply(ZeepResponse.of(status, headers, body))
        except ZeepFault as fault:
            if fault.code is None:  # zeep's reading of a non-200 answer without a Fault
                raise fail(TransientDeliveryError, f"HTTP {status} without a SOAP fault") from fault
            detail = _text(fault.detail)
            reason = f"{fault.message or ''}{f': {detail}' if detail else ''}"
            message = f"SOAP fault {fault_code_local(fault.code)}: {reason}"
            error = PermanentDeliveryError if fault_is_sender_error(fault.code) else TransientDeliveryError
            raise fail(error, message) from fault
        except ZeepError as exc:
            raise fail(TransientDeliveryError, f"unreadable response (HTTP {status}): {exc}") from exc
        # zeep checked what the answer's element holds, but not the element's name.
        expected = wsdl.reply_element
        if expected is not None and entry is not None and entry.tag != expected:
            raise fail(
                TransientDeliveryError, f"unreadable response: the WSDL answers {expected}, not {entry.tag}"
            )
        return echoed

    def _read_plain(self, fail: _FailFactory, status: int, body: bytes) -> str | None:
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
        return parsed.header.get("requestHash")

    def close(self) -> None:
        self.transport.close()


def _text(el: object) -> str | None:
    if not isinstance(el, etree._Element):
        return None
    return " ".join(str(t).strip() for t in el.itertext() if str(t).strip()) or None
