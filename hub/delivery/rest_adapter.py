"""The generic REST/JSON adapter, built in as ``plugin: rest``: a JSON ministry is configuration too.

The hub prepares the JSON body at intake (the mapping's output is the W3C JSON vocabulary, validated
against the adapter's ``*.schema.json``), so what is stored is what is sent; this plugin only sends
those bytes with the method, headers and authentication the ``options`` (:class:`RestOptions`) give,
and reads the answer:

* HTTP 5xx, 408, 429, a timeout, an answer that cannot be read: **transient**, tried again later;
* any other 4xx, or a code in the JSON answer that ``success`` does not accept: **permanent**, the
  ministry refused the data (unless ``success.transient`` lists the code);
* otherwise delivered; the answer's exact bytes are kept on the attempt, checked first against
  ``answer.schema`` when one is given.

Authentication is an API key header read from the environment, or a session (``session:``) as the
national portal has one: the plugin logs in with a username and password from the environment,
inserts the session into the body at send time, keeps it for later calls and logs in again once when
an answer says it expired. The request bytes recorded on the attempt are the ones sent, session
included; credentials are never logged, stored or put in an error message.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from lienthong.adapter import AdapterContext, AdapterSpec
from lienthong.delivery.transports.base import TransportRequest, TransportResponse
from lienthong.errors import (
    ConfigError,
    ConfigIssue,
    DeliveryError,
    HubError,
    InvalidMessageError,
    PermanentDeliveryError,
    SchemaValidationError,
    TransientDeliveryError,
)
from lienthong.jsonxml import JSON_CONTENT_TYPE, dumps, loads
from lienthong.pipeline.json_schema import JsonSchemaValidator
from lienthong.store import Claim, Delivered

__all__ = ["REST_PLUGIN", "RestAdapter", "RestOptions"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKeyAuth(_Strict):
    """An API key sent in a header on every call; its value comes from the environment."""

    header: str = Field(default="X-API-Key", description="Header that carries the key.")
    env: str = Field(description="Environment variable holding the key (never the key itself).")
    scheme: str | None = Field(
        default=None, description="Written before the key, e.g. 'Bearer' for 'Authorization: Bearer <key>'."
    )


class AnswerCode(_Strict):
    """A value at a path of the JSON answer."""

    field: str = Field(description="Dotted path in the JSON answer, e.g. error_code or result.status.")
    equals: list[str] = Field(min_length=1, description="Values (compared as text) that match.")


class SessionAuth(_Strict):
    """A session from a login call, carried as a field of the JSON body (the national portal's way)."""

    login_url: str = Field(description="URL of the login call: POST {username, password} as JSON.")
    username_env: str = Field(description="Environment variable holding the username.")
    password_env: str = Field(description="Environment variable holding the password.")
    field: str = Field(default="session", description="Top-level key of the body the session goes in.")
    token: str = Field(default="session", description="Dotted path of the session in the login answer.")
    expired: AnswerCode | None = Field(
        default=None,
        description="Answer codes meaning the session expired (HTTP 401 always does); the plugin then "
        "logs in again once and resends. The portal's codes are unconfirmed: set them here.",
    )


class SuccessCriteria(_Strict):
    """When a 2xx answer is an acceptance: a code in the JSON answer."""

    field: str = Field(description="Dotted path of the code in the JSON answer, e.g. error_code.")
    equals: list[str] = Field(min_length=1, description="Codes (compared as text) meaning accepted.")
    transient: list[str] = Field(
        default_factory=list,
        description="Codes meaning 'try again later' (busy, maintenance); any other code is a rejection.",
    )


class AnswerOptions(_Strict):
    """What the hub checks in an accepted answer before recording it."""

    schema_: Path | None = Field(
        default=None, alias="schema", description="JSON Schema (*.schema.json) the answer must satisfy."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RestOptions(_Strict):
    """The ``options:`` of an adapter with ``plugin: rest``."""

    method: Literal["POST", "PUT"] = Field(default="POST", description="HTTP method of the call.")
    headers: dict[str, str] = Field(default_factory=dict, description="Static headers sent on every call.")
    hub_headers: bool = Field(
        default=True,
        description="Send X-Message-Id, X-Correlation-Id, X-Causation-Id and X-Client (the hub's agency).",
    )
    api_key: ApiKeyAuth | None = Field(default=None, description="API key header, from the environment.")
    session: SessionAuth | None = Field(
        default=None, description="Session login, credentials from the environment."
    )
    success: SuccessCriteria | None = Field(
        default=None, description="Code in the JSON answer that means accepted; without it any 2xx is."
    )
    answer: AnswerOptions | None = Field(default=None, description="Checks on an accepted answer.")


#: Statuses worth trying again whatever the body says.
_TRANSIENT_STATUSES: Final = frozenset({408, 429})


def _secret(env: str, missing: list[str]) -> str:
    """The secret in ``env``; an unset one is noted in ``missing`` rather than refused here, so that a
    configuration can be checked (and the hub started) where the secret is not given: deliveries that
    need it wait, their error naming the variable, and go out once the hub is restarted with it set."""
    value = os.environ.get(env, "")
    if not value:
        missing.append(env)
    return value


def field_value(value: Any, path: str) -> str | None:
    """The value at a dotted path of a JSON value, as text (``0`` and ``"0"`` both read ``"0"``);
    None when the path leads nowhere or to an object or array."""
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


class RestAdapter:
    def __init__(self, ctx: AdapterContext[RestOptions]) -> None:
        cfg = ctx.config
        options = ctx.options
        self.name = cfg.name
        self.endpoint = cfg.endpoint or ""
        self.options = options
        self.transport = ctx.transport
        self.hub_agency = ctx.hub_agency
        self._headers = {**options.headers, "Accept": JSON_CONTENT_TYPE}
        self._missing: list[str] = []
        if options.api_key is not None:
            key = _secret(options.api_key.env, self._missing)
            scheme = options.api_key.scheme
            self._headers[options.api_key.header] = f"{scheme} {key}" if scheme else key
        self._credentials: tuple[str, str] | None = None
        if options.session is not None:
            self._credentials = (
                _secret(options.session.username_env, self._missing),
                _secret(options.session.password_env, self._missing),
            )
        self.answer_schema: JsonSchemaValidator | None = None
        if options.answer is not None and options.answer.schema_ is not None:
            try:
                self.answer_schema = JsonSchemaValidator(ctx.path(options.answer.schema_))
            except HubError as exc:
                raise ConfigError(
                    [ConfigIssue("", None, None, "options.answer.schema", exc.message)]
                ) from exc
        self._session: str | None = None
        self._session_lock = threading.Lock()
        #: The last session and its member as spliced into a body (``"session":"…"``): the same on
        #: every call until it is renewed, so it is encoded once.
        self._member: tuple[str, bytes] | None = None

    # ------------------------------------------------------------ sending

    def deliver(self, claim: Claim) -> Delivered:
        if self._missing:
            names = ", ".join(self._missing)
            raise TransientDeliveryError(
                f"environment variable {names} is not set: set it and restart the hub ({self.endpoint} "
                "was not called)"
            )
        headers = dict(self._headers)
        headers["Content-Type"] = claim.content_type
        if self.options.hub_headers:
            env = claim.envelope
            headers["X-Message-Id"] = str(env.message_id)
            headers["X-Correlation-Id"] = str(env.correlation_id)
            if env.causation_id:
                headers["X-Causation-Id"] = str(env.causation_id)
            headers["X-Client"] = self.hub_agency
        if self.options.session is None:
            return self._call(claim.payload, headers, renewed=True)
        session = self._current_session()
        request = self._with_session(claim.payload, session)
        try:
            return self._call(request, headers, renewed=False)
        except _SessionExpired:
            session = self._renew(session)
            return self._call(self._with_session(claim.payload, session), headers, renewed=True)

    def _call(self, request: bytes, headers: dict[str, str], *, renewed: bool) -> Delivered:
        sent = TransportRequest(url=self.endpoint, body=request, headers=headers, method=self.options.method)
        response = self.transport.send(sent)
        return self._interpret(request, response, renewed=renewed)

    def _with_session(self, payload: bytes, session: str) -> bytes:
        """The body with the session in its top-level ``field``: put first, the rest byte for byte,
        when the body lacks the field; the body re-serialised when it holds a placeholder there."""
        assert self.options.session is not None
        field = self.options.session.field
        try:
            body = loads(payload, what="prepared payload")
        except InvalidMessageError as exc:
            raise PermanentDeliveryError(f"the stored payload cannot be sent: {exc.message}") from exc
        if not isinstance(body, dict):
            raise PermanentDeliveryError("the stored payload cannot carry a session: it is not a JSON object")
        if field in body:
            body[field] = session
            replaced: bytes = dumps(body)
            return replaced
        member = self._member_of(field, session)
        start = payload.index(b"{") + 1
        rest = payload[start:]
        separator = b"," if rest.lstrip()[:1] != b"}" else b""
        return payload[:start] + member + separator + rest

    def _member_of(self, field: str, session: str) -> bytes:
        """``"field":"session"`` as JSON writes it, encoded once per session."""
        cached = self._member  # one read: another thread may replace it meanwhile
        if cached is not None and cached[0] == session:
            return cached[1]
        member: bytes = dumps({field: session})[1:-1]
        self._member = (session, member)
        return member

    # ------------------------------------------------------------ reading the answer

    def _interpret(self, request: bytes, response: TransportResponse, *, renewed: bool) -> Delivered:
        status, body = response.status, response.body

        def fail(error: type[DeliveryError], message: str, **detail: object) -> DeliveryError:
            return error(message, response=body, response_status=status, request=request, detail=detail)

        answer, unreadable = self._read(body)
        if self.options.session is not None and self._says_expired(status, answer):
            if not renewed:
                raise _SessionExpired
            raise fail(
                TransientDeliveryError, f"the session was refused again after logging in anew (HTTP {status})"
            )
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise fail(TransientDeliveryError, f"HTTP {status} from {self.endpoint}")
        if 400 <= status < 500:
            raise fail(PermanentDeliveryError, f"HTTP {status} from {self.endpoint}")
        if not 200 <= status < 300:
            raise fail(TransientDeliveryError, f"unexpected HTTP {status} from {self.endpoint}")
        needs_json = self.options.success is not None or self.answer_schema is not None
        if needs_json and unreadable is not None:
            raise fail(TransientDeliveryError, f"unreadable answer (HTTP {status}): {unreadable}")
        if (success := self.options.success) is not None:
            code = field_value(answer, success.field)
            if code is None:
                raise fail(TransientDeliveryError, f"unreadable answer: it has no '{success.field}'")
            if code in success.transient:
                raise fail(
                    TransientDeliveryError, f"{self.endpoint} answered {success.field} = {code!r}: try later"
                )
            if code not in success.equals:
                raise fail(
                    PermanentDeliveryError, f"{self.endpoint} refused the request: {success.field} = {code!r}"
                )
        if self.answer_schema is not None:
            try:
                self.answer_schema.validate(answer, what="answer")
            except SchemaValidationError as exc:
                violations = [v.as_dict() for v in exc.violations]
                raise fail(
                    TransientDeliveryError, f"unreadable answer: {exc.message}", violations=violations
                ) from exc
        return Delivered(response=body, response_status=status, request=request)

    @staticmethod
    def _read(body: bytes) -> tuple[Any, str | None]:
        """The JSON answer, or the reason it cannot be read."""
        if not body.strip():
            return None, "the answer is empty"
        try:
            return loads(body, what="answer"), None
        except InvalidMessageError as exc:
            return None, exc.message

    def _says_expired(self, status: int, answer: Any) -> bool:
        assert self.options.session is not None
        expired = self.options.session.expired
        if status == 401:
            return True
        return expired is not None and field_value(answer, expired.field) in expired.equals

    # ------------------------------------------------------------ the session

    def _current_session(self) -> str:
        with self._session_lock:
            if self._session is None:
                self._session = self._login()
            return self._session

    def _renew(self, stale: str) -> str:
        """Log in again, unless another worker already replaced the session that expired."""
        with self._session_lock:
            if self._session is None or self._session == stale:
                self._session = None
                self._session = self._login()
            return self._session

    def _login(self) -> str:
        """A new session. Every failure is transient (the data was never refused) and its error carries
        neither the credentials nor the request: the login call is never recorded."""
        assert self.options.session is not None and self._credentials is not None
        url, token = self.options.session.login_url, self.options.session.token
        username, password = self._credentials
        body = dumps({"username": username, "password": password})
        headers = {"Content-Type": JSON_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE}
        try:
            response = self.transport.send(TransportRequest(url=url, body=body, headers=headers))
        except DeliveryError as exc:
            raise TransientDeliveryError(f"login to {url} failed: {exc.message}") from None
        answer, unreadable = self._read(response.body)
        session = field_value(answer, token)
        if not 200 <= response.status < 300 or not session:
            reason = unreadable or f"no '{token}' in the answer"
            code_field = self.options.success.field if self.options.success else "error_code"
            if (code := field_value(answer, code_field)) is not None:
                reason = f"{code_field} = {code!r}"
            raise TransientDeliveryError(f"login to {url} refused (HTTP {response.status}): {reason}")
        return session

    def close(self) -> None:
        self.transport.close()


class _SessionExpired(Exception):
    """The answer says the session expired: log in again and resend, once."""


#: The built-in plugin behind ``plugin: rest``.
REST_PLUGIN: Final = AdapterSpec[RestOptions](
    name="rest",
    description="Generic REST/JSON service: API key or session login, success code in the answer",
    factory=RestAdapter,
    options_model=RestOptions,
)
