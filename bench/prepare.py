#!/usr/bin/env python3
"""The hub's preparation of a land dossier against the floor's, on the same dossiers: CPU per dossier.

    python bench/prepare.py [--docs 200] [--passes 15] [--against PATH]

The hub's part: the message's ``Envelope``, the parse (``parse_xml``), then ``prepare`` of each
target the project's routes send a land-transfer dossier to (the land registry, signed with a
development key as ``bench/e2e.py`` signs it, and the national portal), inside ``one_message`` as
intake calls them. The floor's:
``bench/_floor.py``'s ``FloorWork`` for the same dossiers. Time is the thread's CPU
(``time.thread_time``) in milliseconds per dossier, the median of ``--passes`` passes after a
warm-up, each checkout's pass and the floor's taken in turn, so that a busy moment of a shared
machine falls on all alike: the bench's ``--split`` row "prepare (each target)" (plus the parse),
without the rest of the hub around it; the parse's and each target's share beside it. The
portal's JSON is first compared with the floor's.

Each checkout runs in an interpreter of its own (``--against PATH`` adds the checkout at PATH, a
``git archive`` of a commit as ``bench/e2e.py --against`` takes it), which first writes every
dossier's bytes for both targets: they must equal this checkout's, byte for byte, or nothing is
measured.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROVINCE = "000.00.00.H49"


def _hub_work(
    keydir: Path, docs: int
) -> tuple[list[str], Callable[[bytes, dict[str, float] | None], dict[str, bytes]], Any]:
    """The project's preparations (land signing as the bench does), a function preparing every
    target of one dossier, and the dossiers."""
    from lienthong.config.files import load_configuration
    from lienthong.config.models import KeySettings, SigningPolicyConfig
    from lienthong.devtools.samples import sample_dossiers
    from lienthong.envelope import Envelope, MessageKind
    from lienthong.pipeline.prepare import build_preparations, one_message
    from lienthong.trust.keys import create_dev_ca
    from lienthong.trust.sign import build_signers
    from lienthong.xml import parse_xml

    project = Path(os.environ.get("HUB_BENCH_PROJECT", str(ROOT)))
    config = load_configuration(project / "config", environ={})
    keys = KeySettings(signing=create_dev_ca(keydir, PROVINCE, {}).key_references())
    land = config.adapters["land"].model_copy(
        update={"signing": SigningPolicyConfig(policy="xmldsig", algorithm="rsa-sha256")}
    )
    config = config.model_copy(
        update={
            "hub": config.hub.model_copy(update={"keys": keys}),
            "adapters": {**config.adapters, "land": land},
        }
    )
    targets = next(list(r.targets) for r in config.routes.routes if r.name == "land-transfer")
    stages = build_preparations(config, signers=build_signers(config), only=set(targets))
    message_id = uuid.UUID(int=1)

    def prepare(data: bytes, clock: dict[str, float] | None = None) -> dict[str, bytes]:
        """Every target's bytes for one dossier (``clock`` gains the parse's and each target's CPU)."""
        envelope = Envelope(
            message_id=message_id,
            kind=MessageKind.DOSSIER,
            sender=PROVINCE,
            recipient=None,
            sender_message_id="bench",
            correlation_id=message_id,
            payload=data,
            content_type="application/xml",
        )
        t0 = time.thread_time()
        parsed = [parse_xml(data)]
        ticks = [("parse", t0, time.thread_time())]
        out = {}
        last = len(targets) - 1
        with one_message():
            for index, target in enumerate(targets):
                tree = parsed[0] if index < last else parsed.pop()
                t1 = time.thread_time()
                out[target] = stages[target].prepare(envelope, tree, handed_over=index == last).payload
                ticks.append((target, t1, time.thread_time()))
        if clock is not None:
            for name, start, end in ticks:
                clock[name] = clock.get(name, 0.0) + end - start
        return out

    documents = [s.xml for s in sample_dossiers(docs, agency=PROVINCE)]
    return targets, prepare, (documents, keys)


def child(keydir: Path, docs: int, result: Path) -> None:
    """The hub's part in this interpreter: its outputs pickled to ``result``, then one timed pass for
    each line read from stdin, until stdin closes: a line of JSON, the pass's ms per dossier in all
    (``total``) and per part (the parse, each target)."""
    _targets, prepare, (documents, _keys) = _hub_work(keydir, docs)
    result.write_bytes(pickle.dumps([prepare(d) for d in documents]))
    for data in documents[:20]:  # warm-up
        prepare(data)
    print("ready", flush=True)
    for _line in sys.stdin:
        clock: dict[str, float] = {}
        t0 = time.thread_time()
        for data in documents:
            prepare(data, clock)
        clock["total"] = time.thread_time() - t0
        print(json.dumps({k: 1000 * v / len(documents) for k, v in clock.items()}), flush=True)


def _line(label: str, passes: list[dict[str, float]]) -> float:
    """Print the passes' median total (best), each part's median; return the median total."""
    totals = [p["total"] for p in passes]
    shares = ", ".join(
        f"{k} {statistics.median(p[k] for p in passes):.3f}" for k in passes[0] if k != "total"
    )
    median = statistics.median(totals)
    print(f"  {label}: {median:.3f} ({min(totals):.3f})  [{shares}]")
    return median


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--passes", type=int, default=15)
    parser.add_argument("--against", type=Path, default=None, help="a checkout to compare with")
    parser.add_argument("--child", nargs=2, metavar=("KEYDIR", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), args.docs, Path(args.child[1]))
        return 0
    from _floor import FloorWork, measure_floor
    from e2e import _hub_env

    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        keydir = Path(tmp) / "keys"
        targets, prepare, (documents, keys) = _hub_work(keydir, args.docs)
        key = keys.signing[0]
        floor = FloorWork(ROOT, key_file=key.key_file, certificate_file=key.certificate_file, targets=targets)
        mine = [prepare(d, None) for d in documents]
        for number, (data, hub) in enumerate(zip(documents, mine, strict=True), start=1):
            if json.loads(hub["dvcqg"]) != json.loads(floor.one(data)["dvcqg"]):
                print(f"dossier {number}: the portal JSON differs from the floor's", file=sys.stderr)
                return 1
        checkouts: dict[str, dict[str, str] | None] = {"this": None}
        if args.against is not None:
            checkouts[str(args.against)] = _hub_env(args.against, Path(tmp))
        children: dict[str, subprocess.Popen[str]] = {}
        for number, (name, env) in enumerate(checkouts.items()):
            result = Path(tmp) / f"outputs-{number}.pickle"
            command = [
                sys.executable,
                __file__,
                "--docs",
                str(args.docs),
                "--child",
                str(keydir),
                str(result),
            ]
            children[name] = process = subprocess.Popen(
                command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert process.stdout is not None and process.stdout.readline().strip() == "ready", name
            if pickle.loads(result.read_bytes()) != mine:
                print(f"{name}: the outputs differ from this checkout's", file=sys.stderr)
                return 1
        # One pass of each in turn, the floor's too, so that the machine's moods fall on all alike.
        hub_ms: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
        floor_ms: list[float] = []
        floor_parts: list[dict[str, float]] = []
        measure_floor(floor, documents[:20], passes=1)  # warm-up
        for _ in range(args.passes):
            for name, process in children.items():
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write("pass\n")
                process.stdin.flush()
                hub_ms[name].append(json.loads(process.stdout.readline()))
            measured = measure_floor(floor, documents, passes=1)
            floor_ms.append(measured.ms_per_message)
            floor_parts.append(measured.by_target_ms)
        for process in children.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait()
        floor_passes = [{**parts, "total": ms} for parts, ms in zip(floor_parts, floor_ms, strict=True)]
        print(f"{len(documents)} dossiers, targets {', '.join(targets)}, {args.passes} passes each, in turn;")
        print("ms of CPU per dossier, median pass (best pass) [median of each part]")
        floor_median = _line("floor", floor_passes)
        for name, passes in hub_ms.items():
            median = _line(f"hub ({name})", passes)
            print(f"    = {median / floor_median:.2f} x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
