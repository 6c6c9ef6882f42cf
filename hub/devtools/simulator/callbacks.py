"""The simulated system's later steps: calls to the hub's inbound endpoint and status changes, on time.

Real ministry systems answer later: the land registry pushes a status update once it has looked at a
dossier, the tax department its notices. A step is a row in the simulator's SQLite (written with the
record it belongs to), so a restarted simulator resumes where it stopped. One asyncio task per
simulator runs the due steps:

* a call builds its body with an XSLT from the stored request (parameters ``message_id``, ``key``,
  ``sequence``, ``received_at``, ``status``, ``now``, and ``case_sequence``, ``case_received_at``,
  ``case_message_id`` of the first record under the same key), validates it against the adapter's
  inbound schema, signs it if the agency signs (XMLDSig enveloped, with the hub's own signer), wraps
  it in a SOAP 1.1 envelope with the hub header (``lt:messageId`` = a stable id per step, so a retry
  is a duplicate the hub recognises), and keeps those bytes: every retry sends exactly them;
* it retries with exponential back-off, capped, until the hub answers 2xx (the hub may be down);
* then the record takes the step's status and the next step is scheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

import httpx
from lxml import etree

from lienthong.config.models import KeyReference, SigningPolicyConfig
from lienthong.devtools.simulator.core import Service, SimulatorCore, compile_xslt, run_xslt
from lienthong.devtools.simulator.records import RecordFilter, Step, now_vn
from lienthong.devtools.simulator.spec import CallbackTarget, StepSpec
from lienthong.errors import HubError
from lienthong.trust.keys import Keystore
from lienthong.trust.sign import Signer, build_signer
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS, parse_trusted_file, parse_xml

__all__ = ["CallbackRunner"]

log = logging.getLogger("lienthong.simulator")
#: Callback message ids are UUIDs derived from (simulator, service, message id, step): stable across retries.
_CALLBACK_NS: Final = uuid.UUID("8d8a3f0e-5b8c-4b7e-9a51-2f3f6c1d7a10")


def _signer(target: CallbackTarget) -> Signer | None:
    if (files := target.signing) is None:
        return None
    environ = {"SIMULATOR_KEY_PASSWORD": files.password} if files.password else {}
    ref = KeyReference(
        id="simulator",
        key_file=files.key_file,
        certificate_file=files.certificate_file,
        password_env="SIMULATOR_KEY_PASSWORD" if files.password else None,
    )
    keystore = Keystore.load([ref], Path.cwd(), environ)
    return build_signer(SigningPolicyConfig(policy=files.policy, algorithm=files.algorithm), keystore)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def envelope(body: bytes, header: dict[str, str]) -> bytes:
    """A SOAP 1.1 request, written as text around the body's exact bytes (a signature stays intact)."""
    blocks = "".join(f"<lt:{name}>{escape(value)}</lt:{name}>" for name, value in header.items())
    return (
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:lt="{HUB_NS}">'
            f"<soap:Header>{blocks}</soap:Header><soap:Body>"
        ).encode()
        + body
        + b"</soap:Body></soap:Envelope>\n"
    )


class CallbackRunner:
    """Runs a simulator's due steps in one asyncio task; :meth:`wake` from any thread when one is added."""

    def __init__(self, core: SimulatorCore, services: dict[str, Service]) -> None:
        self.core, self.services = core, services
        self.target = core.spec.callbacks
        self.signer = _signer(self.target) if self.target is not None else None
        self.schema: etree.XMLSchema | None = None
        if (inbound := core.spec.inbound_schema) is not None:
            tree = parse_trusted_file(str(inbound))
            tree.docinfo.URL = str(inbound)
            self.schema = etree.XMLSchema(tree)
        bodies = {
            s.body for svc in services.values() for op in svc.spec.operations for s in op.then if s.body
        }
        self.bodies = {path: compile_xslt(path) for path in bodies}
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the steps again now (a new case may have one due sooner than the next known)."""
        if self._loop is not None and self._event is not None:
            self._loop.call_soon_threadsafe(self._event.set)

    async def run(self) -> None:
        """Until cancelled: run every due step, then sleep until the next one is due or :meth:`wake`."""
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        if self.target is not None and (held := self.core.store.release_held()):
            log.info(
                "simulator %s: %d callback(s) held for want of a hub URL are due now",
                self.core.spec.name,
                held,
            )
        timeout = self.target.retry_max if self.target else 30.0
        async with httpx.AsyncClient(timeout=min(timeout, 10.0)) as http:
            while True:
                self._event.clear()
                for step in self.core.store.due_steps(time.time()):
                    try:
                        await self._run(step, http)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # a broken XSLT or a record gone: retry later, say why
                        log.exception("simulator step %s of %s failed", step.step, step.message_id)
                        self.core.store.step_failed(step.id, f"{type(exc).__name__}: {exc}", time.time() + 30)
                next_due = self.core.store.next_due()
                wait = 30.0 if next_due is None else max(0.0, min(30.0, next_due - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), wait)

    async def _run(self, step: Step, http: httpx.AsyncClient) -> None:
        service = self.services[step.endpoint]
        record = self.core.store.get(step.endpoint, step.message_id)
        if record is None:  # reset under our feet
            return
        op = service.operation(record)
        spec = op.then[step.step]
        following = op.then[step.step + 1].after if step.step + 1 < len(op.then) else None
        if spec.call is None:
            self.core.store.step_done(step, spec.status, following, called=False)
            return
        if self.core.divergences.take_lost(spec.call):
            # Marked done and never sent: a callback lost on the way (docs/reconciliation.md).
            log.info("simulator %s: %s for %s lost on purpose", self.core.spec.name, spec.call, record.key)
            self.core.store.step_done(step, spec.status, following, called=False)
            return
        if self.target is None:
            why = "held: no hub URL given (hub simulate --hub-url, HUB_URL or the YAML's hub_url)"
            self.core.store.hold(step.id, why)
            return
        data, callback_id = step.body, step.callback_id
        if data is None or callback_id is None:
            callback_id = str(
                uuid.uuid5(
                    _CALLBACK_NS, f"{self.core.spec.name}/{step.endpoint}/{step.message_id}/{step.step}"
                )
            )
            body = self._body(spec, service, record.message_id)
            header = {"messageId": callback_id, "client": self.target.agency}
            if _is_uuid(record.message_id):
                header["causationId"] = record.message_id
            data = envelope(body, header)
            self.core.store.keep_body(step.id, data, callback_id)
        error = await self._post(http, spec, data)
        if error is None:
            log.info("simulator %s: %s for %s taken by the hub", self.core.spec.name, spec.call, record.key)
            self.core.store.step_done(step, spec.status, following, called=True)
        else:
            delay = min(self.target.retry_max, self.target.retry_initial * 2**step.attempts)
            self.core.store.step_failed(step.id, error, time.time() + delay)

    def _body(self, spec: StepSpec, service: Service, message_id: str) -> bytes:
        record = self.core.store.get(service.spec.name, message_id)
        assert record is not None and spec.body is not None
        # The case the record belongs to: the first record held under its key (the land registry's
        # dossier, when the record is the payment receipt for it), so a later request's callback can
        # name the case id the first answer gave. A record without a key is its own case.
        found = self.core.store.query(RecordFilter(endpoint=service.spec.name, key=record.key, limit=1))
        case = found[0] if record.key and found else record
        params: dict[str, str | int] = {
            "message_id": record.message_id,
            "key": record.key or "",
            "sequence": record.sequence,
            "received_at": record.received_at,
            "status": record.status,
            "now": now_vn(),
            "case_message_id": case.message_id,
            "case_sequence": case.sequence,
            "case_received_at": case.received_at,
        }
        root = run_xslt(self.bodies[spec.body], service.request_tree(record), params)
        if root is None:
            raise HubError(f"{spec.body} produced nothing for {message_id}")
        if self.schema is not None and not self.schema.validate(root):
            raise HubError(
                f"{spec.body} produced a body the hub's inbound schema refuses: {self.schema.error_log}"
            )
        if self.signer is not None:
            root = self.signer.sign(root)
        return etree.tostring(root, encoding="unicode").encode("utf-8")

    async def _post(self, http: httpx.AsyncClient, spec: StepSpec, data: bytes) -> str | None:
        """None when the hub took it (2xx); otherwise why not, for the step's last_error."""
        assert self.target is not None
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{spec.soap_action or ""}"'}
        if self.target.api_key:
            headers["X-API-Key"] = self.target.api_key
        try:
            response = await http.post(self.target.url, content=data, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {_reason(response)}"


def _reason(response: httpx.Response) -> str:
    """The hub's SOAP fault string (1.1) or first reason text (1.2) when there is one, else the text."""
    try:
        env = parse_xml(response.content, what="hub answer")
    except HubError:
        return response.text[:500]
    reason = env.findtext(".//faultstring") or env.findtext(f".//{{{SOAP12_NS}}}Reason/{{{SOAP12_NS}}}Text")
    return (reason or response.text)[:500]
