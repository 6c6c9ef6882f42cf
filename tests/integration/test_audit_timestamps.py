"""Timestamping a tree head over the real HTTP path: the hub's client → the TSA simulator on loopback, and
the token it keeps verifies later, with rfc3161-client and with OpenSSL (an independent implementation)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from lienthong.audit import merkle
from lienthong.audit.heads import TreeHead
from lienthong.audit.timestamps import QUERY_TYPE, REPLY_TYPE, HttpTsaClient, build_request, verify_timestamp
from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.simulator.tsa import DevTsa
from lienthong.errors import TimestampError
from tests.conftest import need

HEAD = TreeHead(
    size=3,
    root=merkle.root([merkle.leaf_hash(b"%d" % i) for i in range(3)]),
    at=dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC),
)


@pytest.fixture(scope="module")
def tsa() -> DevTsa:
    return DevTsa.create()


@pytest.fixture(scope="module")
def tsa_url(tsa: DevTsa) -> Iterator[str]:
    with BackgroundServer(tsa.app()) as server:
        yield server.url + "/"


def test_a_head_is_stamped_over_http_and_the_kept_token_verifies(tsa: DevTsa, tsa_url: str) -> None:
    token = HttpTsaClient(tsa_url).stamp(HEAD.hash())
    assert token == tsa.issued[-1]  # the bytes kept are the bytes the TSA sent
    stamped = verify_timestamp(token, digest=HEAD.hash(), roots=[tsa.root], tsa_certificate=tsa.certificate)
    assert abs(stamped.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert "Lien thong dev TSA" in stamped.tsa
    verify_timestamp(token, data=HEAD.canonical(), roots=[tsa.root], common_name=stamped.tsa)
    other = TreeHead(size=4, root=HEAD.root, at=HEAD.at)
    with pytest.raises(TimestampError, match="does not verify"):
        verify_timestamp(token, digest=other.hash(), roots=[tsa.root], tsa_certificate=tsa.certificate)


def test_a_token_from_another_tsa_is_refused(tsa_url: str) -> None:
    token = HttpTsaClient(tsa_url).stamp(HEAD.hash())
    stranger = DevTsa.create("Another TSA")
    with pytest.raises(TimestampError) as exc:
        verify_timestamp(token, digest=HEAD.hash(), roots=[stranger.root])
    assert exc.value.reason == "timestamp-invalid"


def test_the_simulator_speaks_the_protocol(tsa_url: str) -> None:
    request = build_request(HEAD.hash())
    with httpx.Client() as client:
        answer = client.post(tsa_url, content=request, headers={"Content-Type": QUERY_TYPE})
        assert answer.status_code == 200 and answer.headers["content-type"] == REPLY_TYPE
        wrong = client.post(tsa_url, content=request, headers={"Content-Type": "application/json"})
        assert wrong.status_code == 415


def test_an_unreachable_or_confused_tsa_is_a_timestamp_error(tsa: DevTsa) -> None:
    with BackgroundServer(tsa.app()) as server:
        url = server.url + "/"
    with pytest.raises(TimestampError) as down:
        HttpTsaClient(url, timeout=2).stamp(HEAD.hash())
    assert down.value.reason == "tsa-unreachable"

    def replay(request: httpx.Request) -> httpx.Response:  # answers every request with an old token
        return httpx.Response(200, content=tsa.respond(build_request(bytes(32))))

    with (
        httpx.Client(transport=httpx.MockTransport(replay)) as client,
        pytest.raises(TimestampError) as confused,
    ):
        HttpTsaClient("http://tsa.invalid/", client=client).stamp(HEAD.hash())
    assert confused.value.reason == "imprint-mismatch"


def test_openssl_verifies_the_simulator_tokens(tsa: DevTsa, tsa_url: str, tmp_path: Path) -> None:
    """An implementation the hub does not use agrees that the tokens are RFC 3161 tokens over the head."""
    openssl = shutil.which("openssl")
    need(openssl is not None, "openssl is not installed")
    assert openssl is not None
    (tmp_path / "head.json").write_bytes(HEAD.canonical())
    (tmp_path / "head.tsr").write_bytes(HttpTsaClient(tsa_url).stamp(HEAD.hash()))
    (tmp_path / "root.pem").write_bytes(tsa.root.public_bytes(Encoding.PEM))
    (tmp_path / "tsa.pem").write_bytes(tsa.certificate.public_bytes(Encoding.PEM))
    run = subprocess.run(
        [
            openssl,
            "ts",
            "-verify",
            "-data",
            "head.json",
            "-in",
            "head.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Verification: OK" in run.stdout
    (tmp_path / "head.json").write_bytes(HEAD.canonical().replace(b'"size":3', b'"size":4'))
    again = subprocess.run(
        [
            openssl,
            "ts",
            "-verify",
            "-data",
            "head.json",
            "-in",
            "head.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode != 0
