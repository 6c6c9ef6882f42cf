"""Synchronous lookups: request-reply through an adapter, declared in its YAML (``lookup:``).

Store-and-forward is wrong for a question a clerk is waiting on ("which enterprise is 5700100256?"):
the answer is needed now or not at all. So a lookup is made at once, on the caller's thread, through
the same plugin, WSDL and hub header as a delivery (of the operation ``lookup.operation`` names,
when the adapter has ``operations``), but with its own transport whose timeouts add up
to ``lookup.timeout``, so no call outlives it. In order:

1. the key is checked (``identifiers.py``): a wrong one is refused (422) and nothing is sent;
2. an answer cached less than ``cache`` ago is reused (per hub process, in memory);
3. while the adapter's circuit is open (the breaker the delivery workers share, shown in ``/healthz``)
   the caller gets 503 at once, with Retry-After until the next trial;
4. the request body is built from the key, checked against the adapter's ``schema`` and sent once;
5. the reply's ``not_found`` XPath makes a 404; its ``answer`` element is the answer.

Every exchange that got an answer (found, not found, or from the cache) is logged like any message:
a message of kind ``query`` from the caller's agency to the adapter's, whose one delivery is already
delivered with the exact request and response bytes (``Store.record_exchange``), so ``hub status``
shows it. A call that got no answer (timeout, refused connection, 5xx, open circuit) is not a
message: it would be a dead letter that ``hub replay`` re-sends to a caller long gone; it is a WARNING
on ``lienthong.lookup`` and a failure counted by the breaker.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from lienthong.adapter import Adapter, AdapterSpec, adapter_file, build_adapters
from lienthong.config.files import issue_at
from lienthong.config.models import AdapterConfig, Configuration, LookupConfig
from lienthong.delivery.breaker import BreakerState, CircuitBreaker
from lienthong.delivery.transports.base import Transport
from lienthong.delivery.transports.http import HttpTransport
from lienthong.envelope import Envelope, MessageKind, new_envelope, utcnow
from lienthong.errors import (
    ConfigIssue,
    LookupFailedError,
    LookupKeyInvalidError,
    LookupNotFoundError,
    LookupUnavailableError,
    PermanentDeliveryError,
    SchemaValidationError,
    TransientDeliveryError,
    XmlRefusedError,
)
from lienthong.identifiers import check_key
from lienthong.pipeline.validate import XsdValidator
from lienthong.store import Claim, Delivered, Exchange, RouteDecision, RouteStatus, Store
from lienthong.xml import SOAP11_NS, SOAP12_NS, parse_trusted_file, parse_xml

log = logging.getLogger("lienthong.lookup")

#: The ``worker`` of a logged exchange: a call made, or an answer reused from the cache.
CALLED = "lookup"
FROM_CACHE = "lookup-cache"
_MAX_KEY = 100
_XSD = "http://www.w3.org/2001/XMLSchema"


@dataclass(frozen=True)
class LookupAnswer:
    """What a caller gets: the answer element's bytes and the message the exchange is logged as."""

    message_id: uuid.UUID
    adapter: str
    key: str
    answer: bytes  # the answer element (e.g. EntCert), as its own XML document
    from_cache: bool
    answered_at: datetime


@dataclass(frozen=True)
class _Cached:
    request: bytes
    response: bytes
    response_status: int | None
    answer: bytes
    answered_at: datetime
    expires: float  # time.monotonic()


class TtlCache:
    """A small LRU cache with a time to live; one per lookup and per process, thread-safe."""

    def __init__(self, ttl: timedelta, size: int) -> None:
        self.ttl = ttl.total_seconds()
        self.size = size
        self._items: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _Cached | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item.expires <= time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item

    def put(self, key: str, item: _Cached) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class LookupService:
    """One adapter's lookup: check, cache, call, log."""

    def __init__(
        self,
        adapter_config: AdapterConfig,
        adapter: Adapter,
        breaker: CircuitBreaker,
        store: Store,
        validator: XsdValidator | None = None,
    ) -> None:
        assert adapter_config.lookup is not None
        self.name = adapter_config.name
        self.agency = adapter_config.agency
        self.config: LookupConfig = adapter_config.lookup
        #: The operation called and recorded on each logged exchange (None: no ``operations``).
        self.operation = adapter_config.lookup.operation if adapter_config.operations else None
        self.adapter = adapter
        self.breaker = breaker
        self.store = store
        self.validator = validator
        self.cache = TtlCache(self.config.cache, self.config.cache_size)
        #: Local names the schema lets repeat, and those typed xs:boolean: how the answer reads as JSON.
        self.repeated, self.booleans = schema_shapes(validator.path if validator is not None else None)
        ns = self.config.namespaces or None
        self._answer = etree.XPath(self.config.answer, namespaces=ns)
        self._not_found = etree.XPath(self.config.not_found, namespaces=ns) if self.config.not_found else None

    def lookup(self, key: str, caller_agency: str) -> LookupAnswer:
        """The answer for ``key``; raises LookupKeyInvalidError (422), LookupNotFoundError (404),
        LookupUnavailableError (503) or LookupFailedError (502)."""
        self.check(key)
        request = self.request_body(key)
        if (cached := self.cache.get(key)) is not None:
            started = utcnow()
            outcome = Delivered(response=cached.response, response_status=cached.response_status)
            envelope = self._envelope(caller_agency, key, request, FROM_CACHE)
            message_id = self._log(envelope, request, FROM_CACHE, started, outcome)
            return LookupAnswer(message_id, self.name, key, cached.answer, True, cached.answered_at)
        self._circuit_closed()
        started = utcnow()
        envelope = self._envelope(caller_agency, key, request, CALLED)
        delivered = self._call(key, envelope, started)
        response = delivered.response or b""
        reply = _reply_body(response)
        if reply is None:
            self.breaker.record_failure(f"{self.name}: a reply without a body element")
            raise LookupUnavailableError(
                f"{self.name} answered without a SOAP body element", detail={"adapter": self.name}
            )
        message_id = self._log(envelope, request, CALLED, started, delivered)
        found = self._answer(reply)
        first = found[0] if isinstance(found, list) and found else None
        element = first if isinstance(first, etree._Element) else None
        if (self._not_found is not None and bool(self._not_found(reply))) or (
            element is None and self._not_found is None
        ):
            raise LookupNotFoundError(
                f"{self.name} holds nothing for {self.config.key.name} '{key}'",
                detail={"adapter": self.name, "key": key, "message_id": str(message_id)},
            )
        if element is None:
            raise LookupFailedError(
                f"{self.name} answered, but its reply holds no {self.config.answer}",
                detail={"adapter": self.name, "key": key, "message_id": str(message_id)},
            )
        answer = etree.tostring(element, encoding="UTF-8", xml_declaration=True)
        answered_at = utcnow()
        self.cache.put(
            key,
            _Cached(
                request=request,
                response=response,
                response_status=delivered.response_status,
                answer=answer,
                answered_at=answered_at,
                expires=time.monotonic() + self.cache.ttl,
            ),
        )
        return LookupAnswer(message_id, self.name, key, answer, False, answered_at)

    # ------------------------------------------------------------ steps

    def check(self, key: str) -> None:
        """Refuse a key that fails the lookup's check (or is no printable text at all), naming it."""
        spec = self.config.key
        detail: dict[str, object] = {
            "adapter": self.name,
            "key": key,
            "key_name": spec.name,
            "check": spec.check,
        }
        if not key or len(key) > _MAX_KEY or not key.isprintable() or key != key.strip():
            raise LookupKeyInvalidError(
                f"{spec.name} '{key}' is not a key: expected 1-{_MAX_KEY} printable characters",
                detail=detail,
            )
        if (problem := check_key(spec.check, key, ten=spec.check_digit_ten)) is not None:
            raise LookupKeyInvalidError(f"{problem.en} / {problem.vi}", detail=detail)

    def request_body(self, key: str) -> bytes:
        """``<element><key_element>key</key_element></element>``, checked against the adapter's schema."""
        spec = self.config.request
        root = etree.Element(self.config.clark(spec.element), nsmap=self.config.namespaces or None)
        etree.SubElement(root, self.config.clark(spec.key_element)).text = key
        if self.validator is not None:
            try:
                self.validator.validate(root, what=f"the {self.name} lookup request")
            except SchemaValidationError as exc:
                raise LookupKeyInvalidError(
                    f"{self.config.key.name} '{key}' does not fit {self.name}'s request: {exc.message}",
                    detail={"adapter": self.name, "key": key, "key_name": self.config.key.name},
                ) from exc
        return etree.tostring(root, encoding="UTF-8", xml_declaration=True)

    def _circuit_closed(self) -> None:
        """An open circuit answers 503 at once, with the seconds left until its next trial."""
        view = self.breaker.view()
        if view.state is not BreakerState.OPEN:
            return
        left = self.breaker.reset_after
        if view.since is not None:
            left -= (utcnow() - view.since).total_seconds()
        retry_after = max(1, math.ceil(left))
        raise LookupUnavailableError(
            f"{self.name} is not answering (its circuit is open after {view.consecutive_failures} "
            f"failed calls; last error: {view.last_error}); nothing was sent",
            retry_after=retry_after,
            detail={"adapter": self.name},
        )

    def _call(self, key: str, envelope: Envelope, started: datetime) -> Delivered:
        """One call with the hub header of ``envelope`` (its message id is the logged message's)."""
        request = envelope.payload
        claim = Claim(
            delivery_id=0,
            target=self.name,
            attempt=1,
            round_attempt=1,
            first_attempt_at=started,
            payload=request,
            content_type="application/xml",
            envelope=envelope.header(),
            worker=CALLED,
            lease_until=started + self.config.timeout,
            operation=self.operation,
        )
        try:
            delivered = self.adapter.deliver(claim)
        except TransientDeliveryError as exc:
            self.breaker.record_failure(exc.message)
            log.warning("lookup %s %s failed: %s", self.name, key, exc.message)
            retry_after = 5
            if self.breaker.state is BreakerState.OPEN:
                retry_after = max(1, math.ceil(self.breaker.reset_after))
            raise LookupUnavailableError(
                f"{self.name} did not answer: {exc.message}",
                retry_after=retry_after,
                detail={"adapter": self.name},
            ) from exc
        except PermanentDeliveryError as exc:
            self.breaker.record_success()  # it answered: it is up, and said no
            log.warning("lookup %s %s refused by the system: %s", self.name, key, exc.message)
            raise LookupFailedError(
                f"{self.name} refused the lookup: {exc.message}", detail={"adapter": self.name}
            ) from exc
        self.breaker.record_success()
        return delivered

    def _envelope(self, caller_agency: str, key: str, request: bytes, worker: str) -> Envelope:
        envelope = new_envelope(
            kind=MessageKind.QUERY,
            sender=caller_agency,
            sender_message_id="-",
            payload=request,
            content_type="application/xml",
            recipient=self.agency,
            headers={
                "lookup.adapter": self.name,
                f"lookup.{self.config.key.name}": key,
                "lookup.source": "cache" if worker == FROM_CACHE else "call",
            },
        )
        return replace(envelope, sender_message_id=f"lookup-{envelope.message_id}")

    def _log(
        self, envelope: Envelope, request: bytes, worker: str, started: datetime, outcome: Delivered
    ) -> uuid.UUID:
        """Store the exchange as a message: for a call, the one whose id its hub header carried."""
        reason = f"lookup: {'answered from the cache' if worker == FROM_CACHE else 'synchronous call'}"
        route = RouteDecision(RouteStatus.ROUTED, None, (self.name,), f"{reason} to {self.name}")
        exchange = Exchange(
            target=self.name,
            payload=request,
            content_type="application/xml",
            worker=worker,
            started_at=started,
            outcome=outcome,
            operation=self.operation,
        )
        self.store.record_exchange(envelope, route, exchange)
        return envelope.message_id


def schema_shapes(path: Path | None) -> tuple[frozenset[str], frozenset[str]]:
    """From an XSD (the project's own file): the local names of elements declared repeatable
    (``maxOccurs`` other than 1) and of those typed ``xs:boolean``."""
    if path is None:
        return frozenset(), frozenset()
    repeated: set[str] = set()
    booleans: set[str] = set()
    for el in parse_trusted_file(str(path)).iter(f"{{{_XSD}}}element"):
        name = el.get("name") or (el.get("ref") or "").rpartition(":")[2]
        if not name:
            continue
        if el.get("maxOccurs", "1") != "1":
            repeated.add(name)
        if (el.get("type") or "").rpartition(":")[2] == "boolean":
            booleans.add(name)
    return frozenset(repeated), frozenset(booleans)


def _reply_body(response: bytes) -> etree._Element | None:
    """The body element of a SOAP reply (1.1 or 1.2), read by the hub's hardened parser."""
    try:
        root = parse_xml(response, what="lookup reply")
    except XmlRefusedError:
        return None
    for ns in (SOAP11_NS, SOAP12_NS):
        entry = root.find(f"{{{ns}}}Body/*")
        if entry is not None:
            return entry
    return None


def lookup_transport(adapter: AdapterConfig) -> Transport:
    """HTTP whose connect and read waits together stay within ``lookup.timeout``: a lookup never
    outlives it, whatever the adapter's own (delivery) timeouts are."""
    assert adapter.lookup is not None
    total = adapter.lookup.timeout
    connect = min(adapter.connect_timeout, total / 2)
    return HttpTransport(timeout=total - connect, connect_timeout=connect)


def lookup_settings(adapter: AdapterConfig) -> AdapterConfig:
    """The adapter as its lookup calls it: with ``operations``, the settings of the operation
    ``lookup.operation`` names (plugin, endpoint, options, schema); otherwise the adapter's own."""
    assert adapter.lookup is not None
    if not adapter.operations:
        return adapter
    assert adapter.lookup.operation is not None, "check_lookups requires it"
    return adapter.operation_config(adapter.lookup.operation)


def _operation_issue(adapter: AdapterConfig) -> tuple[tuple[str, ...], str] | None:
    """What is wrong with ``lookup.operation``, and the key path to report it at; None if nothing."""
    assert adapter.lookup is not None
    operation = adapter.lookup.operation
    names = adapter.operation_names()
    if adapter.operations and operation is None:
        return ("lookup",), (
            f"the adapter has operations ({', '.join(names)}): name the one the lookup calls "
            "in lookup.operation"
        )
    if operation is not None and operation not in names:
        return ("lookup", "operation"), f"no operation '{operation}' in this adapter ({', '.join(names)})"
    schema = lookup_settings(adapter).schema_
    if schema is not None and schema.suffix.lower() == ".json":
        return ("lookup", "operation") if operation else ("lookup",), (
            f"a lookup sends the XML request it builds from the key, but the operation's schema is a "
            f"JSON Schema ({schema}): lookups need a SOAP/XML operation"
        )
    return None


def check_lookups(config: Configuration) -> list[ConfigIssue]:
    """What the model alone cannot tell about ``lookup:`` sections: XPaths that do not compile, a
    missing or unknown ``operation``, an operation that takes JSON. Each issue points at its YAML
    line."""
    issues: list[ConfigIssue] = []
    for name, adapter in config.adapters.items():
        if adapter.lookup is None:
            continue
        file = adapter_file(config, name)
        if (problem := _operation_issue(adapter)) is not None:
            path, message = problem
            issues.append(issue_at(config, file, path, ".".join(path), message))
        ns = adapter.lookup.namespaces or None
        for field_name, xpath in (("answer", adapter.lookup.answer), ("not_found", adapter.lookup.not_found)):
            if xpath is None:
                continue
            try:
                etree.XPath(xpath, namespaces=ns)
            except etree.XPathSyntaxError as exc:
                path = ("lookup", field_name)
                message = f"invalid XPath {xpath!r}: {exc}"
                issues.append(issue_at(config, file, path, f"lookup.{field_name}", message))
    return issues


def build_lookups(
    config: Configuration,
    plugins: Mapping[str, AdapterSpec[Any]],
    store: Store,
    breakers: Mapping[str, CircuitBreaker],
    *,
    transports: Mapping[str, Transport] | None = None,
) -> dict[str, LookupService]:
    """A lookup service for every adapter with a ``lookup`` section: its own plugin instance, talking
    through a transport with the lookup's timeout (or the one ``transports`` gives, in tests)."""
    named = [name for name, adapter in config.adapters.items() if adapter.lookup is not None]
    if not named:
        return {}
    given = transports or {}
    own = {name: given.get(name) or lookup_transport(config.adapters[name]) for name in named}
    # One plugin instance per lookup, for the operation it calls alone (see lookup_settings).
    settings = {name: lookup_settings(config.adapters[name]) for name in named}
    try:
        adapters = build_adapters(
            config.model_copy(update={"adapters": settings}), plugins, transports=own, only=named
        )
    except Exception:
        for name, transport in own.items():
            if name not in given:
                transport.close()
        raise
    services: dict[str, LookupService] = {}
    for name in named:
        schema = settings[name].schema_
        validator = XsdValidator(config.resolve(schema)) if schema else None
        adapter = config.adapters[name]
        services[name] = LookupService(adapter, adapters[name], breakers[name], store, validator)
    return services
