"""HttpTransport over real sockets on loopback: keep-alive connections reused and dropped when the
server closed them, answers bounded in size (declared and streamed), headers as httpx gave them, and
calls that got no answer classified as worth retrying.

The server here is a few lines of sockets, so that a test can count connections and send exactly
the bytes it needs (a wrong Content-Length, a chunked answer, a close the client was not told of)."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import pathlib
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lienthong.delivery.transports.base import TransportRequest
from lienthong.delivery.transports.http import USER_AGENT, HttpTransport
from lienthong.errors import TransientDeliveryError

#: What the server answers to one request body: the raw bytes of a response, and whether to close after.
Script = Callable[[bytes, bytes], tuple[bytes, bool]]


class RawServer:
    """Serves each connection in a thread of its own, one request after the other (keep-alive)."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.heads: list[bytes] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str = "/svc") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for thread in self.threads:
            thread.join(timeout=5)
        self.sock.close()

    def closed_all(self) -> None:
        """Wait until the server has closed every connection it was told to close."""
        for thread in list(self.threads):
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            if self.tls is not None:
                conn.settimeout(5)
                conn = self.tls.wrap_socket(conn, server_side=True)  # a failed handshake ends here
            conn.settimeout(0.2)  # so that an idle keep-alive connection notices the server stopping
            data = b""
            while not self.stop.is_set():
                while b"\r\n\r\n" not in data:
                    try:
                        more = conn.recv(65536)
                    except TimeoutError:
                        if self.stop.is_set():
                            return
                        continue
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                found = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                length = int(found.group(1)) if found else 0
                while len(data) < length:
                    data += conn.recv(65536)
                body, data = data[:length], data[length:]
                self.heads.append(head)
                response, close = self.script(head, body)
                conn.sendall(response)
                if close:
                    return


def ok(body: bytes = b"<ok/>", *extra: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: text/xml", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def transport() -> Iterator[HttpTransport]:
    http = HttpTransport(
        timeout=timedelta(seconds=5), connect_timeout=timedelta(seconds=2), max_response_bytes=1000
    )
    yield http
    http.close()


def post(http: HttpTransport, url: str, body: bytes = b"<x/>") -> tuple[int, dict[str, str], bytes]:
    answer = http.send(TransportRequest(url=url, body=body, headers={"Content-Type": "text/xml"}))
    return answer.status, answer.headers, answer.body


def test_calls_share_one_keep_alive_connection(transport: HttpTransport) -> None:
    with RawServer(lambda head, body: (ok(b"<echo>" + body + b"</echo>"), False)) as server:
        answers = [post(transport, server.url(), f"<n>{i}</n>".encode()) for i in range(3)]

    assert [a[2] for a in answers] == [f"<echo><n>{i}</n></echo>".encode() for i in range(3)]
    assert server.connections == 1
    head = server.heads[0].decode()
    assert head.startswith("POST /svc HTTP/1.1\r\n")
    assert "\r\nContent-Length: 8" in head and "\r\nContent-Type: text/xml" in head


def test_a_connection_the_server_closed_is_not_used_again(transport: HttpTransport) -> None:
    """The server closes each connection after its answer without saying so (no Connection: close):
    the idle connection is seen to be closed before the next call, which opens a new one."""
    with RawServer(lambda head, body: (ok(), True)) as server:
        for _ in range(3):
            assert post(transport, server.url())[0] == 200
            server.closed_all()  # its close is on this side's socket before the next call looks

    assert server.connections == 3


def test_connection_close_is_obeyed(transport: HttpTransport) -> None:
    with RawServer(lambda head, body: (ok(b"<ok/>", "Connection: close"), True)) as server:
        for _ in range(2):
            assert post(transport, server.url())[0] == 200

    assert server.connections == 2


def test_headers_come_back_lower_case_with_repeated_ones_joined(transport: HttpTransport) -> None:
    with RawServer(
        lambda head, body: (ok(b"<ok/>", "X-Thing: a", "x-thing: b", "Retry-After: 3"), False)
    ) as s:
        status, headers, _ = post(transport, s.url())

    assert status == 200
    assert headers["x-thing"] == "a, b" and headers["retry-after"] == "3"
    assert headers["content-type"] == "text/xml"


def test_any_status_is_an_answer(transport: HttpTransport) -> None:
    answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
    with RawServer(lambda head, body: (answer, False)) as server:
        assert post(transport, server.url())[::2] == (503, b"busy")


def test_a_chunked_answer_is_read_whole(transport: HttpTransport) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n<ok\r\n2\r\n/>\r\n0\r\n\r\n"
    with RawServer(lambda head, body: (answer, False)) as server:
        assert post(transport, server.url())[2] == b"<ok/>"
        assert post(transport, server.url())[2] == b"<ok/>"
    assert server.connections == 1


def test_an_answer_declared_over_the_limit_is_refused(transport: HttpTransport) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    with (
        RawServer(lambda head, body: (answer, False)) as server,
        pytest.raises(TransientDeliveryError) as caught,
    ):
        post(transport, server.url())

    assert "is 5000 bytes, over the limit of 1000" in caught.value.message
    assert caught.value.response_status == 200 and caught.value.request == b"<x/>"


def test_an_answer_streaming_past_the_limit_is_refused(transport: HttpTransport) -> None:
    chunk = b"x" * 600
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"258\r\n" + chunk + b"\r\n") * 2
        + b"0\r\n\r\n"
    )
    with (
        RawServer(lambda head, body: (answer, False)) as server,
        pytest.raises(TransientDeliveryError) as caught,
    ):
        post(transport, server.url())

    assert "exceeds the limit of 1000 bytes" in caught.value.message


def test_an_answer_cut_short_is_no_answer(transport: HttpTransport) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<partial"
    with (
        RawServer(lambda head, body: (answer, True)) as server,
        pytest.raises(TransientDeliveryError) as caught,
    ):
        post(transport, server.url())

    assert caught.value.message == (
        f"cannot reach {server.url()}: peer closed connection without sending complete message body "
        "(received 8 bytes, expected 100)"
    )


def test_a_chunked_answer_cut_short_is_no_answer(transport: HttpTransport) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n<partial"
    with (
        RawServer(lambda head, body: (answer, True)) as server,
        pytest.raises(TransientDeliveryError) as caught,
    ):
        post(transport, server.url())

    assert caught.value.message.startswith(f"cannot reach {server.url()}: ")


def test_a_server_that_closes_without_answering_is_no_answer(transport: HttpTransport) -> None:
    with RawServer(lambda head, body: (b"", True)) as server, pytest.raises(TransientDeliveryError) as caught:
        post(transport, server.url())

    assert caught.value.message == (
        f"cannot reach {server.url()}: Server disconnected without sending a response."
    )


def test_a_refused_connection_is_tried_three_times_then_reported(transport: HttpTransport) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/svc"  # closed: nothing listens there any more

    with pytest.raises(TransientDeliveryError) as caught:
        post(transport, url)

    assert caught.value.message.startswith(f"cannot reach {url}: ")
    assert "refused" in caught.value.message.lower()
    assert caught.value.request == b"<x/>"


def test_a_url_that_is_not_http_is_no_answer(transport: HttpTransport) -> None:
    with pytest.raises(TransientDeliveryError, match=r"cannot reach ftp://h/x: .*unsupported protocol"):
        post(transport, "ftp://h/x")


def test_credentials_in_the_url_travel_as_basic_authorization(transport: HttpTransport) -> None:
    with RawServer(lambda head, body: (ok(), False)) as server:
        post(transport, f"http://us%40er:p%3Ass@127.0.0.1:{server.port}/svc?a=1&b=2")

    head = server.heads[0].decode()
    assert head.startswith("POST /svc?a=1&b=2 HTTP/1.1\r\n")
    assert "\r\nAuthorization: Basic dXNAZXI6cDpzcw==" in head  # base64 of "us@er:p:ss"


def test_every_request_names_the_hub_as_its_user_agent(transport: HttpTransport) -> None:
    with RawServer(lambda head, body: (ok(), False)) as server:
        post(transport, server.url())

    head = server.heads[0].decode()
    assert re.search(r"\r\nUser-Agent: lienthong-hub/\d+\.\d+", head), head


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        (
            "POST",
            "/soap/land",
            b"<x/>" * 2000,
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"a"'},
        ),
        ("PUT", "/api?a=1", b'{"a": 1}', {"Content-Type": "application/json", "X-Client": "000.00.00.H49"}),
        ("POST", "/", b"", {"Content-Type": "text/xml", "X-Name": "caf\u00e9"}),
        ("POST", "/svc", b"<x/>", {"Host": "other.example", "Accept-Encoding": "gzip"}),
        ("POST", "/svc", b"<x/>", {"X-Folded": "a\r\n b"}),
    ],
    ids=["SOAP", "JSON", "empty body, Latin-1 value", "Host and Accept-Encoding given", "folded value"],
)
def test_the_bytes_on_the_wire_are_http_client_s(
    transport: HttpTransport, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    """The transport writes a request's head itself (``_send_request``); a server receives what
    http.client's ``request()`` sends for the same request, byte for byte."""
    bodies: list[bytes] = []
    with RawServer(lambda head, got: (bodies.append(got) or ok(), False)) as server:  # type: ignore[func-returns-value]
        transport.send(TransportRequest(url=server.url(path), body=body, headers=headers, method=method))
        stdlib = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        stdlib.request(method, path, body=body or None, headers={**headers, "User-Agent": USER_AGENT})
        stdlib.getresponse().read()
        stdlib.close()

    assert server.heads[0] == server.heads[1]
    assert bodies[0] == bodies[1] == body


def test_a_closed_transport_keeps_no_connection(transport: HttpTransport) -> None:
    with RawServer(lambda head, body: (ok(), False)) as server:
        post(transport, server.url())
        transport.close()
        # A call after close still works (on a connection of its own), and is not kept either.
        assert post(transport, server.url())[0] == 200

    assert server.connections == 2


def test_a_server_certificate_no_trusted_ca_issued_is_refused(
    transport: HttpTransport, tmp_path: pathlib.Path
) -> None:
    """TLS verifies the server (httpx's CA bundle): a self-signed certificate, even for the right
    address, gets no request; the call is reported as unreachable, as a connection never made."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = RawServer(lambda head, body: (ok(), False), tls=context)
    with server, pytest.raises(TransientDeliveryError) as caught:
        post(transport, f"https://127.0.0.1:{server.port}/svc")

    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message
    assert server.heads == []


#: Answers a careless server sends, and what the call gives: the status, headers and body read.
CARELESS: dict[str, tuple[bytes, int, dict[str, str], bytes]] = {
    "a folded header": (
        b"HTTP/1.1 200 OK\r\nX-A: a\r\n  b\r\nContent-Length: 5\r\n\r\n<ok/>",
        200,
        {"x-a": "a\r\n  b", "content-length": "5"},
        b"<ok/>",
    ),
    "a line without a colon ends the headers": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nBogus line\r\nX: y\r\n\r\n<ok/>",
        200,
        {"content-length": "5"},
        b"<ok/>",
    ),
    "Content-Length twice: the first counts": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n<ok/>xx",
        200,
        {"content-length": "5, 7"},
        b"<ok/>",
    ),
    "Content-Length and chunked: chunked counts": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\n<ok/>\r\n0\r\n\r\n",
        200,
        {"content-length": "100", "transfer-encoding": "chunked"},
        b"<ok/>",
    ),
    "100 Continue before the answer": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<ok/>",
        200,
        {"content-length": "5"},
        b"<ok/>",
    ),
    "HTTP/1.0 without a length: read to the close": (
        b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<ok/>",
        200,
        {"content-type": "text/xml"},
        b"<ok/>",
    ),
}


@pytest.mark.parametrize("answer", CARELESS.values(), ids=CARELESS.keys())
def test_a_careless_answer_reads_as_http_client_reads_it(
    transport: HttpTransport, answer: tuple[bytes, int, dict[str, str], bytes]
) -> None:
    raw, status, headers, body = answer
    with RawServer(lambda head, request: (raw, True)) as server:
        assert post(transport, server.url()) == (status, headers, body)


def test_a_chunk_size_past_any_number_is_no_answer(transport: HttpTransport) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFFFFFF\r\n<ok/>"
    with (
        RawServer(lambda head, body: (answer, True)) as server,
        pytest.raises(TransientDeliveryError) as caught,
    ):
        post(transport, server.url())

    assert caught.value.message == f"cannot reach {server.url()}: IncompleteRead(0 bytes read)"


def test_too_many_headers_is_no_answer(transport: HttpTransport) -> None:
    fields = b"".join(b"X-%d: y\r\n" % i for i in range(101))
    answer = b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 5\r\n\r\n<ok/>"
    with (
        RawServer(lambda head, body: (answer, True)) as server,
        pytest.raises(TransientDeliveryError) as caught,
    ):
        post(transport, server.url())

    assert caught.value.message == f"cannot reach {server.url()}: got more than 100 headers"
