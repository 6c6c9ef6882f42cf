"""Typed configuration models: what provincial IT staff may write in ``config/``.

Every model forbids unknown keys, so a typo is an error with a file and line (see ``config.files``)
instead of a setting silently ignored. Secrets never live here: a model holds the *name* of an
environment variable or the path of a file, and the value is read when it is needed.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """Accept ``500ms``, ``30s``, ``5m``, ``1h``, ``2d`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration; write it as 500ms, 30s, 5m, 1h or 2d")
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: 500ms, 30s, 5m, 1h, 2d, or seconds as a number.",
        }
    ),
]

#: Agency codes the hub itself emits must follow QCVN 102:2016; codes it receives are opaque.
AGENCY_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- hub.yaml


class HubIdentity(Strict):
    name: str = Field(description="Human name of this hub, shown in the console and logs.")
    agency: str = Field(description="Agency code (mã định danh) of the province that runs the hub.")

    @field_validator("agency")
    @classmethod
    def _agency_code(cls, v: str) -> str:
        if not AGENCY_CODE.match(v):
            raise ValueError(f"{v!r} is not an agency code of the form 000.00.00.H49 (QCVN 102:2016)")
        return v


class DatabaseSettings(Strict):
    url: str = Field(
        default="sqlite:///var/hub.db",
        description="SQLAlchemy URL. sqlite:///relative/path is resolved from the project root; "
        "use postgresql+psycopg://user@host/db for several hub processes.",
    )
    pool_size: PositiveInt = Field(default=10, description="Connections kept open (PostgreSQL).")
    echo: bool = Field(default=False, description="Log every SQL statement (debugging only).")


class ApiSettings(Strict):
    host: str = Field(default="127.0.0.1", description="Address the REST and SOAP endpoints listen on.")
    port: int = Field(default=8600, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    max_body_size: ByteSize = Field(
        default=ByteSize(20 * 1024 * 1024), description="Largest request body accepted, e.g. 20MiB."
    )
    max_payload_size: ByteSize = Field(
        default=ByteSize(10 * 1024 * 1024), description="Largest decoded payload accepted, e.g. 10MiB."
    )
    max_document_size: ByteSize = Field(
        default=ByteSize(72 * 1024 * 1024),
        description="Largest official document (kind document) accepted as a raw XML body "
        "(Content-Type application/xml, docs/api.md), e.g. 72MiB: an edXML document carries its "
        "attachments in base64, so 50 MiB of attachments is ~68 MiB of XML. Only such a body may "
        "exceed max_body_size and max_payload_size, and only its text nodes may exceed libxml2's "
        "10 MB cap. At most memory_budget; 0 turns large documents off (the common limits apply).",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Base URL callers reach the hub at (e.g. https://lienthong.quangninh.gov.vn), written "
        "into served WSDLs and status links. Default: the address the request arrived on; never the "
        "request's Host header.",
    )
    memory_budget: ByteSize | None = Field(
        default=None,
        description="Most bytes of request bodies held at once, across all requests; beyond it a "
        "request is answered 503 with Retry-After. Each byte held costs a few more while it is "
        "processed (docs/benchmarks.md). Default: 4 x max_body_size.",
    )

    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto",
        description="The event loop that serves HTTP (uvicorn's): uvloop (libuv, in C: less CPU per "
        "request) or asyncio's own; auto is uvloop where it is installed (a dependency of the hub, "
        "except on Windows), else asyncio. Answers are the same bytes either way (docs/benchmarks.md).",
    )

    @property
    def effective_memory_budget(self) -> int:
        """The configured budget, or four bodies of the largest common size plus one large document
        (so that one document in flight does not turn every dossier away with 503)."""
        if self.memory_budget is not None:
            return int(self.memory_budget)
        return 4 * int(self.max_body_size) + max(0, int(self.max_document_size) - int(self.max_body_size))

    @property
    def document_limit(self) -> int:
        """The largest official document accepted as raw XML: ``max_document_size``, but never more
        than the memory budget (a body the budget cannot hold could never be served)."""
        return min(int(self.max_document_size), self.effective_memory_budget)

    @field_validator("event_loop")
    @classmethod
    def _loop_installed(cls, value: str) -> str:
        """uvloop asked for by name must be there: said here, with the file and line, rather than as
        uvicorn's import error once the hub is built."""
        if value == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError("uvloop is not installed here (auto uses asyncio's loop without it)")
        return value

    @model_validator(mode="after")
    def _budget_holds_one_body(self) -> ApiSettings:
        if self.memory_budget is not None and self.memory_budget < self.max_body_size:
            raise ValueError(
                "memory_budget must be at least max_body_size, or a body of the largest size "
                "accepted could never be served"
            )
        return self


class WorkerSettings(Strict):
    count: int = Field(default=4, ge=0, le=256, description="Delivery threads per hub process.")
    batch_size: PositiveInt = Field(default=8, description="Deliveries claimed per database round trip.")
    poll_interval: Duration = Field(
        default=timedelta(milliseconds=500), description="How often idle workers look for due work."
    )
    lease: Duration = Field(
        default=timedelta(seconds=15),
        description="How long a claim lasts without a heartbeat; a live worker renews the claims of its "
        "calls in flight every lease/3, so a call may take longer, and a crashed worker's deliveries "
        "are taken over one lease after its last heartbeat.",
    )
    shutdown_grace: Duration = Field(
        default=timedelta(seconds=20), description="How long shutdown waits for in-flight deliveries."
    )
    settle_wait: Duration = Field(
        default=timedelta(milliseconds=2),
        description="How long an outcome may wait for those of the calls still in flight, so that they "
        "are recorded in one transaction (one commit instead of several); 0 records each as soon as "
        "the dispatcher is free.",
    )

    @model_validator(mode="after")
    def _lease_covers_poll(self) -> WorkerSettings:
        if self.lease <= self.poll_interval:
            raise ValueError("lease must be longer than poll_interval")
        if self.settle_wait >= self.poll_interval:
            raise ValueError("settle_wait must be shorter than poll_interval")
        return self


class KeyReference(Strict):
    """Where a key lives; the password, if any, comes from the named environment variable."""

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Name of this key, e.g. hub-2026."
    )
    key_file: Path = Field(description="PEM or PKCS#12 (.p12/.pfx) file holding the private key.")
    certificate_file: Path | None = Field(
        default=None, description="PEM certificate chain (signer first), if not inside the PKCS#12 file."
    )
    password_env: str | None = Field(
        default=None, description="Name of the environment variable holding the key password."
    )


class KeySettings(Strict):
    signing: list[KeyReference] = Field(
        default_factory=list,
        description="Signing keys, newest first: the first one signs new messages; the others stay "
        "listed while signatures made with them must still verify.",
    )


#: Subject attributes a signer rule may name (case-insensitive), as X.500 attribute OIDs. A dotted OID
#: (e.g. ``2.5.4.97``) names any other attribute.
SUBJECT_ATTRIBUTES: Final[Mapping[str, str]] = {
    "C": "2.5.4.6",
    "ST": "2.5.4.8",
    "L": "2.5.4.7",
    "STREET": "2.5.4.9",
    "O": "2.5.4.10",
    "OU": "2.5.4.11",
    "CN": "2.5.4.3",
    "T": "2.5.4.12",
    "TITLE": "2.5.4.12",
    "SN": "2.5.4.4",
    "SURNAME": "2.5.4.4",
    "GIVENNAME": "2.5.4.42",
    "SERIALNUMBER": "2.5.4.5",
    "ORGANIZATIONIDENTIFIER": "2.5.4.97",
    "UID": "0.9.2342.19200300.100.1.1",
    "DC": "0.9.2342.19200300.100.1.25",
    "E": "1.2.840.113549.1.9.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
}
_DOTTED_OID: Final = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")


def subject_attribute_oid(name: str) -> str | None:
    """The dotted OID a signer rule's attribute name stands for, or None if it names none."""
    if _DOTTED_OID.match(name):
        return name
    return SUBJECT_ATTRIBUTES.get(name.upper())


class SignerRule(Strict):
    """Certificates that speak for an agency: all a rule lists must hold; any one rule suffices."""

    subject: dict[str, str] = Field(
        default_factory=dict,
        description="Subject attributes the signer's certificate must carry, e.g. "
        "{O: 'Văn phòng đăng ký đất đai*', OU: '000.00.00.G13'} or {UID: 'MST:0100109106'}. Values are "
        "shell wildcards (*, ?, [..]) matched against the whole value, ignoring case and repeated spaces; "
        "'{agency}' stands for the agency code claimed. Names: C, ST, L, STREET, O, OU, CN, T, SN, "
        "GIVENNAME, SERIALNUMBER, ORGANIZATIONIDENTIFIER, UID, DC, E, or a dotted OID.",
    )
    certificate_sha256: str | None = Field(
        default=None,
        description="Hex SHA-256 fingerprint of the one certificate this rule pins (colons allowed), as "
        "'openssl x509 -noout -fingerprint -sha256' prints it.",
    )

    @field_validator("subject")
    @classmethod
    def _known_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            if subject_attribute_oid(name) is None:
                known = ", ".join(dict.fromkeys(SUBJECT_ATTRIBUTES))
                raise ValueError(f"{name!r} is not a subject attribute; use one of {known} or a dotted OID")
            if not pattern.strip():
                raise ValueError(f"the pattern for {name} is empty; write '*' to require only its presence")
        return value

    @field_validator("certificate_sha256")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value.replace(":", "")):
            raise ValueError("expected a SHA-256 fingerprint: 64 hex digits, colons allowed")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> SignerRule:
        if not self.subject and self.certificate_sha256 is None:
            raise ValueError("a signer rule needs subject attributes, certificate_sha256, or both")
        return self


class AgencyTrust(Strict):
    """Who may sign for one agency, and how strictly its signatures are checked."""

    anchors: list[Path] = Field(
        default_factory=list,
        description="PEM files of CA certificates (or pinned signer certificates) trusted for this agency.",
    )
    signers: list[SignerRule] = Field(
        default_factory=list,
        description="Which certificates under the anchors speak for this agency (any one rule suffices). "
        "Required when an anchor is also trusted for another agency (one national CA for all state "
        "bodies): a certificate that chains to the anchor but matches no rule is refused "
        "(signer-not-bound). Without rules, every certificate chaining to an anchor used by this agency "
        "alone speaks for it.",
    )
    require_signature: bool = Field(default=True, description="Refuse unsigned messages from this agency.")
    legacy_sha1: bool = Field(
        default=False,
        description="Accept RSA-SHA1 / SHA-1 digests from this agency (real senders still use them). "
        "A weaker guarantee: enable only for named agencies, and plan to turn it off.",
    )


class TrustSettings(Strict):
    agencies: dict[str, AgencyTrust] = Field(
        default_factory=dict, description="Trust per agency code (mã định danh) of a sender."
    )
    default: AgencyTrust = Field(
        default_factory=lambda: AgencyTrust(require_signature=False),
        description="Policy for agencies not listed: by default signatures are verified when present "
        "but not required, and no anchor is trusted. Its anchors speak for an unlisted agency only "
        "through signers rules, usually with '{agency}' (e.g. subject: {OU: '{agency}'}).",
    )


class Caller(Strict):
    """A system allowed to call the hub, bound to one agency code. Deny by default: a caller that
    matches no entry here is refused. Only digests of API keys live in YAML, never the keys.

    Reading (``rest:read``) shows a caller only the messages its agency is party to: those it sent,
    those addressed to it, and those routed to an adapter whose ``agency`` is its own. Reading every
    agency's messages is the separate right ``rest:read-all`` (the province's operators and auditors),
    granted only when listed as such: no wildcard grants it."""

    agency: str = Field(description="Agency code (mã định danh) the caller acts for.")
    name: str = Field(description="Human name of the calling system, for logs and the console.")
    api_key_sha256: list[str] = Field(
        default_factory=list,
        description="Hex SHA-256 digests of the caller's API keys (X-API-Key header).",
    )
    api_key_env: str | None = Field(
        default=None, description="Name of an environment variable holding one more API key for this caller."
    )
    certificate_sha256: list[str] = Field(
        default_factory=list,
        description="Hex SHA-256 fingerprints of client certificates (mutual TLS) that identify this caller.",
    )
    services: list[str] = Field(
        default_factory=list,
        description="What the caller may call, as patterns: 'rest:submit', 'rest:read' (its own agency's "
        "messages), 'rest:read-all' (every agency's; only when listed as such, never through a wildcard), "
        "'soap:<adapter>/<operation>' (e.g. 'soap:land/*'). Nothing is allowed unless listed.",
    )

    @field_validator("api_key_sha256", "certificate_sha256")
    @classmethod
    def _hex_digests(cls, values: list[str]) -> list[str]:
        for v in values:
            if not re.fullmatch(r"[0-9a-fA-F]{64}", v.replace(":", "")):
                raise ValueError(f"{v!r} is not a SHA-256 digest (64 hex digits)")
        return [v.replace(":", "").lower() for v in values]


class TlsSettings(Strict):
    """TLS for the hub's own endpoints; with ``client_ca_file``, callers may present certificates."""

    certificate_file: Path = Field(description="PEM certificate chain of the hub's endpoint.")
    key_file: Path = Field(description="PEM private key of the endpoint certificate.")
    key_password_env: str | None = Field(default=None, description="Environment variable with its password.")
    client_ca_file: Path | None = Field(
        default=None, description="PEM CA certificates that client certificates must chain to (mutual TLS)."
    )
    require_client_certificate: bool = Field(
        default=False, description="Refuse TLS connections without a client certificate."
    )


# ---- intake: Vietnamese text (docs/vietnamese-text.md)


class LegacyTextField(Strict):
    """One field that may hold text in a legacy Vietnamese encoding, read as Windows-1252 on the way."""

    path: str = Field(
        description="XPath 1.0 selecting the field's elements or attributes, with prefixes from the "
        "rule's namespaces (a JSON payload: its W3C XML form, e.g. //fn:string[@key='HoTen'])."
    )
    encoding: Literal["auto", "tcvn3", "vni", "viscii", "cp1258"] = Field(
        default="auto",
        description="The encoding the field is in when it is not Unicode, or auto (detect among the four).",
    )
    on_unsure: Literal["refuse", "keep"] = Field(
        default="refuse",
        description="When detection cannot decide (two readings plausible): refuse the message naming the "
        "field, or keep the text as it came. Text no encoding can read is always refused.",
    )


class LegacyTextRule(Strict):
    """Fields of payloads from some senders that may carry legacy-encoded text."""

    senders: list[str] = Field(
        default_factory=lambda: ["*"], description="Agency codes of the senders, as shell patterns."
    )
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes the paths use.")
    fields: list[LegacyTextField] = Field(min_length=1, description="The fields, each with its encoding.")


class IntakeSettings(Strict):
    """What intake does to text before anything hashes, stores, routes or signs it."""

    legacy_text: list[LegacyTextRule] = Field(
        default_factory=list,
        description="Fields that may carry TCVN3, VNI, VISCII or Windows-1252-read Windows-1258 text: "
        "converted to Unicode (NFC) and recorded, or refused naming the field.",
    )


class TimestampingSettings(Strict):
    """An RFC 3161 time-stamping authority that dates each signed tree head (optional)."""

    url: str = Field(description="The TSA's HTTP(S) address, e.g. http://tsa.example.vn/tsr.")
    certificate_file: Path | None = Field(
        default=None, description="PEM certificate(s) of the TSA, to check the tokens it returns."
    )
    timeout: Duration = Field(default=timedelta(seconds=10), description="How long one request may take.")


class AuditSettings(Strict):
    """The auditor's record (docs/audit.md): sealing, signed tree heads, and how long rows are kept."""

    seal_interval: Duration = Field(
        default=timedelta(seconds=1), description="How often new rows are sealed into the log."
    )
    head_interval: Duration = Field(
        default=timedelta(minutes=5),
        description="How often a signed tree head is made (when the log grew), each naming the one before.",
    )
    signing: KeyReference | None = Field(
        default=None,
        description="The key that signs tree heads (files, password from the environment). Without it, "
        "the first key under keys.signing signs them; with neither, entries are sealed but not signed.",
    )
    timestamping: TimestampingSettings | None = Field(
        default=None, description="Date every signed head with an RFC 3161 timestamp from this authority."
    )
    payload_retention: Duration | None = Field(
        default=None,
        description="How long message, delivery and attempt payloads are kept; older ones are written to "
        "archive_dir by 'hub archive' and removed (log entries keep their SHA-256). Unset: kept forever.",
    )
    metadata_retention: Duration | None = Field(
        default=None,
        description="How long message, route and delivery rows are kept; older finished ones are archived "
        "and removed by 'hub archive' (log entries stay). Unset: kept forever. At least payload_retention.",
    )
    archive_dir: Path = Field(
        default=Path("var/archive"), description="Where 'hub archive' writes its files."
    )

    @model_validator(mode="after")
    def _metadata_outlives_payloads(self) -> AuditSettings:
        if self.metadata_retention is not None and (
            self.payload_retention is None or self.metadata_retention < self.payload_retention
        ):
            raise ValueError("metadata_retention must be at least payload_retention (payloads go first)")
        return self


# ---- hub.yaml


class NoticeTemplate(Strict):
    """What the citizen is told when their dossier reaches one status: Jinja2 text (docs/notify.md)."""

    subject: str = Field(description="The email's subject (Jinja2).")
    email: str | None = Field(default=None, description="The email's text (Jinja2); absent: no email.")
    sms: str | None = Field(
        default=None,
        description="The SMS text (Jinja2; keep it short, without diacritics if the gateway "
        "bills Unicode as several messages); absent: no SMS.",
    )

    @field_validator("subject", "email", "sms")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            from jinja2 import TemplateSyntaxError
            from jinja2.sandbox import SandboxedEnvironment

            try:
                SandboxedEnvironment().parse(value)
            except TemplateSyntaxError as exc:
                raise ValueError(f"invalid Jinja2 template (line {exc.lineno}): {exc.message}") from exc
        return value


NoticeChannel = Literal["email", "sms"]
_CHANNELS: Final[tuple[NoticeChannel, ...]] = ("email", "sms")


class NotifySettings(Strict):
    """Citizens told when their dossier changes status (docs/notify.md): each status report the hub
    passes to a ``sources`` adapter becomes one notice per channel, a message routed like any other."""

    enabled: bool = Field(default=False, description="Make notices (every hub process; one at a time works).")
    interval: Duration = Field(
        default=timedelta(seconds=10), description="How often to look for new statuses."
    )
    lookback: Duration = Field(
        default=timedelta(days=7), description="Status reports older than this are never notified."
    )
    batch: PositiveInt = Field(default=200, description="Status reports examined per round at most.")
    sources: list[str] = Field(
        default_factory=lambda: ["motcua"],
        description="Adapters whose deliveries carry a dossier's status as the one-stop callback's JSON "
        "(MaHoSo, TrangThaiHoSo 1-10, NoiDungXuLy...).",
    )
    channels: list[NoticeChannel] = Field(
        default_factory=lambda: list(_CHANNELS),
        description="Channels to notify on, when the dossier gives the address and the status a template.",
    )
    templates: dict[str, NoticeTemplate] = Field(
        default_factory=dict, description="By national status code (TrangThaiHoSo, '1' to '10')."
    )

    @field_validator("templates")
    @classmethod
    def _status_codes(cls, value: dict[str, NoticeTemplate]) -> dict[str, NoticeTemplate]:
        wrong = [k for k in value if k not in {str(n) for n in range(1, 11)}]
        if wrong:
            raise ValueError(f"template keys must be status codes '1' to '10', not {', '.join(wrong)}")
        return value


class HubSettings(Strict):
    """The contents of ``config/hub.yaml``."""

    hub: HubIdentity
    database: DatabaseSettings = DatabaseSettings()
    api: ApiSettings = ApiSettings()
    workers: WorkerSettings = WorkerSettings()
    keys: KeySettings = KeySettings()
    trust: TrustSettings = TrustSettings()
    intake: IntakeSettings = IntakeSettings()
    tls: TlsSettings | None = Field(default=None, description="Serve HTTPS (and accept client certificates).")
    callers: list[Caller] = Field(
        default_factory=list, description="Systems allowed to call the hub; everything else is refused."
    )
    notify: NotifySettings = Field(
        default_factory=NotifySettings,
        description="Citizens told of their dossier's status (docs/notify.md).",
    )
    audit: AuditSettings = AuditSettings()


# ---------------------------------------------------------------- config/adapters/*.yaml


class RetryPolicyConfig(Strict):
    max_attempts: PositiveInt = Field(default=10, description="Attempts before the delivery is dead.")
    max_age: Duration = Field(
        default=timedelta(hours=24), description="Give up once the first attempt is this old."
    )
    initial_backoff: Duration = Field(default=timedelta(seconds=1), description="Wait after the 1st failure.")
    max_backoff: Duration = Field(default=timedelta(minutes=10), description="Longest wait between tries.")
    multiplier: float = Field(default=2.0, ge=1.0, description="Growth of the wait after each failure.")
    jitter: Duration = Field(
        default=timedelta(seconds=1), description="Random extra wait, so that retries do not arrive together."
    )


class CircuitBreakerConfig(Strict):
    failure_threshold: PositiveInt = Field(
        default=5, description="Consecutive transient failures that open the circuit."
    )
    reset_after: Duration = Field(
        default=timedelta(seconds=30), description="How long the circuit stays open before one trial call."
    )


class SigningPolicyConfig(Strict):
    policy: Literal["none", "xmldsig", "xades-bes", "edxml"] = Field(
        default="none",
        description="How outbound payloads are signed: none; xmldsig (enveloped, last child of the "
        "root); xades-bes (xmldsig plus signing time and signing certificate); edxml (enveloped, as the "
        "last child of edXMLHeader, per QCVN 102:2016).",
    )
    algorithm: Literal["rsa-sha256", "ecdsa-sha256"] = Field(
        default="rsa-sha256", description="Signature algorithm; the key must be of the matching type."
    )
    key: str | None = Field(
        default=None,
        description="Id of the signing key to use (keys.signing in hub.yaml); default: the first.",
    )


class InboundOperation(Strict):
    """One SOAP operation a ministry system calls on the hub, and how its body becomes an envelope."""

    kind: Literal["dossier", "document", "status", "query", "answer"] = Field(
        description="Kind of message the operation carries."
    )
    element: str = Field(
        description="Body element, as prefix:name with a prefix from 'namespaces', or a bare name for an "
        "element in no namespace (such as tax's DATA)."
    )
    soap_action: str | None = Field(default=None, description="SOAPAction (1.1) / action (1.2) value.")
    dossier_code: str | None = Field(
        default=None,
        description="XPath giving the dossier code (mã hồ sơ); like the other XPaths here it is "
        "evaluated with the body element as context node, e.g. 'dd:MaHoSoMotCua'.",
    )
    procedure_code: str | None = Field(default=None, description="XPath giving the procedure code.")
    document_id: str | None = Field(default=None, description="XPath giving the document id.")
    document_type: str | None = Field(default=None, description="XPath giving the document type.")
    recipient: str | None = Field(
        default=None, description="Agency code the message is for; default: this hub's province."
    )


class InboundConfig(Strict):
    """What the hub publishes for this ministry system to call (results, status updates, documents)."""

    wsdl: Path = Field(description="WSDL the hub serves at /soap/<adapter>?wsdl.")
    schema_: Path = Field(alias="schema", description="XSD validating every inbound body.")
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes used in this section.")
    operations: dict[str, InboundOperation] = Field(description="Operations by name.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_PREFIXED_NAME: Final = re.compile(r"[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*")
_HTTP_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")


class SimulatorStep(Strict):
    """One later step of a simulated case: after a delay, optionally call the hub, then set the status.

    Steps chain: each waits ``after`` from the end of the one before (the first from acceptance)."""

    after: Duration = Field(default=timedelta(0), description="Delay before this step, e.g. 3s.")
    call: str | None = Field(
        default=None,
        description="Operation of this adapter's 'inbound:' section the simulator calls on the hub "
        "(POST <hub>/soap/<adapter>, SOAP 1.1), e.g. CapNhatTrangThaiHoSo. Omit for a status change only "
        "(a polled system whose result is ready after a while).",
    )
    body: Path | None = Field(
        default=None,
        description="XSLT turning the stored request into the call's body (parameters message_id, key, "
        "sequence, received_at, status, now; case_sequence, case_received_at, case_message_id of the "
        "first record under the same key). Required with 'call'.",
    )
    status: str | None = Field(
        default=None,
        description="The record's status once the step is done (for a call: once the hub took it).",
    )

    @model_validator(mode="after")
    def _call_has_body(self) -> SimulatorStep:
        if (self.call is None) != (self.body is None):
            raise ValueError("'call' and 'body' go together: a call needs the XSLT making its body")
        if self.call is None and self.status is None:
            raise ValueError("a step does something: give 'call' and 'body', or 'status', or both")
        return self


class SimulatorOperation(Strict):
    """How the simulated system answers one operation and what it does with the case afterwards."""

    answer: Path = Field(description="XSLT producing the answer body from the request body.")
    key: str | None = Field(
        default=None,
        description="XPath 1.0 giving the record's business key (e.g. the dossier code), evaluated with "
        "the request body element (SOAP) or the JSON tree's root map (REST) as context node.",
    )
    status: str = Field(default="received", description="Status of a newly accepted record.")
    then: list[SimulatorStep] = Field(default_factory=list, description="Later steps, in order.")
    lookup: bool = Field(
        default=False,
        description="The operation reads the case its 'key' names instead of opening one (a polled "
        "result): the answer XSLT gets that record's status, message_id, sequence and received_at "
        "(status '' when none is held), and nothing is recorded.",
    )
    # REST only
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="POST", description="REST: HTTP method of the operation."
    )
    path: str | None = Field(
        default=None, pattern=r"^/[^\s?#]*$", description="REST: URL path; default: the service's path."
    )
    match: dict[str, str] = Field(
        default_factory=dict,
        description="REST: top-level body fields and the values that select this operation among those "
        "sharing method and path, e.g. {service: DongBoHoSoMC}.",
    )
    request_schema: Path | None = Field(
        default=None, description="REST: JSON Schema (*.schema.json) the request body must satisfy."
    )
    answer_schema: Path | None = Field(
        default=None, description="REST: JSON Schema (*.schema.json) the answer must satisfy."
    )
    status_from: str | None = Field(
        default=None,
        description="XPath 1.0 over the request (same context as 'key') whose value is the new record's "
        "status instead of 'status', e.g. a pushed TrangThaiHoSo; empty gives 'status'.",
    )
    digests: str | None = Field(
        default=None,
        description="XPath 1.0 selecting base64 values in the request (documents sent inline): each is "
        "decoded and its SHA-256 (hex) passed to the answer XSLT as parameter 'digests', space-separated, "
        "so a test can compare the bytes received. Invalid base64 is refused (400).",
    )

    @model_validator(mode="after")
    def _lookup_reads(self) -> SimulatorOperation:
        if self.lookup and (self.key is None or self.then):
            raise ValueError("a lookup operation needs 'key' (the case it reads) and has no 'then'")
        return self


def _operation(value: object) -> object:
    """The short form ``prefix:Name: answer.xsl`` is an operation with only an answer."""
    return {"answer": value} if isinstance(value, str | Path) else value


#: An operation, or just the path of its answer XSLT (the short form).
SimulatorOperationOrPath = Annotated[
    SimulatorOperation, BeforeValidator(_operation, json_schema_input_type=SimulatorOperation | str)
]


class SimulatorQuery(Strict):
    """The query operation: what the simulated system holds and in which status (for reconciliation)."""

    element: str | None = Field(
        default=None,
        description="SOAP: request body element, as prefix:name, e.g. dd:TraCuuHoSo; children status, "
        "key, operation, since, until, limit (any namespace) filter. The answer is <element>Response "
        "in the same namespace (docs/simulators.md).",
    )
    method: Literal["GET", "POST"] = Field(default="GET", description="REST: HTTP method.")
    path: str | None = Field(
        default=None,
        pattern=r"^/[^\s?#]*$",
        description="REST: URL path; filters as query parameters (GET) or JSON fields (POST).",
    )


class SimulatorApiKey(Strict):
    """REST: the key a caller of the simulated system must present (its value from the environment)."""

    header: str = Field(default="X-API-Key", description="Header carrying the key.")
    env: str = Field(description="Environment variable holding the expected key (set it for the hub too).")


class SimulatorSession(Strict):
    """REST: a session login as the national portal has: ``POST login_path {username, password}``
    answers ``{session, error_code: 0}``; every other call carries the session in a body field."""

    login_path: str = Field(pattern=r"^/[^\s?#]*$", description="URL path of the login call.")
    username_env: str = Field(description="Environment variable holding the username it accepts.")
    password_env: str = Field(description="Environment variable holding the password it accepts.")
    field: str = Field(default="session", description="Top-level body field carrying the session.")
    ttl: Duration = Field(default=timedelta(minutes=30), description="How long a session lives.")
    code_field: str = Field(default="error_code", description="Answer field of the portal's result code.")
    expired_code: str = Field(
        default="-1", description="Code answered (HTTP 200) for a missing, unknown or expired session."
    )


class SimulatorService(Strict):
    """One endpoint of a simulated system: a SOAP service or a set of REST/JSON operations."""

    protocol: Literal["soap", "rest"] = Field(
        default="soap", description="soap (1.1 and 1.2) or rest (JSON)."
    )
    path: str = Field(
        pattern=r"^/[^\s?#]*$",
        description="URL path the service answers at, e.g. /soap/land (not under /_sim, the control API); "
        "REST: the default path of its operations.",
    )
    schema_: Path | None = Field(
        default=None, alias="schema", description="SOAP: XSD validating request and answer bodies."
    )
    wsdl: Path | None = Field(default=None, description="SOAP: WSDL served at GET <path>?wsdl, if any.")
    namespaces: dict[str, str] = Field(
        default_factory=dict, description="Prefixes the operation names and XPaths use."
    )
    operations: dict[str, SimulatorOperationOrPath] = Field(
        min_length=1,
        description="SOAP: request body element as prefix:name, mapped to the answer XSLT (short form) or "
        "to an operation; REST: operation name mapped to an operation.",
    )
    message_id_header: str = Field(
        default="X-Message-Id",
        description="REST: header carrying the idempotency key (the hub's message id).",
    )
    message_id_field: str | None = Field(
        default=None,
        description="REST: body field (dotted path through objects) holding the idempotency key instead.",
    )
    query: SimulatorQuery | None = Field(default=None, description="The query operation, if served.")
    api_key: SimulatorApiKey | None = Field(
        default=None, description="REST: refuse calls without this API key (401 problem+json)."
    )
    session: SimulatorSession | None = Field(
        default=None, description="REST: a session login every call must carry (the national portal's)."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("path")
    @classmethod
    def _not_control(cls, value: str) -> str:
        if value.startswith("/_sim"):
            raise ValueError("paths under /_sim belong to the simulator's control API")
        return value

    @model_validator(mode="after")
    def _fits_protocol(self) -> SimulatorService:
        if self.protocol == "soap" and (self.api_key is not None or self.session is not None):
            raise ValueError("'api_key' and 'session' are for REST services")
        if self.protocol == "soap":
            if self.schema_ is None:
                raise ValueError("a SOAP service needs 'schema' (the XSD of its bodies)")
            names = list(self.operations)
            if self.query is not None:
                if self.query.element is None:
                    raise ValueError("a SOAP service's query needs 'element' (prefix:name)")
                names.append(self.query.element)
            for name in names:
                if not _PREFIXED_NAME.fullmatch(name):
                    raise ValueError(f"{name!r} is not prefix:name (e.g. dd:TiepNhanHoSo)")
                if name.split(":", 1)[0] not in self.namespaces:
                    raise ValueError(f"operation {name!r} uses a prefix not declared in 'namespaces'")
        elif self.query is not None and self.query.path is None:
            raise ValueError("a REST service's query needs 'path'")
        return self

    def clark(self, name: str) -> str:
        """A ``prefix:name`` of this service as a Clark name ``{uri}name``."""
        prefix, local = name.split(":", 1)
        return f"{{{self.namespaces[prefix]}}}{local}"

    def operation_tags(self) -> dict[str, Path]:
        """SOAP: the answer XSLTs by Clark name of their request body element."""
        return {self.clark(name): op.answer for name, op in self.operations.items()}


class SimulatorSigning(Strict):
    """Signs what the simulator sends the hub, as the agency it stands for does; files from env or CLI."""

    policy: Literal["xmldsig", "xades-bes"] = Field(default="xmldsig", description="Signature shape.")
    algorithm: Literal["rsa-sha256", "ecdsa-sha256"] = Field(default="rsa-sha256", description="Algorithm.")
    key_file_env: str = Field(
        description="Environment variable naming the private key file (PEM or PKCS#12)."
    )
    certificate_file_env: str | None = Field(
        default=None, description="Environment variable naming the PEM certificate chain file."
    )
    password_env: str | None = Field(
        default=None, description="Environment variable holding the key password."
    )


#: StatusCode values a simulated document system may answer with (TT 10/2016; see lienthong.edxml.names).
SimulatedStatusCode = Literal["01", "02", "03", "04", "05", "06", "13", "15", "16"]


def _status_code(value: object) -> object:
    """YAML reads an unquoted ``01`` as the number 1: give it back its two digits."""
    return f"{value:02d}" if isinstance(value, int) and not isinstance(value, bool) else value


class SimulatedAgency(Strict):
    """An agency an edXML simulator plays: a ministry behind the national axis (``edxml-axis``), or the
    province's document office (``edxml-qlvb``). It answers each document addressed to it with status
    packages, in order, one every ``delay``."""

    name: str | None = Field(default=None, description="The agency's name, written in its status packages.")
    answers: list[Annotated[SimulatedStatusCode, BeforeValidator(_status_code)]] | None = Field(
        default=None,
        description='StatusCodes it answers a new document with, in order (quote them: "01"). '
        "Default: 01, 03, 05, 06 on the axis; 03, 05, 06 in QLVB (the hub answers 01 itself). "
        "Empty: it answers nothing.",
    )
    refuse_changes: bool = Field(
        default=False,
        description="Answer a revocation, update or replacement (BussinessDocType 1, 2, 3) with 16 "
        "(refused) instead of 15 (agreed); preceded by 01 when 'answers' starts with 01.",
    )
    delay: Duration | None = Field(
        default=None, description="Wait before each status package; default: the simulator's 'delay'."
    )


class SimulatorConfig(Strict):
    """A stand-in for the ministry system, declared as data: ``hub simulate <adapter>`` serves it, the
    demo and the tests deliver to it. Each service validates requests and answers against its schemas
    and answers each operation through an XSLT (parameters ``message_id``, ``received_at``,
    ``sequence``); every accepted request is a record in SQLite, idempotent on its message id.

    One SOAP service may be written flat (path, schema, wsdl, namespaces, operations); several, SOAP or
    REST, on one port go under ``services``."""

    kind: Literal["services", "edxml-axis", "edxml-qlvb"] = Field(
        default="services",
        description="services: SOAP/REST services declared as data (below). edxml-axis: the national "
        "document axis (sendEdoc, getReceivedEdocList, getEdoc, updateStatus; mailboxes per agency) with "
        "scripted ministries; edxml-qlvb: the province's document system, which the hub delivers edXML "
        "to with sendEdoc and which answers with status packages through the hub's REST intake "
        "(docs/simulators.md).",
    )
    path: str | None = Field(
        default=None,
        pattern=r"^/[^\s?#]*$",
        description="URL path the service answers at, e.g. /soap/land (not under /_sim, the control API). "
        "edXML kinds: the base of the protocol's endpoints, e.g. /axis (default: the root).",
    )
    schema_: Path | None = Field(
        default=None, alias="schema", description="XSD validating request and answer bodies."
    )
    wsdl: Path | None = Field(default=None, description="WSDL served at GET <path>?wsdl, if any.")
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes the operation names use.")
    operations: dict[str, SimulatorOperationOrPath] = Field(
        default_factory=dict,
        description="Request body element, as prefix:name with a prefix from 'namespaces', mapped to the "
        "XSLT producing the answer body (by convention under mappings/<adapter>/simulator/), or to an "
        "operation with answer, key, status and then.",
    )
    query: SimulatorQuery | None = Field(default=None, description="The query operation, if served.")
    services: list[SimulatorService] = Field(
        default_factory=list, description="Several services on one port (instead of the flat form)."
    )
    store: str | None = Field(
        default=None,
        description="SQLite file of the simulator's records, relative to the project root; ':memory:' "
        "forgets on restart. Default: var/sim/<adapter>.db.",
    )
    hub_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s?#]+$",
        description="Base URL of the hub the callbacks go to (hub simulate --hub-url or HUB_URL overrides).",
    )
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key the simulator calls the hub with."
    )
    signing: SimulatorSigning | None = Field(
        default=None, description="Sign callback bodies (XMLDSig), as the agency behind this adapter does."
    )
    retry_initial: Duration = Field(
        default=timedelta(milliseconds=500),
        description="First wait before a callback the hub refused is sent again.",
    )
    retry_max: Duration = Field(
        default=timedelta(seconds=30), description="Longest wait between callback attempts."
    )
    # edXML kinds only
    api_key: SimulatorApiKey | None = Field(
        default=None,
        description="edXML kinds: refuse calls without this API key (the axis's answer FAIL "
        "UNAUTHORIZED, HTTP 401).",
    )
    agencies: dict[str, SimulatedAgency] = Field(
        default_factory=dict,
        description="edXML kinds: the agencies the simulator plays, by agency code, and how each answers "
        "the documents addressed to it. An agency not listed only has a mailbox (axis) or answers "
        "nothing (QLVB).",
    )
    delay: Duration = Field(
        default=timedelta(milliseconds=200),
        description="edXML kinds: default wait before each status package a simulated agency sends.",
    )
    keys_dir: Path | None = Field(
        default=None,
        description="edXML kinds: directory of the agencies' keys, <code>.key and <code>.pem (what "
        "'hub keys dev-ca' writes under var/keys/agencies), relative to the project root. The status "
        "packages and injected documents of an agency with a key there are signed (policy edxml, "
        "RSA-SHA256); without one, unsigned.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("path")
    @classmethod
    def _not_control(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("/_sim"):
            raise ValueError("paths under /_sim belong to the simulator's control API")
        return value

    @property
    def is_edxml(self) -> bool:
        """Whether this is one of the edXML simulators (served by lienthong.devtools.simulator.axis)."""
        return self.kind != "services"

    @model_validator(mode="after")
    def _one_form(self) -> SimulatorConfig:
        edxml_only = {"api_key": self.api_key, "agencies": self.agencies, "keys_dir": self.keys_dir}
        if self.is_edxml:
            declared = {
                "schema": self.schema_,
                "wsdl": self.wsdl,
                "operations": self.operations,
                "services": self.services,
                "query": self.query,
                "signing": self.signing,
            }
            if extra := [k for k, v in declared.items() if v]:
                raise ValueError(f"kind {self.kind} serves the edXML protocol; remove {', '.join(extra)}")
            return self
        if extra := [k for k, v in edxml_only.items() if v]:
            raise ValueError(f"{', '.join(extra)}: for kind edxml-axis or edxml-qlvb only")
        flat = self.path is not None or self.operations or self.schema_ is not None
        if flat and self.services:
            raise ValueError(
                "write one service flat (path, schema, operations) or several under 'services', not both"
            )
        if not flat and not self.services:
            raise ValueError("declare a service: path, schema and operations, or a list under 'services'")
        if flat:
            try:
                self.service_list()  # the flat form is checked as the service it stands for
            except ValidationError as exc:
                raise ValueError(
                    "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
                ) from None
        paths = [s.path for s in self.service_list() if s.protocol == "soap"]
        if len(paths) != len(set(paths)):
            raise ValueError("two SOAP services on one path")
        return self

    def service_list(self) -> list[SimulatorService]:
        """Every service, the flat form as a one-element list (none for the edXML kinds)."""
        if self.is_edxml:
            return []
        if self.services:
            return list(self.services)
        return [
            SimulatorService.model_validate(
                {
                    "protocol": "soap",
                    "path": self.path,
                    "schema": self.schema_,
                    "wsdl": self.wsdl,
                    "namespaces": self.namespaces,
                    "operations": self.operations,
                    "query": self.query,
                }
            )
        ]

    def operation_tags(self) -> dict[str, Path]:
        """The first SOAP service's answer XSLTs by Clark name of their request body element."""
        return next(s for s in self.service_list() if s.protocol == "soap").operation_tags()


#: What an operation's ``accepts`` says for a payload in JSON (the W3C XML representation's ``fn:map``).
ACCEPTS_JSON: Final = "json"
_OPERATION_NAME: Final = r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"


_DOCUMENT_DESCRIPTION: Final = (
    "'edxml': the payload is an official document or status package in edXML (QCVN 102:2016), sent in "
    "the hub's name. It is read tolerantly, put in the standard form (the standard's element order, "
    "'Bussiness', status fields under edXMLHeader/Status, yyyy/MM/dd dates, prefix edXML, the sender's "
    "signature removed), checked (agency codes, DocumentId, From is the hub's agency) and only then "
    "validated against 'schema' and signed (use signing policy 'edxml'); no 'mapping' (docs/edxml.md)."
)


class OperationConfig(Strict):
    """One thing the hub sends to a ministry system: its own schemas, mapping and call. What it leaves
    out (plugin, endpoint, signing) it takes from the adapter."""

    accepts: list[str] = Field(
        default_factory=list,
        description="Root elements (prefix:name, prefixes from the adapter's 'namespaces'; a bare name for "
        "an element in no namespace, such as tax's DATA) of the routed payloads this operation takes, "
        "or 'json' for a JSON payload. A message routed to the adapter "
        "goes to the first operation that accepts it; empty: any payload (put such an operation last).",
    )
    when: str | None = Field(
        default=None,
        description="XPath 1.0 over the payload that must also be true, e.g. for two operations taking "
        "the same element (prefixes from the adapter's 'namespaces').",
    )
    plugin: str | None = Field(default=None, description="Plugin for this operation; default: the adapter's.")
    endpoint: str | None = Field(default=None, description="URL for this operation; default: the adapter's.")
    input_schema: Path | None = Field(
        default=None, description="XSD the routed payload must satisfy before translation."
    )
    schema_: Path | None = Field(
        default=None,
        alias="schema",
        description="Schema the translation must satisfy: an XSD, or a JSON Schema (*.schema.json) for "
        "JSON output.",
    )
    mapping: Path | None = Field(
        default=None,
        description="Mapping turning the routed payload into this operation's request: "
        "declarative YAML (.yaml, docs/mappings.md) or XSLT 1.0 (.xsl).",
    )
    signing: SigningPolicyConfig | None = Field(
        default=None, description="Signing for this operation; default: the adapter's."
    )
    document: Literal["edxml"] | None = Field(
        default=None,
        description=_DOCUMENT_DESCRIPTION + " Default: the adapter's.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Plugin-specific settings of this operation (see the plugin)."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LookupKey(Strict):
    """The one key a lookup is asked by, and the check it must pass before anything is sent."""

    name: str = Field(
        default="key",
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$",
        description="Name of the key, as the API documents it and the SOAP request element of the hub's "
        "lookup operation carries it, e.g. code.",
    )
    check: Literal["none", "mst"] = Field(
        default="none",
        description="Check made before any call; a key that fails it is refused (422) without a call. "
        "'mst': an enterprise / tax code (10 digits with its check digit, or a branch NNNNNNNNNN-NNN); "
        "'none': any key of 1-100 printable characters.",
    )
    check_digit_ten: Literal["refuse", "zero"] = Field(
        default="refuse",
        description="For check 'mst': when the check-digit formula gives 10 (unconfirmed how the "
        "registry treats it), 'refuse' says no code has such a prefix, 'zero' takes digit 0.",
    )


class LookupRequest(Strict):
    """How the request body is built from the key: ``<element><key_element>KEY</key_element></element>``."""

    element: str = Field(description="Request body element, as prefix:name with a prefix from 'namespaces'.")
    key_element: str = Field(description="Child element carrying the key, as prefix:name.")


class LookupConfig(Strict):
    """A synchronous lookup through this adapter (request-reply, not store-and-forward): a provincial
    system asks ``GET /api/v1/lookups/<adapter>/<key>`` (or the SOAP operation at
    ``/soap/lookups/<adapter>``), the hub checks the key, calls the adapter (with ``operations``: the
    one named by ``operation``) once with ``timeout``, logs the exchange as a message of kind
    ``query``, and answers with the element ``answer`` of the reply. Callers need the right
    ``lookup:<adapter>``."""

    operation: str | None = Field(
        default=None,
        description="The adapter operation the lookup calls: its plugin, endpoint, options and schema. "
        "Required when the adapter has 'operations'; without them, the adapter's own settings are used "
        "(and this, if given, must be the single operation's name, i.e. its options.operation).",
    )
    key: LookupKey = LookupKey()
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes used in this section.")
    request: LookupRequest
    answer: str = Field(
        description="XPath 1.0 over the reply body element selecting the element answered, e.g. dn:EntCert."
    )
    not_found: str | None = Field(
        default=None,
        description="XPath 1.0 boolean over the reply body element: true when the system answered "
        "that it holds nothing for the key (404). Without it, a reply lacking 'answer' is a 404.",
    )
    timeout: Duration = Field(
        default=timedelta(seconds=5),
        description="Longest the caller waits for the system, connection included; then 503.",
    )
    cache: Duration = Field(
        default=timedelta(0),
        description="How long an answer is reused without a call (0: never). Each hub process keeps its "
        "own cache, in memory; 'not found' is not cached.",
    )
    cache_size: PositiveInt = Field(default=1000, description="Most answers kept in the cache.")

    @model_validator(mode="after")
    def _known_prefixes(self) -> LookupConfig:
        for name in (self.request.element, self.request.key_element):
            if not re.fullmatch(r"[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*", name):
                raise ValueError(f"{name!r} is not prefix:name (e.g. dn:LayThongTinDoanhNghiep)")
            if name.split(":", 1)[0] not in self.namespaces:
                raise ValueError(f"{name!r} uses a prefix not declared in 'namespaces'")
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be longer than 0")
        return self

    def clark(self, name: str) -> str:
        """``prefix:name`` as ``{namespace}name``."""
        prefix, local = name.split(":", 1)
        return f"{{{self.namespaces[prefix]}}}{local}"


# ---------------------------------------------------------------- polling (docs/polling.md)


class PollAnsweredBy(Strict):
    """What ends the wait for a dossier: a message of this kind from the adapter's agency."""

    kind: Literal["answer", "status"] = Field(
        default="answer",
        description="Kind of message that ends the wait: once the store holds one from the adapter's "
        "agency for the dossier (by dossier code), the dossier is no longer polled.",
    )


class PollAwaiting(Strict):
    """Which dossiers a poll asks about: those delivered through ``operation`` still without an answer."""

    operation: str = Field(description="The adapter operation whose delivered dossiers await a result.")
    answered_by: PollAnsweredBy = PollAnsweredBy()
    give_up_after: Duration = Field(
        default=timedelta(days=30),
        description="Dossiers delivered longer ago than this are no longer polled; 'hub trail' still "
        "shows them, without a result.",
    )
    max_dossiers: PositiveInt = Field(
        default=500, description="Most awaiting dossiers read per poll (the oldest first)."
    )


class PollRequest(Strict):
    """How one poll call is made: like an operation (plugin, endpoint, mapping, schemas, options).

    Its input is the hub's ``lt:Poll`` document (schemas/hub/hub.xsd): the dossier codes asked about
    and the group's value, which the mapping turns into the system's request."""

    plugin: str | None = Field(default=None, description="Plugin for the call; default: the adapter's.")
    endpoint: str | None = Field(default=None, description="URL of the call; default: the adapter's.")
    input_schema: Path | None = Field(
        default=None,
        description="XSD of the lt:Poll document (schemas/hub/hub.xsd), so that the mapping's source "
        "paths are checked against it.",
    )
    mapping: Path | None = Field(
        default=None, description="Mapping from lt:Poll to the request (.yaml or .xsl)."
    )
    schema_: Path | None = Field(
        default=None,
        alias="schema",
        description="Schema the request must satisfy: XSD, or *.schema.json for a JSON request.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Plugin options of the call (as an operation's)."
    )
    timeout: Duration | None = Field(
        default=None, description="Whole-call timeout; default: the adapter's timeout."
    )
    batch: PositiveInt = Field(
        default=50, description="Most dossier codes in one call; a larger group takes several calls."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PollResults(Strict):
    """How the answer is read: XPaths over its tree (JSON as the W3C XML representation, prefix fn)."""

    each: str = Field(
        description="XPath selecting each result in the answer, e.g. "
        "\"fn:array[@key='value']/fn:map\" (context: the answer's root; a SOAP answer's body element)."
    )
    dossier_code: str = Field(description="XPath giving a result's dossier code (context: the result).")
    ready: str | None = Field(
        default=None,
        description="XPath 1.0 boolean: true when the result is final (context: the result). Without "
        "it every result is taken.",
    )
    id: str | None = Field(
        default=None,
        description="XPath giving the system's own id of the result, if it has one; it joins the "
        "dossier code in the message id, so a repeated poll is a repeat, not a new message.",
    )
    kind: Literal["answer", "status"] = Field(
        default="answer", description="Kind of the message each ready result becomes."
    )


class PollConfig(Strict):
    """A result the hub fetches on a schedule, for a system that never pushes one (justice's
    LayKetQua). Every ``interval`` the hub reads the dossiers still awaiting a result, asks the system
    about them (one call per group), and submits each ready result through intake as a message from
    the adapter's agency, routed by routes.yaml like any other."""

    interval: Duration = Field(description="Time between polls, e.g. 30s (an APScheduler interval job).")
    awaiting: PollAwaiting
    group_by: Literal["procedure_code", "none"] = Field(
        default="procedure_code",
        description="One call per procedure code (the mapping turns it into, e.g., a module), or one "
        "call for all awaiting dossiers ('none').",
    )
    namespaces: dict[str, str] = Field(
        default_factory=dict,
        description="Prefixes the results' XPaths use (fn is the JSON vocabulary unless redefined).",
    )
    request: PollRequest = PollRequest()
    results: PollResults

    @model_validator(mode="after")
    def _positive(self) -> PollConfig:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be longer than 0")
        return self


AxisMessageType = Literal["edoc", "status"]
_AXIS_MESSAGE_TYPES: Final[tuple[AxisMessageType, ...]] = ("edoc", "status")


class ReceivingConfig(Strict):
    """Messages fetched from the national document axis on a schedule (``plugin: edxml-axis``;
    docs/edxml.md, "The national axis"). Every ``interval``, in every hub process, one of them lists
    what waits for the hub's agency, fetches each message, hands it to intake as a message from the
    axis's ``from`` agency and confirms it on the axis (``done``, or ``fail`` when refused)."""

    interval: Duration = Field(
        default=timedelta(seconds=30), description="Time between rounds (an APScheduler interval job)."
    )
    messagetypes: list[AxisMessageType] = Field(
        default_factory=lambda: list(_AXIS_MESSAGE_TYPES),
        min_length=1,
        description="What is listed and fetched: documents (edoc), status packages (status), or both.",
    )
    max_per_run: PositiveInt = Field(
        default=20, description="Most messages fetched in one round; the rest wait for the next."
    )
    status_01: bool = Field(
        default=True,
        description="Answer each new document with status 01 (arrived) on the hub's behalf, sent back "
        "through this adapter (routes.yaml) and signed per its policy.",
    )


# ---------------------------------------------------------------- reconciliation (docs/reconciliation.md)


class ReconcileApiKey(Strict):
    """An API key sent with a listing call: the header and the environment variable holding it."""

    header: str = Field(default="X-API-Key", description="Header carrying the key.")
    env: str = Field(description="Environment variable holding the key (never the key itself).")


class ReconcileList(Strict):
    """How to ask a system what it holds: the query operation of the simulators' contract
    (docs/simulators.md, "The query operation"), or the axis's received list."""

    protocol: Literal["soap", "rest", "axis"] = Field(
        description="soap: a SOAP 1.1 request whose body is 'element' (filters as children); rest: "
        "GET with the filters as query parameters, answered {total, records}; axis: getReceivedEdocList."
    )
    endpoint: str | None = Field(
        default=None, description="URL of the query; default: the adapter's endpoint (axis: its base URL)."
    )
    element: str | None = Field(
        default=None, description="SOAP: the query's body element, as prefix:name (prefix from 'namespaces')."
    )
    api_key: ReconcileApiKey | None = Field(default=None, description="An API key to send, if any.")
    limit: PositiveInt = Field(default=5000, description="Most records asked for in one run.")

    @model_validator(mode="after")
    def _element(self) -> ReconcileList:
        if self.protocol == "soap" and not self.element:
            raise ValueError("a SOAP listing needs 'element' (e.g. dd:TraCuuHoSo)")
        return self


class ReconcilePush(Strict):
    """How a newer status is told to the one-stop system and the national portal: a message from the
    adapter's agency, as if it had called the inbound operation, built by an XSLT from the dossier as
    the hub delivered it, and routed by routes.yaml like any other."""

    operation: str = Field(description="The adapter's inbound operation the message stands for.")
    body: Path = Field(
        description="XSLT over the dossier the hub delivered (parameters: key, status, code, now, case)."
    )


class ReconcileConfig(Strict):
    """Scheduled reconciliation with the system behind this adapter (docs/reconciliation.md): what it
    holds, compared with the hub's records and the one-stop system's view; safe differences healed,
    the others reported."""

    interval: Duration | None = Field(default=None, description="Time between runs, e.g. 1h.")
    cron: str | None = Field(
        default=None, description="Or a crontab expression in Asia/Ho_Chi_Minh time, e.g. '30 1 * * *'."
    )
    window: Duration = Field(
        default=timedelta(days=7),
        description="What a scheduled run compares: the exchanges of this long ago.",
    )
    settle: Duration = Field(
        default=timedelta(minutes=5),
        description="Records changed more recently than this are left to the next run (callbacks on "
        "their way).",
    )
    lease: Duration = Field(
        default=timedelta(minutes=10),
        description="How long one run may hold the job; a dead process's run is taken over after it.",
    )
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes used in this section.")
    operations: list[str] = Field(
        default_factory=list,
        description="Only the deliveries through these adapter operations are compared (default: all), "
        "for a system whose query lists one of its services (justice: NhanDKHT).",
    )
    list_: ReconcileList = Field(alias="list", description="How to list what the system holds.")
    statuses: dict[str, str] = Field(
        default_factory=dict,
        description="The system's statuses → the national TrangThaiHoSo (1–10); unlisted ones are "
        "not compared.",
    )
    final: list[str] = Field(
        default_factory=list, description="The system's statuses that mean its result exists."
    )
    result_kind: Literal["answer", "status"] = Field(
        default="answer", description="Kind of the message that carries the system's result to the hub."
    )
    push_status: ReconcilePush | None = Field(
        default=None, description="How a status the one-stop system lacks is pushed (none: reported)."
    )
    fetch_result: str | None = Field(
        default=None, description="A poll of this adapter (polling:) that fetches a missing result."
    )
    one_stop: ReconcileList | None = Field(
        default=None,
        description="The one-stop system's view: its query operation (TrangThaiHoSo per dossier).",
    )
    one_stop_adapter: str = Field(
        default="motcua", description="The adapter of the one-stop system (its deliveries under way)."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _schedule(self) -> ReconcileConfig:
        if self.interval is not None and self.cron is not None:
            raise ValueError("give 'interval' or 'cron', not both")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError("interval must be longer than 0")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r}: {exc}") from exc
        return self


class AdapterConfig(Strict):
    """The contents of one ``config/adapters/<name>.yaml``: one connection to one ministry system.

    The hub runs the intake stages for every operation from the settings here (input_schema → mapping
    → schema → signing); what is specific to how the plugin talks (a WSDL, a SOAP operation, a JSON
    endpoint) lives in ``options``, checked against the plugin's own model. A system that takes one
    kind of message writes these at the top; one that takes several lists ``operations``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$", description="Name routes use to target it.")
    plugin: str | None = Field(
        default=None,
        description="Adapter plugin: 'soap' or 'rest' (built in), or an entry point in group "
        "'lienthong.adapters'. With 'operations', the default for those that name none.",
    )
    agency: str = Field(description="Agency code of the ministry system behind this adapter.")
    description: str = ""
    endpoint: str | None = Field(
        default=None, description="URL of the ministry service (with 'operations': their default)."
    )
    timeout: Duration = Field(default=timedelta(seconds=30), description="Whole-call timeout.")
    connect_timeout: Duration = Field(default=timedelta(seconds=5), description="TCP connect timeout.")
    input_schema: Path | None = Field(
        default=None, description="XSD the provincial payload must satisfy before translation."
    )
    schema_: Path | None = Field(
        default=None,
        alias="schema",
        description="Schema the translated payload must satisfy (XSD, or *.schema.json for JSON).",
    )
    mapping: Path | None = Field(
        default=None,
        description="Mapping from the provincial payload to what the ministry accepts: declarative YAML "
        "(.yaml, docs/mappings.md) or XSLT 1.0 (.xsl).",
    )
    retry: RetryPolicyConfig = RetryPolicyConfig()
    circuit_breaker: CircuitBreakerConfig = CircuitBreakerConfig()
    signing: SigningPolicyConfig = SigningPolicyConfig()
    namespaces: dict[str, str] = Field(
        default_factory=dict, description="Prefixes the operations' 'accepts' and 'when' use."
    )
    operations: dict[str, OperationConfig] = Field(
        default_factory=dict,
        description="What the hub sends to this system, by operation name, when it takes more than one "
        "kind of message (instead of input_schema/mapping/schema/options at the top).",
    )
    inbound: InboundConfig | None = Field(
        default=None, description="SOAP operations this ministry system calls on the hub, if any."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Plugin-specific settings, checked against the plugin's model (for 'soap': "
        "transport, wsdl, operation, soap_action; for 'rest': method, api_key, session, success…; see "
        "the plugin options below).",
    )
    document: Literal["edxml"] | None = Field(
        default=None,
        description=_DOCUMENT_DESCRIPTION + " With 'operations': their default.",
    )
    as_received: bool = Field(
        default=False,
        description="Send each message's XML byte for byte as its sender's message carried it, signature "
        "included (after the input schema, if any), so the system receives the original it can verify "
        "and keep: a ministry's signed document handed on to the province's document system. The hub "
        "still acts only on what the signature covers (routing, the input schema); no mapping, output "
        "schema, signing or 'document' may be set with it.",
    )
    simulator: SimulatorConfig | None = Field(
        default=None, description="A simulated ministry system for development and tests (hub simulate)."
    )
    lookup: LookupConfig | None = Field(
        default=None,
        description="A synchronous lookup through this adapter (GET /api/v1/lookups/<name>/<key>).",
    )
    polling: dict[str, PollConfig] = Field(
        default_factory=dict,
        description="Results fetched on a schedule, by poll name (docs/polling.md).",
    )
    receiving: ReceivingConfig | None = Field(
        default=None,
        description="Messages fetched from the national document axis on a schedule (plugin edxml-axis).",
    )
    reconcile: ReconcileConfig | None = Field(
        default=None, description="Scheduled reconciliation with this system (docs/reconciliation.md)."
    )

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        # What _one_form checks, for editors: without operations, plugin and endpoint are required.
        json_schema_extra={
            "if": {"not": {"required": ["operations"]}},
            "then": {"required": ["plugin", "endpoint"]},
        },
    )

    @field_validator("operations")
    @classmethod
    def _operation_names(cls, value: dict[str, OperationConfig]) -> dict[str, OperationConfig]:
        for name in value:
            if not re.fullmatch(_OPERATION_NAME, name):
                raise ValueError(f"{name!r} is not an operation name (letters, digits, '_', '.', '-')")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> AdapterConfig:
        if self.as_received:
            changes = [
                k
                for k, v in (
                    ("mapping", self.mapping),
                    ("schema", self.schema_),
                    ("document", self.document),
                    ("operations", self.operations),
                    ("signing", self.signing.policy != "none"),
                )
                if v
            ]
            if changes:
                raise ValueError(f"as_received sends what was received: remove {', '.join(changes)}")
        if self.operations:
            top = [
                k
                for k, v in (
                    ("input_schema", self.input_schema),
                    ("schema", self.schema_),
                    ("mapping", self.mapping),
                    ("options", self.options or None),
                )
                if v
            ]
            if top:
                raise ValueError(
                    f"with 'operations', {', '.join(top)} belong inside each operation, not at the top"
                )
            for name, op in self.operations.items():
                if (op.plugin or self.plugin) is None:
                    raise ValueError(f"operation {name!r} names no plugin, and the adapter gives none")
                if (op.endpoint or self.endpoint) is None:
                    raise ValueError(f"operation {name!r} names no endpoint, and the adapter gives none")
                if (op.document or self.document) is not None and op.mapping is not None:
                    raise ValueError(f"operation {name!r}: document edxml takes no mapping")
                for element in op.accepts:
                    prefix, sep, _ = element.rpartition(":")
                    if sep and prefix not in self.namespaces:
                        raise ValueError(
                            f"operation {name!r} accepts {element!r}: write prefix:name with a prefix "
                            "declared under 'namespaces', a name in no namespace, or 'json'"
                        )
        else:
            if self.document is not None and self.mapping is not None:
                raise ValueError("document edxml takes no mapping: the document is sent as it is")
            if self.plugin is None:
                raise ValueError("'plugin' is required (soap, rest, or an installed plugin)")
            if self.endpoint is None:
                raise ValueError("'endpoint' is required")
        return self

    def operation_names(self) -> list[str]:
        """The operations in the order they are tried; the single-operation form has one, named after
        its ``options.operation`` (or ``default``)."""
        if self.operations:
            return list(self.operations)
        return [str(self.options.get("operation") or "default")]

    def operation_config(self, name: str) -> AdapterConfig:
        """This adapter as one operation sees it: the operation's settings in place of the adapter's
        defaults, and no ``operations``. A plugin is built from this, so plugins need not know about
        operations at all."""
        if not self.operations:
            return self
        op = self.operations[name]
        return self.model_copy(
            update={
                "plugin": op.plugin or self.plugin,
                "endpoint": op.endpoint or self.endpoint,
                "input_schema": op.input_schema,
                "schema_": op.schema_,
                "mapping": op.mapping,
                "signing": op.signing or self.signing,
                "document": op.document or self.document,
                "options": op.options,
                "operations": {},
            }
        )

    def operation_path(self, name: str) -> tuple[str, ...]:
        """Where an operation's settings sit in the YAML (for error positions)."""
        return ("operations", name) if self.operations else ()


# ---------------------------------------------------------------- config/routes.yaml

OneOrMany = str | list[str]


class RouteMatch(Strict):
    """Every given field must match; patterns use shell wildcards (``1.004227*``, ``*.H49``)."""

    kind: OneOrMany | None = None
    procedure_code: OneOrMany | None = None
    document_type: OneOrMany | None = None
    sender: OneOrMany | None = None
    recipient: OneOrMany | None = None
    xpath: str | None = Field(
        default=None, description="XPath 1.0 over the payload; the route matches when it is true."
    )
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes the xpath uses.")


class RouteRule(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    match: RouteMatch = RouteMatch()
    targets: list[str] = Field(min_length=1, description="Adapters that receive the message (fan-out).")


class RoutesConfig(Strict):
    """The contents of ``config/routes.yaml``. The first rule that matches decides."""

    routes: list[RouteRule] = Field(default_factory=list)


class Configuration(BaseModel):
    """Everything loaded from one config directory, with the project root paths resolve from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    root: Path
    config_dir: Path
    hub: HubSettings
    adapters: dict[str, AdapterConfig]
    routes: RoutesConfig
    #: (file, key path) → (line, column), so later checks can still point at the YAML.
    positions: dict[tuple[str, tuple[str | int, ...]], tuple[int, int]] = Field(default_factory=dict)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    def database_url(self) -> str:
        url = self.hub.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
            return prefix + str(self.root / url[len(prefix) :])
        return url
