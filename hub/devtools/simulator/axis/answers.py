"""The simulated agencies' status packages, sent on time by one asyncio task per simulator.

Each planned answer is a row (:mod:`.mailbox`), written with the message it answers, so a restarted
simulator resumes where it stopped. When one is due, the answering agency's package is built
(:mod:`.packages`, signed when the agency has a key) and

* on the axis, put in the mailbox of the agency it answers, as a ``messagetype: status`` message from
  the answering agency — the one that sent the document fetches it like any other;
* in QLVB, handed to the hub's REST intake (``POST /api/v1/messages``, kind ``status``, the bytes in
  ``payload_base64``, QLVB's API key), retried with back-off until the hub takes it (2xx) or refuses
  it for good (4xx other than 408/429). The bytes are fixed before the first attempt and the
  ``sender_message_id`` is derived from the answer, so a retry is a duplicate the hub recognises.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time

import httpx

from lienthong.devtools.simulator.axis.core import EdxmlCore
from lienthong.devtools.simulator.axis.facts import EdocFacts
from lienthong.devtools.simulator.axis.mailbox import Answer
from lienthong.devtools.simulator.axis.packages import serialize, status_for
from lienthong.edxml.model import Organ

__all__ = ["AnswerRunner"]

log = logging.getLogger("lienthong.simulator")


class AnswerRunner:
    """Sends a simulator's due answers; :meth:`wake` from any thread when new ones are planned."""

    def __init__(self, core: EdxmlCore) -> None:
        self.core = core
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        if self._loop is not None and self._event is not None:
            self._loop.call_soon_threadsafe(self._event.set)

    async def run(self) -> None:
        """Until cancelled: send every due answer, then sleep until the next is due or :meth:`wake`."""
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        spec = self.core.spec
        if spec.kind == "edxml-qlvb" and spec.hub is None:
            log.info("simulator %s: no hub URL, its status packages wait until one is given", spec.name)
            return
        async with httpx.AsyncClient(timeout=10.0) as http:
            while True:
                self._event.clear()
                for answer in self.core.mailbox.due_answers(time.time()):
                    try:
                        await self._send(http, answer)
                    except Exception as exc:  # one broken answer must not stop the others
                        log.exception("simulator %s: answer %d failed", spec.name, answer.id)
                        self.core.mailbox.answer_failed(answer.id, f"{type(exc).__name__}: {exc}", None)
                due = self.core.mailbox.next_due()
                wait = 5.0 if due is None else min(5.0, max(0.0, due - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), timeout=wait)

    def _package(self, answer: Answer) -> tuple[bytes, EdocFacts]:
        """The answering agency's status package about the message answered, signed if it can be."""
        answered = self.core.mailbox.get(answer.doc_id)
        if answered is None or answered.facts is None:
            raise LookupError(f"message {answer.doc_id} is no longer held, or cannot be read")
        agency = self.core.spec.agencies.get(answer.agency)
        organ = Organ(answer.agency, name=agency.name if agency else None)
        root, _ = self.core.signers.sign(
            answer.agency, status_for(answered.facts, answering=organ, code=answer.code)
        )
        facts = EdocFacts(
            message_type="status",
            sender=answer.agency,
            status_code=answer.code,
            response_for=answered.facts.document_id,
        )
        return serialize(root), facts

    async def _send(self, http: httpx.AsyncClient, answer: Answer) -> None:
        if self.core.spec.kind == "edxml-axis":
            body, facts = await asyncio.to_thread(self._package, answer)
            sha = hashlib.sha256(body).hexdigest()
            self.core.mailbox.post_answer(answer, body, sha, facts)
            return
        if answer.body is not None:
            await self._to_hub(http, answer, answer.body)
            return
        built, _ = await asyncio.to_thread(self._package, answer)
        self.core.mailbox.keep_answer_body(answer.id, built)
        await self._to_hub(http, answer, built)

    async def _to_hub(self, http: httpx.AsyncClient, answer: Answer, body: bytes) -> None:
        hub = self.core.spec.hub
        assert hub is not None
        answer_id = f"{answer.doc_id}:{answer.agency}:{answer.code}"
        envelope = {
            "sender_message_id": f"{self.core.spec.name}-status:{answer_id}",
            "kind": "status",
            "sender": answer.agency,
            "recipient": answer.answer_to,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(body).decode("ascii"),
        }
        headers = {"X-API-Key": hub.api_key} if hub.api_key else {}
        try:
            response = await http.post(hub.url, json=envelope, headers=headers)
        except httpx.HTTPError as exc:
            self._retry(answer, f"{type(exc).__name__}: {exc}")
            return
        if response.is_success:
            sent = response.json().get("message_id", "") if response.content else ""
            self.core.mailbox.answer_done(answer.id, str(sent))
        elif response.is_client_error and response.status_code not in (408, 429):
            log.warning(
                "simulator %s: the hub refused answer %d: %s", self.core.spec.name, answer.id, response.text
            )
            self.core.mailbox.answer_failed(answer.id, f"HTTP {response.status_code}: {response.text}", None)
        else:
            self._retry(answer, f"HTTP {response.status_code}: {response.text}")

    def _retry(self, answer: Answer, error: str) -> None:
        hub = self.core.spec.hub
        assert hub is not None
        wait = min(hub.retry_max, hub.retry_initial * 2**answer.attempts)
        self.core.mailbox.answer_failed(answer.id, error, time.time() + wait)
