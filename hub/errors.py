"""One error tree for the whole hub, and the one table of its bilingual titles.

Every error the hub raises on purpose is drawn here, rooted in :class:`HubError`. Each class carries
its stable ``code``, the HTTP status an edge answers with, and its ``title`` in Vietnamese and English;
:data:`TITLES` is derived from the tree, and both edges (problem+json in ``rest.py``, SOAP Faults in
``soap_gateway.py``) take their titles from it, so REST and SOAP cannot say different things about the same
error. Errors carry the context a person needs to act on them (file and line, message id, adapter);
they become problem+json, SOAP Faults or CLI text only at the edges, so the core never decides how an
error is shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # soap.py imports this module; these are only the names of two Literal types
    from lienthong.soap import FaultCode, SoapVersion


@dataclass(frozen=True)
class Title:
    """An error's title in the hub's two languages: a problem's ``title`` is ``"vi / en"``, a SOAP
    Fault's Reason holds one ``xml:lang`` text of each."""

    vi: str
    en: str

    def __str__(self) -> str:
        return f"{self.vi} / {self.en}"


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    #: Short stable identifier, used as the problem+json ``type`` suffix, the SOAP subcode and in logs.
    code: ClassVar[str] = "hub-error"
    #: HTTP status an edge should answer with when this error reaches it.
    http_status: ClassVar[int] = 500
    #: What the error is, for a person: the problem's ``title``, the SOAP Fault's Reason.
    title: ClassVar[Title] = Title("Lỗi hệ thống", "Internal error")

    def __init__(self, message: str, *, detail: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, object] = detail or {}


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one YAML file, pointing at the exact spot."""

    file: str
    line: int | None
    column: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" [{self.key}]" if self.key else ""
        return f"{where}{key}: {self.message}"


class ConfigError(HubError):
    """The configuration is wrong; ``issues`` lists every problem found, not just the first."""

    code = "config-invalid"
    title = Title("Cấu hình không hợp lệ", "Invalid configuration")

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{len(issues)} configuration error(s):\n{lines}")


class InvalidMessageError(HubError):
    """The submitted message cannot be accepted as it is (bad metadata, malformed payload)."""

    code = "invalid-message"
    title = Title("Thông điệp không hợp lệ", "Invalid message")
    http_status = 422


class XmlRefusedError(InvalidMessageError):
    """The XML is malformed or uses a feature the hub refuses (DTD, entities, PIs, excess depth)."""

    code = "xml-refused"
    title = Title("XML bị từ chối", "XML refused")


class DocumentFactsError(InvalidMessageError):
    """What a sender says of an edXML message (its kind, document id, type or ``edxml.*`` headers)
    disagrees with the edXML payload itself; ``detail`` names the field, what was given and what the
    payload says. The hub records what the payload says, so it refuses rather than pick one."""

    code = "document-facts-mismatch"
    title = Title(
        "Thông tin kèm theo không khớp với văn bản edXML", "Metadata disagrees with the edXML document"
    )


class EdxmlError(InvalidMessageError):
    """An edXML document or status package the hub cannot read: not well-formed, refused by the hardened
    parser, or missing what no reader can do without (``From/OrganId``, a document's ``DocumentId``, a
    status package's ``StatusCode``). ``detail`` names the element and, when known, line and column, so
    the sender's IT staff can find it. Every lesser departure from the standard is a quirk, not this."""

    code = "edxml-invalid"
    title = Title("Văn bản edXML không hợp lệ", "Invalid edXML document")


@dataclass(frozen=True)
class SchemaViolation:
    """One schema rule broken by a document, located so that a sender can fix it."""

    line: int | None
    column: int | None
    path: str | None
    message: str
    #: The schema rule broken, by name ("xs:enumeration of TrangThaiHoSoType"), when it can be told.
    rule: str | None = None
    #: A plainer reason than libxml2's message, when there is one.
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }
        if self.rule is not None:
            out["rule"] = self.rule
        if self.reason is not None:
            out["reason"] = self.reason
        return out


class SenderMismatchError(InvalidMessageError):
    """The sender an edXML document names (``From/OrganId``; a status package's ``From``) is not the agency
    that sent it (the axis ``from`` header, or the authenticated caller): one agency speaking as another."""

    code = "edxml-sender-mismatch"
    title = Title(
        "Cơ quan gửi ghi trong văn bản không phải cơ quan đã gửi", "edXML sender is not the sending agency"
    )


class SchemaValidationError(InvalidMessageError):
    """A document does not conform to the schema it must follow."""

    code = "schema-invalid"
    title = Title("Dữ liệu không đúng lược đồ", "Schema validation failed")

    def __init__(self, message: str, violations: list[SchemaViolation]) -> None:
        self.violations = violations
        super().__init__(message, detail={"violations": [v.as_dict() for v in violations]})


class TranslationError(InvalidMessageError):
    """A mapping could not turn the payload into what the target system expects."""

    code = "translation-failed"
    title = Title("Không chuyển đổi được dữ liệu", "Translation failed")


class LegacyTextError(InvalidMessageError):
    """A field the configuration marks as possibly in a legacy Vietnamese encoding (TCVN3, VNI, VISCII,
    Windows-1258) could not be read with confidence; ``detail`` names the field and the suspects."""

    code = "legacy-text"
    title = Title("Không đọc được văn bản mã cũ", "Legacy-encoded text not readable")


class PayloadTooLargeError(HubError):
    """A request body or payload is larger than the hub's limit for it."""

    code = "payload-too-large"
    title = Title("Dữ liệu quá lớn", "Payload too large")
    http_status = 413


class IdempotencyConflictError(HubError):
    """The sender reused a message id for different content: refusing is the only safe answer."""

    code = "idempotency-conflict"
    title = Title("Trùng mã thông điệp với nội dung khác", "Message id reused for different content")
    http_status = 409


class NotFoundError(HubError):
    """Nothing is there: no such message (or one the reader may not see), path or SOAP service."""

    code = "not-found"
    title = Title("Không tìm thấy", "Not found")
    http_status = 404


class UnknownAdapterError(HubError):
    """A route or command names an adapter that is not configured."""

    code = "unknown-adapter"
    title = Title("Không có bộ điều hợp này", "Unknown adapter")


class ServiceUnavailableError(HubError):
    """The hub cannot serve the request right now, through no fault of the sender; the same request
    (the same message id) may be sent again after ``retry_after`` seconds, and is answered once.

    Edges answer 503 with ``Retry-After`` (problem+json on REST, a Receiver / Server fault on SOAP).
    """

    code = "service-unavailable"
    title = Title("Tạm thời không phục vụ được", "Temporarily unavailable")
    http_status = 503

    def __init__(
        self, message: str, *, retry_after: int = 5, detail: dict[str, object] | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, detail={"retry_after": retry_after, "retry_safe": True, **(detail or {})})


class StoreUnavailableError(ServiceUnavailableError):
    """The database could not be reached or could not write (connection lost or refused, server
    restarting, disk full, database locked). The transaction was rolled back, so nothing the request
    asked for was stored; a repeat with the same message id is stored once, or, if a commit did land
    before the connection broke, answered as the duplicate it is."""

    code = "store-unavailable"
    title = Title("Cơ sở dữ liệu tạm thời không sẵn sàng", "Database temporarily unavailable")

    def __init__(self, operation: str, cause: str, *, retry_after: int = 5) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(
            "Cơ sở dữ liệu của trục tạm thời không sẵn sàng; yêu cầu chưa được lưu. Gửi lại đúng yêu "
            "cầu này (cùng mã thông điệp) là an toàn. / The hub's database is temporarily unavailable; "
            "nothing was stored. Sending the same request again (same message id) is safe.",
            retry_after=retry_after,
        )


class NotReadyError(ServiceUnavailableError):
    """``/readyz``: this process should get no traffic now (database unreachable, schema behind the
    code, or its delivery workers stopped); ``detail["checks"]`` says which."""

    code = "not-ready"
    title = Title("Trục chưa sẵn sàng", "Hub not ready")


class OverBudgetError(ServiceUnavailableError):
    """The hub holds as many request bodies as its memory budget allows (``limits.py``); raised by
    nobody, since only the limiting middleware answers it, but drawn here for its code and title."""

    code = "over-budget"
    title = Title("Hệ thống đang bận", "Hub busy")


class LookupKeyInvalidError(HubError):
    """A lookup key fails its check (an enterprise code with a wrong check digit): refused before any
    call, naming the key, so the caller can correct what was typed."""

    code = "lookup-key-invalid"
    title = Title("Mã tra cứu không hợp lệ", "Invalid lookup key")
    http_status = 422


class LookupNotFoundError(NotFoundError):
    """The system asked holds nothing for the key: it answered, and its answer was "not found"."""

    code = "lookup-not-found"
    title = Title("Hệ thống được tra cứu không có thông tin này", "Not found by the system asked")


class LookupUnavailableError(ServiceUnavailableError):
    """The system asked did not answer in time, could not be reached, failed, or its circuit is open:
    the caller may ask again after ``retry_after`` seconds."""

    code = "lookup-unavailable"
    title = Title("Hệ thống được tra cứu tạm thời không trả lời", "The system asked is not answering")


class LookupFailedError(HubError):
    """The system asked answered, but not with anything usable (it refused the request, or its answer
    lacks what the lookup names); asking again the same way will not help."""

    code = "lookup-failed"
    title = Title("Hệ thống được tra cứu trả lời không dùng được", "The system asked gave no usable answer")
    http_status = 502


class ReconcileListingError(HubError):
    """A reconciliation could not learn what a system holds: no answer from its query operation, a
    refusal, or an answer it cannot read. The run is recorded as failed; the next one tries again."""

    code = "reconcile-listing"
    title = Title(
        "Không tra cứu được dữ liệu của hệ thống để đối soát", "The system's records could not be listed"
    )
    http_status = 502


class ClaimLostError(HubError):
    """The lease expired and another worker took the delivery over; this worker's result is void.

    Never reaches a caller: a worker logs it and moves on (``workers.py``)."""

    code = "claim-lost"
    title = Title("Mất quyền giao thông điệp", "Delivery claim lost")


@dataclass
class DeliveryError(HubError):
    """Raised by adapters; the subclass tells the worker whether trying again can help."""

    message: str
    response: bytes | None = None
    response_status: int | None = None
    request: bytes | None = None
    detail: dict[str, object] = field(default_factory=dict)

    code = "delivery-failed"
    title = Title("Gửi không thành công", "Delivery failed")

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)


class TransientDeliveryError(DeliveryError):
    """Timeouts, refused connections, 5xx, server faults: worth retrying later."""

    code = "delivery-transient"
    title = Title("Gửi chưa được, sẽ thử lại", "Delivery failed, will retry")


class PermanentDeliveryError(DeliveryError):
    """The target rejected the data itself: retrying the same bytes can never succeed."""

    code = "delivery-permanent"
    title = Title("Hệ thống nhận từ chối dữ liệu", "Delivery rejected by the target")


class SignatureError(HubError):
    """An inbound signature is absent, broken or not acceptable; the message goes no further.

    ``reason`` is a short stable key (``digest-mismatch``, ``untrusted-signer``, ``algorithm-refused``…)
    that a translated message can be looked up by; ``detail`` always carries ``agency``, ``algorithm``
    and ``reason``. A gateway answers with a Client (SOAP 1.1) / Sender (SOAP 1.2) fault.
    """

    code = "signature-error"
    title = Title("Lỗi chữ ký số", "Signature error")
    http_status = 403

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        agency: str | None = None,
        algorithm: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        self.reason = reason
        self.agency = agency
        self.algorithm = algorithm
        super().__init__(
            message, detail={"agency": agency, "algorithm": algorithm, "reason": reason, **(detail or {})}
        )


class SignatureMissingError(SignatureError):
    """The sender's policy requires a signature and the message carries none where one is expected."""

    code = "signature-missing"
    title = Title("Thiếu chữ ký số", "Signature required")
    http_status = 403


class SignatureInvalidError(SignatureError):
    """The signature does not verify: bad signature value, digest mismatch, or a signer certificate that
    is missing, untrusted, or not valid at the verification time."""

    code = "signature-invalid"
    title = Title("Chữ ký số không hợp lệ", "Invalid signature")
    http_status = 403


class CertificateUnreadableError(SignatureInvalidError):
    """A certificate in the signature's KeyInfo cannot be read (truncated, as in the public edXML samples
    of a vendor SDK, or corrupted): nobody can say who signed, so the signature cannot be verified."""

    code = "certificate-unreadable"
    title = Title("Không đọc được chứng thư số trong chữ ký", "Certificate in the signature unreadable")
    http_status = 403


class SignaturePolicyError(SignatureError):
    """The signature may be intact but the hub refuses it: algorithm, transform or URI not allowed,
    or it does not cover the element the hub would act on (signature wrapping)."""

    code = "signature-refused"
    title = Title("Chữ ký số không được chấp nhận", "Signature refused by policy")
    http_status = 422


# ---------------------------------------------------------------- refusals at the HTTP edge


class UnauthenticatedError(HubError):
    """No credential was presented, or the one presented belongs to no caller."""

    code = "unauthenticated"
    http_status = 401
    title = Title("Chưa xác thực", "Not authenticated")


class ForbiddenError(HubError):
    """The caller is known, but its access rights do not include what it asked for."""

    code = "forbidden"
    http_status = 403
    title = Title("Không có quyền", "Forbidden")


class MalformedRequestError(HubError):
    """The request cannot be read at all (a body that is not JSON, an HTTP error without a better name)."""

    code = "malformed-request"
    http_status = 400
    title = Title("Yêu cầu sai cú pháp", "Malformed request")


class RequestInvalidError(HubError):
    """The request reads, but does not match the REST API's contract (a missing or mistyped field)."""

    code = "request-invalid"
    http_status = 422
    title = Title("Yêu cầu không hợp lệ", "Invalid request")


class MethodNotAllowedError(HubError):
    code = "method-not-allowed"
    http_status = 405
    title = Title("Phương thức không được hỗ trợ", "Method not allowed")


class UnsupportedMediaTypeError(HubError):
    """A body whose Content-Type is not what the endpoint reads (JSON for REST, SOAP's for SOAP)."""

    code = "unsupported-media-type"
    http_status = 415
    title = Title("Kiểu nội dung không được hỗ trợ", "Unsupported media type")


# ---------------------------------------------------------------- SOAP requests (soap.py, inbound.py)


class SoapRequestError(InvalidMessageError):
    """A request breaks SOAP's rules or the hub header contract; ``fault`` says which fault answers it.

    The subclass names the rule; its ``code`` becomes the fault's subcode and detail code."""

    code = "soap-invalid"
    title = Title("Thông điệp SOAP không hợp lệ", "Invalid SOAP message")
    #: The SOAP fault code answering this error, unless the raiser says otherwise.
    default_fault: ClassVar[FaultCode] = "Sender"
    #: Whether the fault is about a header block (SOAP 1.1 then reports it in a header, not the detail).
    default_about_header: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        fault: FaultCode | None = None,
        about_header: bool | None = None,
        violations: list[SchemaViolation] | None = None,
        not_understood: tuple[str, ...] = (),
        reply_version: SoapVersion | None = None,
    ) -> None:
        super().__init__(message, detail={"violations": [v.as_dict() for v in violations or []]})
        self.fault: FaultCode = fault or self.default_fault
        self.about_header = self.default_about_header if about_header is None else about_header
        self.violations = violations or []
        self.not_understood = not_understood
        #: Answer in this version rather than the request's (a SOAP 1.1 envelope sent as SOAP 1.2).
        self.reply_version = reply_version


class SoapVersionMismatchError(SoapRequestError):
    """The Envelope is not in the namespace of the SOAP version the Content-Type announced."""

    code = "version-mismatch"
    title = Title("Sai phiên bản SOAP", "SOAP version mismatch")
    default_fault = "VersionMismatch"


class SoapMustUnderstandError(SoapRequestError):
    """A header block meant for the hub is marked mustUnderstand, and the hub does not understand it."""

    code = "must-understand"
    title = Title("Không xử lý được khối tiêu đề bắt buộc", "Mandatory header block not understood")
    default_fault = "MustUnderstand"


class SoapHeaderError(SoapRequestError):
    """The hub header blocks are missing, repeated, invalid or say something untrue of the request."""

    code = "header-invalid"
    title = Title("Tiêu đề SOAP không hợp lệ", "Invalid SOAP header")
    default_about_header = True


class UnknownOperationError(SoapRequestError):
    """The action or body element names no operation of the service, or they name different ones."""

    code = "unknown-operation"
    title = Title("Thao tác không được hỗ trợ", "Unknown operation")


# ---------------------------------------------------------------- keys, signing, schema and WSDL


class KeystoreError(HubError):
    """A signing key or certificate cannot be used; names the key and the file, never the password."""

    code = "keystore-invalid"
    title = Title("Khoá hoặc chứng thư số không dùng được", "Key or certificate unusable")

    def __init__(
        self, message: str, *, key_id: str | None = None, path: Path | None = None, setting: str | None = None
    ) -> None:
        super().__init__(message, detail={"key": key_id, "file": str(path) if path else None})
        self.key_id = key_id
        self.path = path
        #: the KeyReference field the problem concerns (key_file, certificate_file, password_env)
        self.setting = setting


class SigningError(InvalidMessageError):
    """This document cannot be signed as the adapter's policy asks (e.g. edxml on a non-edXML root)."""

    code = "signing-failed"
    title = Title("Không ký số được", "Signing failed")


class SigningConfigError(HubError):
    """A signing policy cannot work with the key it names (wrong key type, expired certificate)."""

    code = "signing-config-invalid"
    title = Title("Cấu hình ký số không hợp lệ", "Invalid signing configuration")

    def __init__(self, message: str, *, setting: str = "key") -> None:
        super().__init__(message)
        #: the adapter's signing setting at fault: key or algorithm
        self.setting = setting


class SchemaOutOfDateError(HubError):
    """The database is not at the schema version this hub needs; ``hub db upgrade`` brings it there."""

    code = "schema-out-of-date"
    title = Title("Cơ sở dữ liệu chưa được nâng cấp", "Database schema out of date")


class WsdlError(HubError):
    """A WSDL that cannot be used as configured; ``key`` names the adapter setting to fix."""

    code = "wsdl-invalid"
    title = Title("WSDL không dùng được", "Unusable WSDL")

    def __init__(self, message: str, *, key: str = "options.wsdl") -> None:
        super().__init__(message, detail={"key": key})
        self.key = key


# ---------------------------------------------------------------- the auditor's record: proofs (hub/audit)


class AuditProofError(HubError):
    """Something the auditor's record proves does not hold: a Merkle proof, a signed tree head, a timestamp
    or a bundle. ``reason`` is a short stable key (``root-mismatch``, ``signature-invalid``…); ``what``
    names the piece that failed (``entry 3``, ``head 12``, ``timestamp of head 12``) so an auditor knows
    where to look."""

    code = "audit-proof-invalid"
    title = Title("Bằng chứng nhật ký kiểm toán không hợp lệ", "Audit record proof invalid")
    http_status = 422

    def __init__(
        self, message: str, *, reason: str, what: str = "", detail: dict[str, object] | None = None
    ) -> None:
        super().__init__(message, detail={"reason": reason, "what": what, **(detail or {})})
        self.reason = reason
        self.what = what


class ProofError(AuditProofError):
    """An inclusion or consistency proof does not lead to the root it should (RFC 9162 §2.1.3–2.1.4)."""

    code = "merkle-proof-invalid"
    title = Title("Bằng chứng Merkle không hợp lệ", "Merkle proof invalid")


class TreeHeadError(AuditProofError):
    """A signed tree head is malformed, its signature fails, or it does not follow the head before it."""

    code = "tree-head-invalid"
    title = Title("Đầu cây đã ký không hợp lệ", "Signed tree head invalid")


class TimestampError(AuditProofError):
    """An RFC 3161 timestamp token is unreadable, does not cover the head, or is not signed by the trusted
    TSA; or the time-stamping authority could not be reached."""

    code = "timestamp-invalid"
    title = Title("Dấu thời gian không hợp lệ", "Timestamp invalid")


class BundleError(AuditProofError):
    """An audit bundle cannot be read or one of its parts does not verify; ``what`` names the part."""

    code = "audit-bundle-invalid"
    title = Title("Gói bằng chứng kiểm toán không hợp lệ", "Audit bundle invalid")


# ---------------------------------------------------------------- the title table


def error_classes(root: type[HubError] = HubError) -> Iterator[type[HubError]]:
    """``root`` and every class below it, parents before children."""
    yield root
    for sub in root.__subclasses__():
        yield from error_classes(sub)


def _title_table() -> Mapping[str, Title]:
    table: dict[str, Title] = {}
    for cls in error_classes():
        known = table.setdefault(cls.code, cls.title)
        if known != cls.title:  # two classes share a code: they must say the same
            raise TypeError(f"{cls.__name__} gives the code {cls.code!r} a second title")
    return MappingProxyType(table)


#: Every error code the hub answers with, and its title: what problem+json and SOAP Faults both say.
TITLES: Mapping[str, Title] = _title_table()


def title_of(code: str) -> Title:
    """The title of an error code; an unknown code (none should reach an edge) reads as an internal error."""
    return TITLES.get(code, HubError.title)
