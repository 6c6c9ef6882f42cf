"""The ``smtp`` plugin against a real SMTP server on loopback (aiosmtpd): the bytes the server gets,
and each answer's outcome — accepted, busy (4xx: retried), refused (5xx: dead letter), nobody
listening (retried)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from smtp_sink import SmtpSink

from lienthong.adapter import AdapterContext
from lienthong.config.models import AdapterConfig
from lienthong.delivery.transports.base import TransportRequest, TransportResponse
from lienthong.delivery.transports.memory import MemoryTransport
from lienthong.envelope import EnvelopeHeader, MessageKind
from lienthong.errors import HubError, PermanentDeliveryError, TransientDeliveryError
from lienthong.notify.notice import Notice
from lienthong.notify.smtp import SmtpAdapter, SmtpOptions
from lienthong.store import Claim

MESSAGE_ID = uuid.UUID("7d4c1f7e-9a64-4c9b-8c57-0b9f6f3c2a11")
NOTICE = Notice(
    "000.00.00.H49-261121-0001",
    "10",
    "email",
    "nguyenthihuong88@gmail.com",
    "Nguyễn Thị Hương",
    "Hồ sơ 000.00.00.H49-261121-0001 đã có kết quả",
    "Kính gửi Nguyễn Thị Hương,\nHồ sơ đã có kết quả: Giấy chứng nhận quyền sử dụng đất.",
)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def no_http(request: TransportRequest) -> TransportResponse:
    raise AssertionError("the smtp plugin never uses the HTTP transport")


def adapter(endpoint: str) -> SmtpAdapter:
    config = AdapterConfig.model_validate(
        {"name": "email", "plugin": "smtp", "agency": "000.00.00.H49", "endpoint": endpoint, "timeout": "5s"}
    )
    options = SmtpOptions(
        from_address="thongbao@quangninh.gov.vn", from_name="Trung tâm Phục vụ hành chính công"
    )
    return SmtpAdapter(AdapterContext(config, options, "000.00.00.H49", Path("."), MemoryTransport(no_http)))


def claim(notice: Notice = NOTICE) -> Claim:
    now = datetime.now(UTC)
    header = EnvelopeHeader(
        message_id=MESSAGE_ID,
        kind=MessageKind.STATUS,
        sender="000.00.00.H49",
        recipient=None,
        sender_message_id="notice:email:000.00.00.H49-261121-0001:10",
        correlation_id=uuid.uuid4(),
        content_type="application/xml",
    )
    return Claim(
        1, "email", 1, 1, now, notice.to_xml(), "application/xml", header, "w", now + timedelta(seconds=30)
    )


def test_an_accepted_email_is_delivered_with_the_bytes_the_server_got(sink: SmtpSink) -> None:
    delivered = adapter(sink.url).deliver(claim())
    [got] = sink.received
    assert got.mail_from == "thongbao@quangninh.gov.vn"
    assert got.rcpt_tos == ("nguyenthihuong88@gmail.com",)
    assert delivered.response == b"250 2.0.0 OK: queued"
    mail = got.message
    assert mail["Message-ID"] == f"<{MESSAGE_ID}@000.00.00.H49.lienthong>"  # the same on every attempt
    assert mail["Subject"] == NOTICE.subject
    assert mail["X-Lienthong-Dossier"] == NOTICE.dossier_code
    [to] = mail["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Nguyễn Thị Hương", "nguyenthihuong88@gmail.com")
    assert mail.get_content() == NOTICE.text + "\n"
    # What the attempt keeps is what went out (the server adds nothing it was not sent but its own lines).
    assert delivered.request is not None and delivered.request.replace(
        b"\r\n", b"\n"
    ).strip() in got.data.replace(b"\r\n", b"\n")


def test_a_busy_server_is_retried_and_a_refusal_is_a_dead_letter(sink: SmtpSink) -> None:
    sink.refuse("451 4.3.0 Mailbox busy, try again later")
    with pytest.raises(TransientDeliveryError, match=r"451 4\.3\.0 Mailbox busy") as busy:
        adapter(sink.url).deliver(claim())
    assert busy.value.request is not None  # the attempt records the message it offered
    sink.refuse("550 5.1.1 No such mailbox")
    with pytest.raises(PermanentDeliveryError, match=r"550 5\.1\.1 No such mailbox"):
        adapter(sink.url).deliver(claim())
    assert sink.received == [] and sink.refused == 2


def test_nobody_listening_is_retried() -> None:
    with socket.socket() as probe:  # a port nothing listens on: bound, then let go
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientDeliveryError, match=f"SMTP 127.0.0.1:{port}"):
        adapter(f"smtp://127.0.0.1:{port}").deliver(claim())


def test_a_notice_for_another_channel_or_a_wrong_endpoint_is_refused(sink: SmtpSink) -> None:
    sms = Notice("000.00.00.H49-261121-0001", "10", "sms", "0912345678", None, None, "Ho so da co ket qua")
    with pytest.raises(PermanentDeliveryError, match="channel 'sms'"):
        adapter(sink.url).deliver(claim(sms))
    with pytest.raises(HubError, match="smtp://host:port"):
        adapter("http://127.0.0.1:25")
