"""A large official document end to end: a raw XML edXML body with a 20 MB attachment is taken in,
stored and delivered, and what the receiving system gets is exactly what the document system sent.

No memory figure is asserted here (``bench/edxml_memory.py`` measures it); this holds the large path
to correctness: huge text nodes parse, the body limit lets a document through, the bytes survive.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

from lienthong.xml import EDXML_NS, XmlLimits, parse_xml

AXIS = "000.00.00.G22"
ATTACHMENT_BYTES = 20_000_000


def edxml_document(attachment_bytes: int) -> tuple[bytes, int]:
    """An edXML document from the province to the axis with two PDF attachments of random bytes."""
    rng = random.Random(10)

    def el(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{EDXML_NS}}}{local}")
        child.text = text
        return child

    root = etree.Element(f"{{{EDXML_NS}}}edXML", nsmap={"edXML": EDXML_NS})
    envelope = el(root, "edXMLEnvelope")
    header = el(el(envelope, "edXMLHeader"), "MessageHeader")
    el(el(header, "From"), "OrganId", "000.00.00.H49")
    el(el(header, "To"), "OrganId", AXIS)
    el(header, "DocumentId", "000.00.00.H49,2026/11/30,1234/UBND-VP")
    el(header, "Subject", "Báo cáo kèm phụ lục")
    manifest = el(el(envelope, "edXMLBody"), "edXMLManifest")
    encoded = etree.SubElement(root, "AttachmentEncoded")
    sizes = [attachment_bytes * 3 // 4, attachment_bytes - attachment_bytes * 3 // 4]
    for index, size in enumerate(sizes):
        el(el(manifest, "Reference"), "ContentId", f"cid:{index}")
        attachment = etree.SubElement(encoded, "Attachment")
        etree.SubElement(attachment, "ContentId").text = f"cid:{index}"
        data = b"%PDF-1.7\n" + rng.randbytes(size - 9)
        el(attachment, "ContentTransferEncoded", base64.b64encode(data).decode("ascii"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), sum(sizes)


class Receiver:
    """The axis's sendEdoc as far as the hub can tell: the body hashed as it streams, a JSON answer."""

    def __init__(self) -> None:
        self.received: list[tuple[str, int]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                left = int(self.headers.get("Content-Length", "0"))
                digest, size = hashlib.sha256(), 0
                while left:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    size += len(chunk)
                    left -= len(chunk)
                received.append((digest.hexdigest(), size))
                body = json.dumps({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": "1"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/axis/sendEdoc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
        # A stand-in for the axis (as bench/edxml_memory.py has): the stored bytes POSTed as they are.
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
