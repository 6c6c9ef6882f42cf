"""The generic SOAP adapter, built in as ``plugin: soap``: it sends what the hub prepared, and reads
the answer.

Most ministry adapters are this plugin with different YAML, schemas and an XSLT mapping: the hub runs
the intake stages (``prepare``), and the adapter file's ``options`` (:class:`SoapOptions`) say how to
call the service. Bytes travel through the :class:`~lienthong.delivery.transports.base.Transport` the hub
hands over (HTTP, or a ``MemoryTransport`` in tests).

Delivery takes one of two paths, chosen once, when the adapter is built:

* **with a WSDL** (``options.wsdl``, the normal case): zeep loads the WSDL and its XSDs from the local
  ``schemas/`` tree only, and the adapter refuses to start when the WSDL imports anything over the
  network, has no binding for ``options.transport``, or lacks ``options.operation``. zeep
  writes the envelope (once: a template, ``transports/wsdl.py``), the SOAPAction comes from the
  WSDL, and zeep checks what a reply's Body holds against the WSDL's types; the hub reads faults as
  zeep would;
* **without one**: the hub writes a plain document/literal envelope itself (``soap.py``), with
  ``options.soap_action`` (default: the operation name) — for services that publish no WSDL.

Either way the Body holds the stored payload's exact bytes, the hub header blocks travel in the
Header, the exact request and response bytes are kept on the attempt, and ``lt:requestHash`` in an
answer must match the request sent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field
from zeep.exceptions import Error as ZeepError

from lienthong.adapter import AdapterContext, AdapterSpec
from lienthong.delivery.transports.base import TransportRequest
from lienthong.delivery.transports.wsdl import WsdlError, WsdlOperation
from lienthong.errors import (
    ConfigError,
    ConfigIssue,
    PermanentDeliveryError,
    TransientDeliveryError,
    XmlRefusedError,
)
from lienthong.soap import (
    CONTENT_TYPES,
    EnvelopeTemplate,
    HubHeader,
    SoapVersion,
    envelope_ns,
    envelope_parts,
    envelope_skeleton,
    fault_code_local,
    fault_is_sender_error,
    header_block_values,
    parse_envelope,
    request_hash,
)
from lienthong.store import Claim, Delivered
from lienthong.xml import parse_xml


class SoapOptions(BaseModel):
    """The ``options:`` of an adapter with ``plugin: soap``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["soap11", "soap12"] = Field(default="soap11", description="Wire protocol.")
    wsdl: Path | None = Field(
        default=None,
        description="WSDL of the ministry service, under schemas/; without one the hub writes a plain "
        "document/literal envelope itself.",
    )

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
    def __init__(self, ctx: AdapterContext[SoapOptions]) -> None:
        cfg = ctx.config
        options = ctx.options
        self.name = cfg.name
        self.config = cfg
        self.options = options
        self.version = options.transport
        self.hub_agency = ctx.hub_agency
        self.transport = ctx.transport
        self.service = f"{cfg.agency}/{cfg.name}/{options.operation}"
        #: The WSDL path's operation, or None for the plain envelope path.
        self.wsdl: WsdlOperation | None = None
        self.endpoint = cfg.endpoint or ""
        self._plain = EnvelopeTemplate(lambda header: envelope_skeleton(self.version, header))
        self._plain_headers = {"Content-Type": CONTENT_TYPES[self.version]}
        action = options.soap_action or options.operation
        if self.version == "soap11":
            self._plain_headers["SOAPAction"] = f'"{action}"'
        else:
            self._plain_headers["Content-Type"] += f'; action="{action}"'
        if options.wsdl is not None:
            try:
                self.wsdl = WsdlOperation.load(
                    ctx.path(options.wsdl),
                    version=options.transport,
                    operation=options.operation,
                    soap_action=options.soap_action,
                    http=self.transport,
                )
            except WsdlError as exc:
                issue = ConfigIssue(f"adapters/{cfg.name}.yaml", None, None, exc.key, exc.message)
                raise ConfigError([issue]) from exc
            self.endpoint = cfg.endpoint or self.wsdl.address or ""

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
        response = self.transport.send(TransportRequest(url=self.endpoint, body=request, headers=headers))
        return self._interpret(request, response.status, response.body)

    def _plain_request(self, header: HubHeader, payload: bytes) -> tuple[bytes, dict[str, str]]:
        return self._plain.render(header, payload), dict(self._plain_headers)

    def _interpret(self, request: bytes, status: int, body: bytes) -> Delivered:
        def fail(error: _Failure, message: str) -> TransientDeliveryError | PermanentDeliveryError:
            return error(message, response=body, response_status=status, request=request)

        looks_soap = body.lstrip()[:1] == b"<"
        if (status >= 500 and not looks_soap) or status in (408, 429):
            raise fail(TransientDeliveryError, f"HTTP {status} from {self.endpoint}")
        if 400 <= status < 500 and not looks_soap:
            raise fail(PermanentDeliveryError, f"HTTP {status} from {self.endpoint}")
        if self.wsdl is not None:
            echoed = self._read_with_zeep(self.wsdl, fail, status, body)
        else:
            echoed = self._read_plain(fail, status, body)
        if echoed is not None and echoed != request_hash(request):
            raise fail(TransientDeliveryError, "response requestHash does not match the request sent")
        return Delivered(response=body, response_status=status, request=request)

    def _read_with_zeep(
        self, wsdl: WsdlOperation, fail: _FailFactory, status: int, body: bytes
    ) -> str | None:
        """Read the reply as zeep's ``process_reply`` did, parsing it once, with the hub's parser.

        An empty 201/202 is an answer without content; any other status but 200, or a Fault, is an
        error (a fault read as zeep reads one, for the same messages); otherwise zeep checks the
        Body against the WSDL and the hub the name of the element it holds."""
        if not body:
            if status in (201, 202):
                return None
            raise fail(
                TransientDeliveryError,
                f"unreadable response (HTTP {status}): Server returned HTTP status {status} "
                "(no content available)",
            )
        try:
            root = parse_xml(body, what="SOAP response")
        except XmlRefusedError as exc:
            raise fail(TransientDeliveryError, f"unreadable response (HTTP {status}): {exc}") from exc
        ns = envelope_ns(wsdl.version)
        header, bodies = envelope_parts(root, wsdl.version)
        echoed = header_block_values(header).get("requestHash")
        fault_tag = f"{{{ns}}}Fault"  # the first Fault in a Body, as find("Body/Fault") takes it
        fault = next((el for body in bodies for el in body if el.tag == fault_tag), None)
        if status != 200 or fault is not None:
            code, reason = _fault(fault, wsdl.version) if fault is not None else (None, "")
            if code is None:
                raise fail(TransientDeliveryError, f"HTTP {status} without a SOAP fault")
            error = PermanentDeliveryError if fault_is_sender_error(code) else TransientDeliveryError
            raise fail(error, f"SOAP fault {fault_code_local(code)}: {reason}")
        try:
            wsdl.read_reply(root)
        except ZeepError as exc:
            raise fail(TransientDeliveryError, f"unreadable response (HTTP {status}): {exc}") from exc
        # zeep checked what the answer's element holds, but not the element's name.
        expected = wsdl.reply_element
        # The first element in a Body, as find("Body/*") takes it (comments are not elements).
        entry = next((el for body in bodies for el in body if isinstance(el.tag, str)), None)
        if expected is not None and entry is not None and entry.tag != expected:
            raise fail(
                TransientDeliveryError, f"unreadable response: the WSDL answers {expected}, not {entry.tag}"
            )
        return echoed

    def _read_plain(self, fail: _FailFactory, status: int, body: bytes) -> str | None:
        try:
            parsed = parse_envelope(body, self.version)
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


#: The built-in plugin behind ``plugin: soap``.
SOAP_PLUGIN: Final = AdapterSpec[SoapOptions](
    name="soap",
    description="Generic SOAP 1.1/1.2 service, with or without a WSDL",
    factory=SoapAdapter,
    options_model=SoapOptions,
)


def _fault(fault: etree._Element, version: SoapVersion) -> tuple[str | None, str]:
    """A Fault's code and its reason with the detail's text, read as zeep's bindings read them
    (``Soap11Binding.process_error``, ``Soap12Binding.process_error``), so the messages recorded on an
    attempt stay what they were. The code is None when the Fault has none."""
    if version == "soap11":

        def text(name: str) -> str | None:
            child = fault.find(name, namespaces=fault.nsmap)  # type: ignore[arg-type]
            return child.text if child is not None else None

        code, message = text("faultcode"), text("faultstring")
        detail_el = fault.find("detail", namespaces=fault.nsmap)  # type: ignore[arg-type]
    else:
        ns = envelope_ns(version)
        code = fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value")
        message = fault.findtext(f"{{{ns}}}Reason/{{{ns}}}Text")
        detail_el = fault.find(f"{{{ns}}}Detail")
    detail = _text(detail_el)
    return code, f"{message or ''}{f': {detail}' if detail else ''}"


def _text(el: object) -> str | None:
    if not isinstance(el, etree._Element):
        return None
    return " ".join(str(t).strip() for t in el.itertext() if str(t).strip()) or None
