"""The national document axis's delivery plugin, built in as ``plugin: edxml-axis``.

The hub prepares the edXML message at intake (standard form, signed per the adapter's policy), so
what is stored is what is sent: this plugin POSTs those exact bytes to ``{endpoint}/sendEdoc`` with the
protocol's headers (:mod:`~lienthong.delivery.axis_client`) — ``hash-file`` over the body, ``from``
(the edXML ``From``, else the hub's agency), ``to`` (a document's ``To`` agencies; a status
package's: the agency it answers, ``ResponseFor/OrganId``), ``messagetype`` (``edoc`` or ``status``,
from the header) and the API key from the environment — and reads the answer:

* ``status: OK``: delivered; the answer (with the axis's ``DocId``) is kept on the attempt;
* HTTP 5xx, 408, 429, a timeout, an answer that is not the axis's JSON, or a FAIL whose ErrorCode is
  in ``transient_codes``: **transient**, tried again by the retry schedule;
* ``HASH_MISMATCH``: the axis got other bytes than were hashed. The hash is of the stored bytes, so
  something on the way altered them: tried again **once** (a damaged transfer), then **permanent**
  (a proxy that always rewrites the body will not stop; an operator must look);
* any other FAIL (or another 4xx): **permanent**, the axis refused the message.

An unset API key makes every delivery wait, naming the variable, as the REST plugin does.
"""

from __future__ import annotations

from typing import Final

from lienthong.adapter import AdapterContext, AdapterSpec
from lienthong.delivery.axis_client import AxisClient, AxisOptions, read_answer
from lienthong.delivery.axis_facts import axis_facts
from lienthong.delivery.transports.base import TransportResponse
from lienthong.errors import DeliveryError, HubError, PermanentDeliveryError, TransientDeliveryError
from lienthong.store import Claim, Delivered

__all__ = ["AXIS_PLUGIN", "HASH_MISMATCH", "AxisAdapter"]

#: The axis's ErrorCode for a body whose SHA-256 is not the ``hash-file`` sent with it.
HASH_MISMATCH: Final = "HASH_MISMATCH"
_TRANSIENT_STATUSES: Final = frozenset({408, 429})


class AxisAdapter:
    def __init__(self, ctx: AdapterContext[AxisOptions]) -> None:
        self.name = ctx.config.name
        self.endpoint = (ctx.config.endpoint or "").rstrip("/")
        self.hub_agency = ctx.hub_agency
        self.options = ctx.options
        self.client = AxisClient(self.endpoint, ctx.options, ctx.transport)

    def deliver(self, claim: Claim) -> Delivered:
        if self.client.missing_key:
            raise TransientDeliveryError(
                f"environment variable {self.options.api_key_env} is not set: set it and restart the hub "
                f"({self.endpoint}/sendEdoc was not called)"
            )
        payload = claim.payload
        try:
            facts = axis_facts(payload, what="the stored edXML payload")
        except HubError as exc:
            raise PermanentDeliveryError(f"cannot be sent to the axis: {exc.message}") from exc
        recipients = facts.axis_recipients
        if not recipients:
            what = "ResponseFor/OrganId" if facts.message_type == "status" else "To/OrganId"
            raise PermanentDeliveryError(f"cannot be sent to the axis: the edXML header names no {what}")
        response = self.client.send_edoc(
            payload,
            sender=facts.sender or self.hub_agency,
            recipients=recipients,
            message_type="status" if facts.message_type == "status" else "edoc",
        )
        return self._interpret(claim, payload, response)

    def _interpret(self, claim: Claim, payload: bytes, response: TransportResponse) -> Delivered:
        status, body = response.status, response.body

        def fail(error: type[DeliveryError], message: str) -> DeliveryError:
            return error(message, response=body, response_status=status, request=payload)

        url = f"{self.endpoint}/sendEdoc"
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise fail(TransientDeliveryError, f"HTTP {status} from {url}")
        answer = read_answer(response)
        if answer is None:
            if 400 <= status < 500:
                raise fail(PermanentDeliveryError, f"HTTP {status} from {url}")
            raise fail(TransientDeliveryError, f"unreadable answer (HTTP {status}) from {url}")
        if answer.ok and 200 <= status < 300:
            return Delivered(response=body, response_status=status, request=payload)
        code = answer.error_code
        if code == HASH_MISMATCH:
            if claim.round_attempt <= 1:
                raise fail(TransientDeliveryError, f"the axis answered {answer.reason}: sent again once")
            raise fail(
                PermanentDeliveryError,
                f"the axis answered {answer.reason} again: the body is altered on the way to {url}",
            )
        if code in self.options.transient_codes:
            raise fail(TransientDeliveryError, f"the axis answered {answer.reason}: try later")
        raise fail(PermanentDeliveryError, f"the axis refused the message: {answer.reason} (HTTP {status})")

    def close(self) -> None:
        self.client.close()


#: The built-in plugin behind ``plugin: edxml-axis``.
AXIS_PLUGIN: Final = AdapterSpec[AxisOptions](
    name="edxml-axis",
    description="The national document axis (VPCP): edXML over sendEdoc, hash-file, API key",
    factory=AxisAdapter,
    options_model=AxisOptions,
)
