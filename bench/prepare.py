#!/usr/bin/env python3
"""The hub's preparation of a land dossier against the floor's, on the same dossiers: CPU per dossier.

    python bench/prepare.py [--docs 200] [--passes 15] [--against PATH]

The hub's part: parse (``parse_xml``), then ``prepare`` of each target the project's routes send a
land-transfer dossier to (the land registry, signed with a development key as ``bench/e2e.py``
signs it, and the national portal), inside ``one_message`` as intake calls them. The floor's:
``bench/_floor.py``'s ``FloorWork`` for the same dossiers. Time is the thread's CPU
(``time.thread_time``) in milliseconds per dossier, the median of ``--passes`` passes after a
warm-up, each checkout's pass and the floor's taken in turn, so that a busy moment of a shared
machine falls on all alike: the bench's ``--split`` row "prepare (each target)" (plus the parse),
without the rest of the hub around it. The portal's JSON is first compared with the floor's.

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


def _hub_work(keydir: Path, docs: int) -> tuple[list[str], Callable[[bytes], dict[str, bytes]], Any]:
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

    def prepare(data: bytes) -> dict[str, bytes]:
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
        parsed = [parse_xml(data)]
        out = {}
        last = len(targets) - 1
        with one_message():
            for index, target in enumerate(targets):
                tree = parsed[0] if index < last else parsed.pop()
                out[target] = stages[target].prepare(envelope, tree, handed_over=index == last).payload
        return out

    documents = [s.xml for s in sample_dossiers(docs, agency=PROVINCE)]
    return targets, prepare, (documents, keys)


def _one_pass(fn: Callable[[bytes], object], documents: Sequence[bytes]) -> float:
    t0 = time.thread_time()
    for data in documents:
        fn(data)
    return 1000 * (time.thread_time() - t0) / len(documents)


def child(keydir: Path, docs: int, result: Path) -> None:
    """The hub's part in this interpreter: its outputs pickled to ``result``, then one timed pass
    (ms per dossier, a line on stdout) for each line read from stdin, until stdin closes."""
    _targets, prepare, (documents, _keys) = _hub_work(keydir, docs)
    result.write_bytes(pickle.dumps([prepare(d) for d in documents]))
    _one_pass(prepare, documents[:20])  # warm-up
    print("ready", flush=True)
    for _line in sys.stdin:
        print(_one_pass(prepare, documents), flush=True)


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
        mine = [prepare(d) for d in documents]
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
        hub_ms: dict[str, list[float]] = {name: [] for name in checkouts}
        floor_ms: list[float] = []
        floor_parts: list[dict[str, float]] = []
        measure_floor(floor, documents[:20], passes=1)  # warm-up
        for _ in range(args.passes):
            for name, process in children.items():
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write("pass\n")
                process.stdin.flush()
                hub_ms[name].append(float(process.stdout.readline()))
            measured = measure_floor(floor, documents, passes=1)
            floor_ms.append(measured.ms_per_message)
            floor_parts.append(measured.by_target_ms)
        for process in children.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait()
        floor_median = statistics.median(floor_ms)
        parts = {k: statistics.median(p[k] for p in floor_parts) for k in floor_parts[0]}
        print(
            f"{len(documents)} dossiers, targets {', '.join(targets)}, {args.passes} passes each, alternated;"
        )
        print("ms of CPU per dossier, median pass (best pass)")
        shares = ", ".join(f"{k} {v:.3f}" for k, v in parts.items())
        print(f"  floor: {floor_median:.3f} ({min(floor_ms):.3f})  [{shares}]")
        for name, times in hub_ms.items():
            median = statistics.median(times)
            print(
                f"  hub ({name}): {median:.3f} ({min(times):.3f})  = {median / floor_median:.2f} x the floor"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
