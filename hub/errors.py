"""One error tree for the whole hub.

Every error carries the context a person needs to act on it (file and line, message id, adapter).
They become problem+json, SOAP Faults or CLI text only at the edges (api.py, cli.py), so the core
never decides how an error is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    #: Short stable identifier, used as the problem+json ``type`` suffix and in logs.
    code = "hub-error"
    #: HTTP status an edge should answer with when this error reaches it.
    http_status = 500

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

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{len(issues)} configuration error(s):\n{lines}")


class InvalidMessageError(HubError):
    """The submitted message cannot be accepted as it is (bad metadata, malformed payload)."""

    code = "invalid-message"
    http_status = 422


class XmlRefusedError(InvalidMessageError):
    """The XML is malformed or uses a feature the hub refuses (DTD, entities, PIs, excess depth)."""

    code = "xml-refused"


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


class SchemaValidationError(InvalidMessageError):
    """A document does not conform to the schema it must follow."""

    code = "schema-invalid"

    def __init__(self, message: str, violations: list[SchemaViolation]) -> None:
        self.violations = violations
        super().__init__(message, detail={"violations": [v.as_dict() for v in violations]})


class TranslationError(InvalidMessageError):
    """A mapping could not turn the payload into what the target system expects."""

    code = "translation-failed"


class PayloadTooLargeError(HubError):
    code = "payload-too-large"
    http_status = 413


class IdempotencyConflictError(HubError):
    """The sender reused a message id for different content: refusing is the only safe answer."""

    code = "idempotency-conflict"
    http_status = 409


class NotFoundError(HubError):
    code = "not-found"
    http_status = 404


class UnknownAdapterError(HubError):
    code = "unknown-adapter"


class ServiceUnavailableError(HubError):
    """The hub cannot serve the request right now, through no fault of the sender; the same request
    (the same message id) may be sent again after ``retry_after`` seconds, and is answered once.

    Edges answer 503 with ``Retry-After`` (problem+json on REST, a Receiver / Server fault on SOAP).
    """

    code = "service-unavailable"
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

    def __init__(self, operation: str, cause: str, *, retry_after: int = 5) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(
            "Cơ sở dữ liệu của trục tạm thời không sẵn sàng; yêu cầu chưa được lưu. Gửi lại đúng yêu "
            "cầu này (cùng mã thông điệp) là an toàn. / The hub's database is temporarily unavailable; "
            "nothing was stored. Sending the same request again (same message id) is safe.",
            retry_after=retry_after,
        )


@dataclass
class DeliveryError(HubError):
    """Raised by adapters; the subclass tells the worker whether trying again can help."""

    message: str
    response: bytes | None = None
    response_status: int | None = None
    request: bytes | None = None
    detail: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)


class TransientDeliveryError(DeliveryError):
    """Timeouts, refused connections, 5xx, server faults: worth retrying later."""

    code = "delivery-transient"


class PermanentDeliveryError(DeliveryError):
    """The target rejected the data itself: retrying the same bytes can never succeed."""

    code = "delivery-permanent"


class SignatureError(HubError):
    """An inbound signature is absent, broken or not acceptable; the message goes no further.

    ``reason`` is a short stable key (``digest-mismatch``, ``untrusted-signer``, ``algorithm-refused``…)
    that a translated message can be looked up by; ``detail`` always carries ``agency``, ``algorithm``
    and ``reason``. A gateway answers with a Client (SOAP 1.1) / Sender (SOAP 1.2) fault.
    """

    code = "signature-error"
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
    http_status = 403


class SignatureInvalidError(SignatureError):
    """The signature does not verify: bad signature value, digest mismatch, or a signer certificate that
    is missing, untrusted, or not valid at the verification time."""

    code = "signature-invalid"
    http_status = 403


class SignaturePolicyError(SignatureError):
    """The signature may be intact but the hub refuses it: algorithm, transform or URI not allowed,
    or it does not cover the element the hub would act on (signature wrapping)."""

    code = "signature-refused"
    http_status = 422
