"""SOAP described by a WSDL: zeep reads the contract once; the hub writes requests and reads replies.

Layered as python-zeep is: zeep's ``wsdl`` and ``xsd`` layers load the ministry's WSDL and the XSDs
it imports, pick the binding (SOAP 1.1 or 1.2), know each operation, its ``soapAction``, the port's
address and the types of its messages. The ``transport`` layer is the hub's
(:class:`ZeepHttpxTransport`): it loads documents only from the local ``schemas/`` tree and POSTs
through the adapter's :class:`~lienthong.delivery.transports.base.Transport` (in production
:class:`~lienthong.delivery.transports.http.HttpTransport`: explicit timeouts, bounded answers, tenacity
only for connections never established).

What zeep is *not* asked to do is render the Body. zeep writes a typed part only from Python values
(it has no way to send a prepared element, python-zeep#1130); turning the stored payload into values
and back would drop a ``ds:Signature`` the schema does not declare and change the bytes a signature
and an auditor rely on. So the operation's input message serialises the envelope as it does for a
message without body parts (zeep's own branch, on a copy of the message whose ``body`` is None), with
the hub header blocks passed as ``_soapheaders`` (lxml elements, which zeep accepts as they are), and
the stored payload's exact bytes go in the Body. zeep does that once, when the adapter is built: the
envelope is the same on every call but for the header values, so :class:`~lienthong.soap.EnvelopeTemplate`
keeps zeep's bytes and fills in each call's values (a tree built and serialised by zeep per message
cost more than the rest of the request).

A reply is parsed once, by the hub's hardened parser; the adapter reads the fault and the hub header
blocks from that tree, and :meth:`WsdlOperation.read_reply` has zeep read the same tree against the
WSDL's types (zeep's own ``process_reply`` parsed the bytes a second time), unless the reply is in a
shape zeep is proven to accept (``wsdl_shape.py``).
"""

from __future__ import annotations

import copy
import logging
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
from lxml import etree
from zeep import Client, Settings, Transport
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import ExternalReferenceForbidden
from zeep.wsdl.bindings.soap import Soap11Binding, Soap12Binding

from lienthong.delivery.transports.base import Transport as HubTransport
from lienthong.delivery.transports.base import TransportRequest
from lienthong.delivery.transports.wsdl_shape import ReplyShape
from lienthong.errors import HubError, WsdlError
from lienthong.soap import EnvelopeTemplate, HubHeader, SoapVersion, envelope_ns
from lienthong.xml import HUB_NS, parse_xml

__all__ = [
    "WsdlError",
    "WsdlOperation",
    "ZeepHttpxTransport",
    "ZeepResponse",
    "schemas_root",
    "zeep_settings",
]

# Logger names are what operators configure, so they stay put when a module moves.
log = logging.getLogger("lienthong.transports.wsdl")

_BINDINGS: dict[SoapVersion, type[Any]] = {"soap11": Soap11Binding, "soap12": Soap12Binding}


def zeep_settings() -> Settings:
    """No DTDs, no entities, no external fetches, no recovery from broken XML, libxml2's size caps on.

    zeep's defaults allow DTDs and, for imports, the network; the hub turns both off.
    """
    return Settings(
        forbid_dtd=True, forbid_entities=True, forbid_external=True, strict=True, xml_huge_tree=False
    )


def schemas_root(wsdl: Path) -> Path:
    """What a WSDL may import: the ``schemas/`` tree it lives in, or else its own directory (the same
    rule the inbound WSDLs follow)."""
    wsdl = wsdl.resolve()
    return next((p for p in wsdl.parents if p.name == "schemas"), wsdl.parent)


@dataclass(frozen=True)
class ZeepResponse:
    """The parts of a ``requests.Response`` zeep's binding reads (``process_reply``)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    encoding: str | None = None

    @classmethod
    def of(cls, status: int, headers: dict[str, str], body: bytes) -> ZeepResponse:
        return cls(status_code=status, headers=httpx.Headers(headers), content=body)


class ZeepHttpxTransport(Transport):
    """zeep's transport contract, fulfilled without requests: local files only, POSTs through httpx.

    ``load`` is how zeep reads the WSDL and every XSD it imports: only files inside ``schemas`` are
    given, after the hub's hardened parser has accepted them; a URL, or a path leading out of the
    tree, is refused before anything is opened or connected to. ``post`` goes through the adapter's
    :class:`~lienthong.delivery.transports.base.Transport`, whose errors already say whether trying again
    can help.
    """

    def __init__(self, http: HubTransport, schemas: Path) -> None:
        # Transport.__init__ is not called: it opens a requests.Session able to fetch any URL.
        self.cache = None
        # Timeouts are the hub transport's (per adapter); zeep's own are never used.
        self.load_timeout = None
        self.operation_timeout = None
        self.logger = logging.getLogger("lienthong.transports.wsdl")
        self._close_session = False
        self.http = http
        self.schemas = schemas.resolve()
        #: Every file zeep loaded, in order (the WSDL first).
        self.loaded: list[Path] = []

    def load(self, url: str) -> bytes:
        path = self._local_file(url)
        data = path.read_bytes()
        parse_xml(data, what=str(path))  # DOCTYPE, entities, PIs, XInclude: refused, as everywhere
        self.loaded.append(path)
        return data

    def _local_file(self, url: str) -> Path:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            path = Path(urllib.request.url2pathname(parts.path))
        elif parts.scheme == "" or (len(parts.scheme) == 1 and Path(url).is_absolute()):  # C:\…
            path = Path(url)
        else:
            raise WsdlError(
                f"{url} is not a local file: a WSDL and its XSDs are loaded only from {self.schemas}, "
                "never over the network; save the document there and import it by a relative path"
            )
        resolved = path.resolve()
        if not resolved.is_relative_to(self.schemas):
            raise WsdlError(f"{url} is outside {self.schemas}; a WSDL may import only files in that tree")
        if not resolved.is_file():
            raise WsdlError(f"{url}: file not found")
        return resolved

    def _load_remote_data(self, url: str) -> bytes:
        raise WsdlError(f"{url}: documents are never fetched over the network")

    def get(self, address: str, params: object, headers: object) -> ZeepResponse:
        raise WsdlError(f"HTTP GET bindings are not supported ({address})")

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> ZeepResponse:
        body = message.encode("utf-8") if isinstance(message, str) else message
        answer = self.http.send(TransportRequest(url=address, body=body, headers=dict(headers)))
        return ZeepResponse.of(answer.status, answer.headers, answer.body)

    def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> ZeepResponse:
        return self.post(address, etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), headers)

    def settings(self, timeout: float | None = None) -> NoReturn:
        """zeep's per-call timeout override: refused, so that no call silently ignores it."""
        raise WsdlError("timeouts are set per adapter (timeout, connect_timeout), not per call")

    def close(self) -> None:
        self.http.close()


class WsdlOperation:
    """One operation of one binding of a local WSDL, built once per adapter and shared by its workers.

    Everything here is read-only after :meth:`load`, and zeep builds a new tree per message, so
    worker threads may call :meth:`request` and :meth:`read_reply` at the same time.
    """

    def __init__(
        self,
        *,
        client: Any,
        binding: Any,
        operation: Any,
        version: SoapVersion,
        address: str | None,
        action: str,
        transport: ZeepHttpxTransport,
    ) -> None:
        self.client = client
        self.binding = binding
        self.operation = operation
        self.version = version
        #: The port's ``soap:address``: where the service is when the adapter does not say.
        self.address = address
        #: SOAPAction (1.1) / action parameter (1.2), from the WSDL.
        self.action = action
        self.transport = transport
        #: Clark name of the one element the Body of an answer holds (document/literal, one part);
        #: zeep checks what is inside it but not its name.
        self.reply_element = _single_part(operation.output)
        #: What a reply zeep is proven to accept looks like (None: zeep reads every reply).
        self.reply_shape = ReplyShape.compile(operation.output, version)
        bodiless = copy.copy(operation.input)
        bodiless.body = None
        serialized = bodiless.serialize(_soapheaders=[])
        binding._set_http_headers(serialized, operation)
        headers: dict[str, str] = dict(serialized.headers)
        if version == "soap12":
            # SOAP 1.2 carries the action in the Content-Type; zeep adds a SOAP 1.1 header anyway.
            headers.pop("SOAPAction", None)
            if not operation.soapaction and action:
                headers["Content-Type"] += f'; action="{action}"'
        elif not operation.soapaction and action:
            headers["SOAPAction"] = f'"{action}"'
        #: The HTTP headers of every request (Content-Type, SOAPAction), as zeep sets them.
        self.http_headers: dict[str, str] = headers
        self._template = EnvelopeTemplate(
            lambda header: bodiless.serialize(_soapheaders=header.elements()).content
        )

    @property
    def name(self) -> str:
        return str(self.operation.name)

    @classmethod
    def load(
        cls,
        wsdl: Path,
        *,
        version: SoapVersion,
        operation: str,
        http: HubTransport,
        soap_action: str | None = None,
        schemas: Path | None = None,
    ) -> WsdlOperation:
        """Read ``wsdl`` (and its imports) from local files and find ``operation`` in its ``version``
        binding. Raises :class:`WsdlError` saying what to fix; nothing is ever fetched."""
        transport = ZeepHttpxTransport(http, schemas if schemas is not None else schemas_root(wsdl))
        try:
            client = Client(str(wsdl.resolve()), transport=transport, settings=zeep_settings())  # type: ignore[no-untyped-call]
        except ExternalReferenceForbidden as exc:
            raise WsdlError(
                f"{wsdl} imports {exc.url}: a WSDL and its XSDs are loaded only from local files under "
                f"{transport.schemas}, never over the network"
            ) from exc
        except WsdlError as exc:
            raise WsdlError(f"{wsdl}: {exc.message}") from exc
        except (ZeepError, HubError, OSError, ValueError, NotImplementedError, etree.LxmlError) as exc:
            raise WsdlError(f"{wsdl} cannot be read: {exc}") from exc
        client.set_ns_prefix("lt", HUB_NS)  # type: ignore[no-untyped-call]  # one xmlns:lt on the Envelope for the hub header blocks
        binding, address = cls._find_binding(client, wsdl, version, operation)
        op = binding.get(operation)
        action = op.soapaction or ""
        if soap_action and action and soap_action != action:
            raise WsdlError(
                f"options.soap_action is {soap_action!r} but the WSDL says {action!r} for {operation}; "
                "remove the option (the WSDL's value is used) or fix it",
                key="options.soap_action",
            )
        return cls(
            client=client,
            binding=binding,
            operation=op,
            version=version,
            address=address,
            action=action or soap_action or "",
            transport=transport,
        )

    @staticmethod
    def _find_binding(
        client: Any, wsdl: Path, version: SoapVersion, operation: str
    ) -> tuple[Any, str | None]:
        """The first port bound with ``version`` that offers ``operation``, and its address."""
        kind = _BINDINGS[version]
        ports = [port for service in client.wsdl.services.values() for port in service.ports.values()]
        if not ports:  # a WSDL without wsdl:service still has its bindings
            bindings = [(b, None) for b in client.wsdl.bindings.values() if isinstance(b, kind)]
        else:
            bindings = [
                (p.binding, p.binding_options.get("address")) for p in ports if isinstance(p.binding, kind)
            ]
        if not bindings:
            other = "soap12" if version == "soap11" else "soap11"
            raise WsdlError(
                f"{wsdl} has no SOAP {version[-2]}.{version[-1]} binding; is transport: {other} meant?",
                key="options.transport",
            )
        for binding, address in bindings:
            if operation in binding.all():
                return binding, address
        offered = sorted({name for binding, _ in bindings for name in binding.all()})
        raise WsdlError(
            f"operation {operation!r} is not in {wsdl} (SOAP {version[-2]}.{version[-1]} binding offers: "
            f"{', '.join(offered) or 'none'})",
            key="options.operation",
        )

    def request(self, header: HubHeader, payload: bytes) -> tuple[bytes, dict[str, str]]:
        """The exact request bytes and HTTP headers for one stored payload.

        Raises ValueError when the payload cannot travel byte for byte (see ``envelope_with_payload``).
        """
        return self._template.render(header, payload), dict(self.http_headers)

    def read_reply(self, envelope: etree._Element) -> None:
        """zeep's reading of a reply that is not a fault, parsed by the hub: the Envelope must be this
        binding's, and what its Body holds must match the operation's output message in the WSDL.
        Raises ``zeep.exceptions.Error`` saying what does not match.

        A reply in the shape the WSDL declares is accepted without zeep building the objects it
        would read it into (:mod:`~lienthong.delivery.transports.wsdl_shape`: only what zeep is
        proven to accept); zeep reads every other reply, so every refusal is zeep's own."""
        if self.reply_shape is not None and self.reply_shape.proves(envelope):
            return
        if next(envelope.iter(etree.Comment), None) is not None:
            # zeep's own parser drops comments, and its reading of a type takes every child as an
            # element: it reads a copy without them, as it would have parsed the bytes.
            envelope = copy.deepcopy(envelope)
            etree.strip_tags(envelope, etree.Comment)
        ns = envelope_ns(self.version)
        if envelope.tag == f"{{{ns}}}Envelope":
            body = envelope.find(f"{{{ns}}}Body")
            if body is None or not len(body):  # zeep would fail on it with an IndexError or TypeError
                missing = "Body" if body is None else "element in its Body"
                raise ZeepError(f"the Envelope has no {missing}")  # type: ignore[no-untyped-call]
        self.operation.process_reply(envelope)

    def close(self) -> None:
        self.transport.close()


def _single_part(message: Any) -> str | None:
    body = getattr(message, "body", None)
    if body is None or getattr(message, "_is_body_wrapped", False) or getattr(body, "qname", None) is None:
        return None
    return str(body.qname.text)
