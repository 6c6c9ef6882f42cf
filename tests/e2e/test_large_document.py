"""A large official document end to end: a raw XML edXML body with a 20 MB attachment is taken in,
stored and delivered, and what the receiving system gets is exactly what the document system sent.

No memory figure is asserted here (``bench/edxml_memory.py`` measures it); this holds the large path
to correctness: huge text nodes parse, the body limit lets a document through, the bytes survive.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from edxml_memory import AXIS, Receiver, edxml_document

from lienthong.xml import EDXML_NS, XmlLimits, parse_xml

ATTACHMENT_BYTES = 20_000_000


def test_a_document_with_a_20_mb_attachment_arrives_byte_for_byte(
    project_factory: Any, hub_factory: Any, land_sim: Any
) -> None:
    receiver = Receiver()
    try:
        project = project_factory(
            land_sim.url,
            routes=[{"name": "documents-to-axis", "match": {"kind": "document"}, "targets": ["axis"]}],
            api={"max_body_size": "1MiB", "max_document_size": "40MiB", "memory_budget": "60MiB"},
        )
        # The axis stand-in of bench/edxml_memory.py: the stored bytes POSTed as they are.
        project.write(
            "adapters/axis.yaml",
            {
                "name": "axis",
                "plugin": "rest",
                "agency": AXIS,
                "endpoint": receiver.url,
                "timeout": "60s",
                "retry": {"max_attempts": 2, "initial_backoff": "1s", "max_backoff": "1s", "jitter": "0s"},
            },
        )
        hub = hub_factory(project)
        document, attachments = edxml_document(ATTACHMENT_BYTES)
        assert len(document) > 26_000_000  # over every common limit: max_body_size, 10 MiB, libxml2's cap
        response = hub.client.post(
            "/api/v1/messages",
            content=document,
            headers={
                "Content-Type": "application/xml",
                "X-Hub-Sender-Message-Id": f"qlvb-{uuid.uuid4()}",
                "X-Hub-Kind": "document",
            },
            timeout=120,
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["route"]["targets"] == ["axis"]
        view = hub.wait(accepted["message_id"], timeout=120)

        sha256 = hashlib.sha256(document).hexdigest()
        assert view["payload_sha256"] == sha256
        assert view["payload_size"] == len(document)
        [(received_sha256, received_size)] = receiver.received
        assert (received_sha256, received_size) == (sha256, len(document))
        record = hub.hub.store.get_message(uuid.UUID(accepted["message_id"]))
        [delivery] = record.deliveries
        assert hashlib.sha256(delivery.payload).hexdigest() == sha256
        # The attachments inside decode to what was attached.
        root = parse_xml(delivery.payload, limits=XmlLimits.for_documents(40 * 1024 * 1024))
        decoded = [
            base64.b64decode(el.text or "") for el in root.iter(f"{{{EDXML_NS}}}ContentTransferEncoded")
        ]
        assert sum(len(d) for d in decoded) == attachments == ATTACHMENT_BYTES
        assert all(d.startswith(b"%PDF-") for d in decoded)
    finally:
        receiver.stop()
