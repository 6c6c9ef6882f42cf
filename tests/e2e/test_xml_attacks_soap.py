"""Hostile XML at the SOAP gateway: every attack is a Client / Sender fault, fast, small, and harmless.

Each payload of the shared attack corpus (defusedxml's) goes in raw and wrapped in a SOAP envelope,
and so do our own: external entities to a local file (holding a marker) and to a loopback URL (with a
listener that must never see a connection), parameter entities, billion laughs, quadratic blow-up,
100k nesting, a 20 MB and a 2 MB attribute, XInclude and processing instructions — each also with the
DOCTYPE hidden past the parser's 64 KiB byte check or in UTF-16, where the byte check is blind.

For every request: the fault code the spec names for the SOAP version, nothing stored (row counts),
the refusal on the audit log, the marker nowhere (answer, log, database files), no connection to the
listener, under 5 s and under 200 MB. The time and memory bounds are security bounds, not benchmarks:
an expansion that got through would take minutes and gigabytes. Memory is measured twice, because
libxml2 allocates outside Python: tracemalloc's peak (Python objects, e.g. a buffered body) and the
growth of the process's peak resident set (everything, the hub runs in this process).
"""

from __future__ import annotations

import logging
import os
import re
import resource
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from soap_support import (
    HUB_ENVIRON,
    SENDER_CODES,
    VERSIONS,
    Version,
    answer_version,
    envelope,
    fault,
    fault_detail,
    hub_header,
    post,
    row_counts,
    status_update,
)

from lienthong.xml import HUB_NS

ATTACKS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "xml-attacks" / "defusedxml"
MAX_SECONDS = 5.0
MAX_BYTES = 200 * 1024 * 1024
MARKER = "CANARY-7f3a9c-DO-NOT-LEAK"
PAD = "<!--" + "x" * 70_000 + "-->\n"  # pushes a DOCTYPE past the parser's 64 KiB byte check


def corpus() -> list[Path]:
    return sorted(p for p in ATTACKS.glob("*") if p.suffix in {".xml", ".xsl"}) if ATTACKS.is_dir() else []


class Listener:
    """A TCP listener on loopback that records every connection attempt (there must be none)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class FileBait:
    """A named pipe that notices being opened: whoever opens it for reading gets the marker, and
    ``opened`` is set. A plain file could be read without a trace (atime is unreliable)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self.path.open("w") as pipe:  # blocks until a reader opens the pipe
            if self._closing:
                return
            self.opened.set()
            pipe.write(MARKER)

    def close(self) -> None:
        self._closing = True
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # lets a still waiting writer go
        try:
            self._thread.join(2)
        finally:
            os.close(fd)


@dataclass
class Bait:
    """Where an attack would reach out to: a file holding the marker, and a listening port."""

    secret: FileBait
    listener: Listener

    @property
    def file_url(self) -> str:
        return self.secret.path.as_uri()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.port}"


@pytest.fixture
def bait(tmp_path: Path) -> Iterator[Bait]:
    secret = FileBait(tmp_path / "secret.txt")
    listener = Listener()
    try:
        yield Bait(secret, listener)
    finally:
        listener.close()
        secret.close()


@pytest.fixture
def soap_hub(hub_factory: Callable[..., Any]) -> Any:
    return hub_factory(environ=HUB_ENVIRON)


def attempt(
    hub: Any, version: Version, data: bytes, caplog: pytest.LogCaptureFixture, bait: Bait
) -> httpx.Response:
    """Send one hostile request and check everything that must hold whatever the attack was."""
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        with caplog.at_level(logging.INFO):
            response = post(hub.client, version, data)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start_rss

    assert elapsed < MAX_SECONDS, f"took {elapsed:.1f}s"
    assert peak < MAX_BYTES, f"Python allocations peaked at {peak / 2**20:.0f} MiB"
    assert grown < MAX_BYTES, f"peak resident set grew by {grown / 2**20:.0f} MiB"
    assert hub_header(response)["requestHash"], "every answer carries the request's hash"
    counts = row_counts(hub.project.database)
    assert counts["messages"] == 0 and counts["idempotency_keys"] == 0, counts
    refusals = [
        r.getMessage() for r in caplog.records if r.name == "lienthong.audit" and "refused" in r.getMessage()
    ]
    assert refusals, "the refusal must be on the audit log"
    assert bait.listener.connections == 0, "the hub connected to a URL named in the document"
    assert not bait.secret.opened.is_set(), "the hub opened a file named in the document"
    assert MARKER.encode() not in response.content
    assert MARKER not in caplog.text
    for file in hub.project.database.parent.glob("hub.db*"):  # the database, its WAL and journal
        assert MARKER.encode() not in file.read_bytes(), file
    return response


def assert_sender_fault(response: httpx.Response, version: Version, *codes: str) -> None:
    assert response.status_code == (500 if version == "soap11" else 400), response.text
    assert answer_version(response) == version
    assert fault(response).code == SENDER_CODES[version]
    if codes:
        assert fault_detail(response).findtext(f"{{{HUB_NS}}}code") in codes


# ---------------------------------------------------------------- the shared corpus


def split_prolog(data: bytes) -> tuple[str, str]:
    """(DOCTYPE and comments, root element) of a corpus file, without its XML declaration."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", data.decode("utf-8"))
    doctype_end = 0
    if (at := text.find("<!DOCTYPE")) >= 0:
        bracket, close = text.find("[", at), text.find(">", at)
        doctype_end = text.find("]>", at) + 2 if 0 <= bracket < close else close + 1
    root = re.search(r"<[A-Za-z_]", text[doctype_end:])
    assert root is not None
    return text[: doctype_end + root.start()], text[doctype_end + root.start() :]


def test_the_corpus_is_there(shared_dir: Path) -> None:
    assert corpus(), f"no attack payloads under {ATTACKS}"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.name)
def test_corpus_payloads_wrapped_in_soap_are_sender_faults(
    soap_hub: Any, caplog: pytest.LogCaptureFixture, bait: Bait, path: Path, version: Version
) -> None:
    prolog, element = split_prolog(path.read_bytes())
    response = attempt(soap_hub, version, envelope(version, element, prolog=prolog), caplog, bait)
    # DTD tricks are refused by the parser; an inert stylesheet as a body is simply no operation of ours.
    assert_sender_fault(response, version, "xml-refused", "unknown-operation")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.name)
def test_corpus_payloads_sent_raw_are_refused(
    soap_hub: Any, caplog: pytest.LogCaptureFixture, bait: Bait, path: Path, version: Version
) -> None:
    data = path.read_bytes()
    response = attempt(soap_hub, version, data, caplog, bait)
    if b"<!DOCTYPE" in data:
        assert_sender_fault(response, version, "xml-refused")
    elif version == "soap11":  # not an Envelope at all: Client (SOAP 1.1 4.1)
        assert_sender_fault(response, version, "soap-invalid")
    else:  # SOAP 1.2 5.4.7: any root but env:Envelope is a VersionMismatch
        assert response.status_code == 500
        assert fault(response).code == "VersionMismatch"


# ---------------------------------------------------------------- our own, SOAP-wrapped


def _entity_in_body(doctype: str) -> Callable[[Version, Bait], bytes]:
    """A valid status update whose NoiDung is ``&ee;``, with ``doctype`` (formatted with the bait)."""

    def make(version: Version, bait: Bait) -> bytes:
        body = status_update().replace(
            "Hồ sơ đang được thẩm định tại Văn phòng đăng ký đất đai Hạ Long", "&ee;"
        )
        prolog = doctype.format(file=bait.file_url, url=bait.url) + "\n"
        return envelope(version, body, prolog=prolog)

    return make


def _in_body(fragment: str) -> Callable[[Version, Bait], bytes]:
    def make(version: Version, bait: Bait) -> bytes:
        body = status_update().replace(
            "<dd:NoiDung>", f"<dd:NoiDung>{fragment.format(file=bait.file_url, url=bait.url)}"
        )
        return envelope(version, body)

    return make


def _utf16(make: Callable[[Version, Bait], bytes]) -> Callable[[Version, Bait], bytes]:
    def encode(version: Version, bait: Bait) -> bytes:
        text = make(version, bait).decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
        return text.encode("utf-16")

    return encode


def _billion_laughs(version: Version, bait: Bait) -> bytes:
    levels = ['<!ENTITY l0 "ha">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 11)]
    return _entity_in_body("<!DOCTYPE soap:Envelope [" + "".join(levels) + '<!ENTITY ee "&l10;">]>')(
        version, bait
    )


def _quadratic(version: Version, bait: Bait) -> bytes:
    doctype = '<!DOCTYPE soap:Envelope [<!ENTITY a "' + "B" * 50_000 + '">]>'
    body = status_update().replace(
        "Hồ sơ đang được thẩm định tại Văn phòng đăng ký đất đai Hạ Long", "&a;" * 20_000
    )
    return envelope(version, body, prolog=doctype + "\n")


def _nesting(version: Version, bait: Bait) -> bytes:
    return _in_body("<x>" * 100_000 + "</x>" * 100_000)(version, bait)


def _attribute(size: int) -> Callable[[Version, Bait], bytes]:
    def make(version: Version, bait: Bait) -> bytes:
        body = status_update().replace(
            "<dd:CapNhatTrangThaiHoSo ", f'<dd:CapNhatTrangThaiHoSo big="{"A" * size}" ', 1
        )
        return envelope(version, body)

    return make


def _pi_before(version: Version, bait: Bait) -> bytes:
    return envelope(
        version, status_update(), prolog=f'<?xml-stylesheet type="text/xsl" href="{bait.url}/x.xsl"?>\n'
    )


OWN: dict[str, tuple[Callable[[Version, Bait], bytes], tuple[str, ...]]] = {
    "external-entity-file": (_entity_in_body('<!DOCTYPE soap:Envelope [<!ENTITY ee SYSTEM "{file}">]>'), ()),
    "external-entity-file-after-64k": (
        _entity_in_body(PAD + '<!DOCTYPE soap:Envelope [<!ENTITY ee SYSTEM "{file}">]>'),
        (),
    ),
    "external-entity-url": (_entity_in_body('<!DOCTYPE soap:Envelope [<!ENTITY ee SYSTEM "{url}/ee">]>'), ()),
    "external-entity-url-after-64k": (
        _entity_in_body(PAD + '<!DOCTYPE soap:Envelope [<!ENTITY ee SYSTEM "{url}/ee">]>'),
        (),
    ),
    "external-dtd-url": (_entity_in_body('<!DOCTYPE soap:Envelope SYSTEM "{url}/evil.dtd">'), ()),
    "external-dtd-url-after-64k": (
        _entity_in_body(PAD + '<!DOCTYPE soap:Envelope SYSTEM "{url}/evil.dtd">'),
        (),
    ),
    "parameter-entity-file": (
        _entity_in_body('<!DOCTYPE soap:Envelope [<!ENTITY % pe SYSTEM "{file}"> %pe;]>'),
        (),
    ),
    "parameter-entity-file-after-64k": (
        _entity_in_body(PAD + '<!DOCTYPE soap:Envelope [<!ENTITY % pe SYSTEM "{file}"> %pe;]>'),
        (),
    ),
    "parameter-entity-file-utf16": (
        _utf16(_entity_in_body('<!DOCTYPE soap:Envelope [<!ENTITY % pe SYSTEM "{file}"> %pe;]>')),
        (),
    ),
    "parameter-entity-url-after-64k": (
        _entity_in_body(PAD + '<!DOCTYPE soap:Envelope [<!ENTITY % pe SYSTEM "{url}/pe"> %pe;]>'),
        (),
    ),
    "parameter-entity-internal": (
        _entity_in_body("<!DOCTYPE soap:Envelope [<!ENTITY % pe \"<!ENTITY ee 'x'>\"> %pe;]>"),
        (),
    ),
    "billion-laughs": (_billion_laughs, ()),
    "billion-laughs-after-64k": (
        lambda v, b: _billion_laughs(v, b).replace(b"<!DOCTYPE", PAD.encode() + b"<!DOCTYPE", 1),
        (),
    ),
    "quadratic-blowup": (_quadratic, ()),
    "nesting-100k": (_nesting, ()),
    "attribute-20MB": (_attribute(20_000_000), ("payload-too-large",)),
    "attribute-2MB": (_attribute(2_000_000), ()),
    "xinclude": (
        _in_body('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{file}" parse="text"/>'),
        (),
    ),
    "processing-instruction": (_in_body("<?php readfile('{file}'); ?>"), ()),
    "processing-instruction-before-envelope": (_pi_before, ()),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(OWN))
def test_hostile_soap_requests_are_sender_faults_and_touch_nothing(
    soap_hub: Any, caplog: pytest.LogCaptureFixture, bait: Bait, case: str, version: Version
) -> None:
    make, codes = OWN[case]
    response = attempt(soap_hub, version, make(version, bait), caplog, bait)
    assert_sender_fault(response, version, *(codes or ("xml-refused",)))


def test_the_bait_would_be_noticed(soap_hub: Any, bait: Bait) -> None:
    """The checks above can fail: an opened file, a connection, the marker in the database are seen."""
    assert bait.secret.path.read_text() == MARKER
    assert bait.secret.opened.wait(2)
    with socket.create_connection(("127.0.0.1", bait.listener.port)):
        pass
    deadline = time.monotonic() + 2
    while bait.listener.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bait.listener.connections == 1
    data = envelope("soap11", status_update().replace("Hồ sơ đang", MARKER))
    assert post(soap_hub.client, "soap11", data).status_code == 200
    assert any(MARKER.encode() in f.read_bytes() for f in soap_hub.project.database.parent.glob("hub.db*"))
