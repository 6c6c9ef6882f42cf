#!/usr/bin/env python3
"""The SOAP adapter's delivery of a signed land dossier up to the bytes handed to the transport: CPU per call.

    python bench/soap_request.py [--docs 200] [--passes 15] [--against PATH]

What is timed is ``SoapAdapter.deliver`` of the land adapter (``TiepNhanHoSo``, with its WSDL, as
config/adapters/land.yaml ships it) for a claim holding the payload the hub's intake stages prepared
(translated and signed with a development key, as ``bench/prepare.py`` prepares it), up to the
transport's ``send``: a stub transport keeps the request and raises, so neither the network nor the
reading of an answer is in the time. Beside it, ``payload_element_bytes`` alone: the check that the
stored payload can travel byte for byte, which every call makes.

Time is the thread's CPU (``time.thread_time``) in microseconds per call, the median of ``--passes``
passes after a warm-up. Each checkout runs in an interpreter of its own (``--against PATH``: a ``git
archive`` of a commit, as ``bench/e2e.py --against`` takes it), one pass of each in turn, so that a busy
moment of a shared machine falls on both alike. Every checkout first writes the request bytes of
every dossier: they must equal this checkout's, byte for byte, or nothing is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROVINCE = "000.00.00.H49"


class _Sent(Exception):
    """Raised by the stub transport: the request is built, the call ends there."""


def _payloads(keydir: Path, docs: int) -> list[bytes]:
    """The land registry's prepared (translated, signed) payload of ``docs`` sample dossiers."""
    sys.path.insert(0, str(ROOT / "bench"))
    from prepare import _hub_work

    _targets, prepare, (documents, _keys) = _hub_work(keydir, docs)
    return [prepare(d)["land"] for d in documents]


def _adapter() -> Any:
    from lienthong import MemoryTransport, TransportRequest, TransportResponse
    from lienthong.adapter import AdapterContext
    from lienthong.config.files import load_configuration
    from lienthong.delivery.soap_adapter import SoapAdapter, SoapOptions

    def stub(request: TransportRequest) -> TransportResponse:
        raise _Sent

    config = load_configuration(ROOT / "config", environ={})
    land = config.adapters["land"].operation_config("TiepNhanHoSo")
    options = SoapOptions.model_validate(land.options)
    transport = MemoryTransport(stub)
    ctx = AdapterContext(config=land, options=options, hub_agency=PROVINCE, root=ROOT, transport=transport)
    return SoapAdapter(ctx), transport


def _claims(payloads: Sequence[bytes]) -> list[Any]:
    from lienthong.envelope import EnvelopeHeader, MessageKind
    from lienthong.store import Claim

    now = datetime(2026, 12, 1, tzinfo=UTC)
    claims = []
    for number, payload in enumerate(payloads, start=1):
        message_id = uuid.UUID(int=number)
        header = EnvelopeHeader(
            message_id=message_id,
            kind=MessageKind.DOSSIER,
            sender=PROVINCE,
            recipient=None,
            sender_message_id=f"bench-{number}",
            correlation_id=uuid.UUID(int=10_000 + number),
            content_type="application/xml",
            received_at=now,
        )
        claims.append(
            Claim(
                delivery_id=number,
                target="land",
                attempt=1,
                round_attempt=1,
                first_attempt_at=now,
                payload=payload,
                content_type="application/xml",
                envelope=header,
                worker="bench",
                lease_until=now + timedelta(minutes=1),
                operation="TiepNhanHoSo",
            )
        )
    return claims


def child(payloads_file: Path, result: Path) -> None:
    """This checkout's part: the request bytes of every claim pickled to ``result``, then one timed pass
    for each line read from stdin, until stdin closes: a line of JSON, µs of CPU per call."""
    from lienthong.soap import payload_element_bytes

    payloads = pickle.loads(payloads_file.read_bytes())
    adapter, transport = _adapter()
    claims = _claims(payloads)

    def deliver(claim: Any) -> None:
        with contextlib.suppress(_Sent):
            adapter.deliver(claim)

    for claim in claims:
        deliver(claim)
    wire = [(r.url, r.body, dict(r.headers)) for r in transport.requests]
    result.write_bytes(pickle.dumps(wire))
    for claim in claims[:50]:  # warm-up
        deliver(claim)
        payload_element_bytes(claim.payload)
    print("ready", flush=True)
    for _line in sys.stdin:
        transport.requests.clear()
        t0 = time.thread_time()
        for claim in claims:
            deliver(claim)
        t1 = time.thread_time()
        for payload in payloads:
            payload_element_bytes(payload)
        t2 = time.thread_time()
        count = len(claims)
        print(json.dumps({"deliver": 1e6 * (t1 - t0) / count, "check": 1e6 * (t2 - t1) / count}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--passes", type=int, default=15)
    parser.add_argument("--against", type=Path, default=None, help="a checkout to compare with")
    parser.add_argument("--child", nargs=2, metavar=("PAYLOADS", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    from _timing import alternate_passes, pass_spread, start_child
    from e2e import _hub_env

    with tempfile.TemporaryDirectory(prefix="bench-soap-request-") as tmp:
        payloads_file = Path(tmp) / "payloads.pickle"
        payloads_file.write_bytes(pickle.dumps(_payloads(Path(tmp) / "keys", args.docs)))
        checkouts: dict[str, dict[str, str] | None] = {"this": None}
        if args.against is not None:
            checkouts[str(args.against)] = _hub_env(args.against, Path(tmp))
        children: dict[str, subprocess.Popen[str]] = {}
        wires: dict[str, Any] = {}
        for number, (name, env) in enumerate(checkouts.items()):
            result = Path(tmp) / f"wire-{number}.pickle"
            command = [sys.executable, __file__, "--child", str(payloads_file), str(result)]
            children[name] = start_child(command, env)
            wires[name] = pickle.loads(result.read_bytes())
        if any(wire != wires["this"] for wire in wires.values()):
            print("the checkouts' requests differ", file=sys.stderr)
            return 1
        passes = alternate_passes(children, args.passes)
        size = statistics.median(len(p) for p in pickle.loads(payloads_file.read_bytes()))
        print(f"{args.docs} signed land dossiers (median payload {size:.0f} bytes), {args.passes} passes")
        print("each, in turn; µs of CPU per call, median pass [min–max]; the requests are identical")
        for name, runs in passes.items():
            print(f"  {name}: {pass_spread(runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
