"""The delivery dispatcher's store round (``SqlStore.settle``) alone: thread CPU per round.

A store on a SQLite file under var/bench/ (or a PostgreSQL schema of its own) is given ``--dossiers``
dossiers of two deliveries each (land and the portal, as the project routes a land transfer); then
rounds as the dispatcher makes them at saturation: each records the outcomes of the previous round's
claims (mostly delivered, one in eight a retry later on) and claims up to a limit of 1-4. The CPU of
the calling thread (``time.thread_time``) is taken per round; the table gives the median per round and
per dossier (two claims and two outcomes).

``--against DIR`` alternates runs of another checkout (``git archive <base> hub | tar -x -C DIR``)
and this one, each in a fresh interpreter, and prints both::

    .venv/bin/python bench/settle_round.py --against /tmp/base --pairs 5 --backends sqlite,postgres
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_BASE_URL = os.environ.get("HUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LIMITS = (2, 3, 4, 1, 4, 2, 3, 4)  # a round's claim limit, in turn


@contextmanager
def _database(backend: str, run_id: str) -> Iterator[str]:
    """A URL to a fresh SQLite file under var/bench/ or a PostgreSQL schema, removed afterwards."""
    from sqlalchemy import create_engine, text

    if backend == "sqlite":
        path = ROOT / "var" / "bench" / f"settle-{run_id}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield f"sqlite:///{path}"
        finally:
            for file in path.parent.glob(f"{path.name}*"):
                file.unlink(missing_ok=True)
        return
    schema = f"bench_settle_{run_id}"
    admin = create_engine(PG_BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _fill(store: Any, dossiers: int, run_id: str) -> None:
    """``dossiers`` land dossiers accepted, each with its two deliveries queued."""
    from lienthong.envelope import MessageKind, new_envelope, utcnow
    from lienthong.store import PreparedDelivery, RouteDecision, RouteStatus

    route = RouteDecision(RouteStatus.ROUTED, "land-transfer", ("land", "dvcqg"), "procedure matches")
    payload = b"<HoSo>" + b"x" * 4000 + b"</HoSo>"
    prepared = [
        PreparedDelivery("land", b"<GoiTin>" + b"y" * 6000 + b"</GoiTin>", "application/xml"),
        PreparedDelivery("dvcqg", b'{"hoso": "' + b"z" * 1500 + b'"}', "application/json"),
    ]
    for n in range(dossiers):
        envelope = new_envelope(
            kind=MessageKind.DOSSIER,
            sender="motcua-dongnai",
            sender_message_id=f"msg-{n}-{run_id}",
            payload=payload,
            content_type="application/xml",
            recipient="vpdk-dongnai",
            procedure_code="1.004227",
            dossier_code=f"000.00.01.H19-260301-{n:04d}",
            document_id=f"doc-{n}",
            document_type="HoSo",
            headers={"x-trace": f"t{n}", "x-caller": "motcua"},
            created_at=utcnow(),
        )
        store.accept(envelope, route, prepared)


def _rounds(store: Any, rounds: int, warmup: int) -> tuple[list[float], int]:
    """The dispatcher's rounds: each records the previous round's outcomes and claims up to its
    limit. The thread CPU of each measured round, and the claims and outcomes they handled."""
    from lienthong.envelope import utcnow
    from lienthong.store import Delivered, RetryAt

    lease = timedelta(minutes=5)
    response = b"<KetQua>" + b"r" * 790 + b"</KetQua>"
    outcomes: list[Any] = []
    cpu: list[float] = []
    handled = 0
    for i in range(warmup + rounds):
        start = time.thread_time()
        settled = store.settle("bench-worker", outcomes, LIMITS[i % len(LIMITS)], lease)
        spent = time.thread_time() - start
        if i >= warmup:
            cpu.append(spent)
            handled += len(settled.claims) + len(outcomes)
        later = utcnow() + timedelta(hours=1)
        outcomes = [
            (c, RetryAt(at=later, error="HTTP 503", response=b"<Loi/>", response_status=503))
            if c.delivery_id % 8 == 0
            else (c, Delivered(response=response, response_status=200))
            for c in settled.claims
        ]
        if not settled.claims and not outcomes:
            raise SystemExit(f"ran out of due deliveries after {i} rounds: give more --dossiers")
    return cpu, handled


def _one_run(backend: str, dossiers: int, rounds: int, warmup: int) -> dict[str, Any]:
    """One run in this interpreter (whatever ``lienthong`` it imports): CPU per round, in µs."""
    from lienthong.store.migrate import upgrade
    from lienthong.store.sql import SqlStore, create_store_engine

    run_id = uuid.uuid4().hex[:10]
    with _database(backend, run_id) as url:
        engine = create_store_engine(url)
        upgrade(engine)
        store = SqlStore(engine)
        _fill(store, dossiers, run_id)
        cpu, handled = _rounds(store, rounds, warmup)
        store.close()
        engine.dispose()
    # A dossier is two claims and two outcomes.
    return {"median_us_round": statistics.median(cpu) * 1e6, "us_per_dossier": sum(cpu) / handled * 4e6}


def _run_in(checkout: Path, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """One run in a fresh interpreter whose ``lienthong`` is ``checkout``'s hub/."""
    shim = ROOT / "var" / "bench" / f"shim-{uuid.uuid4().hex[:8]}"
    shim.mkdir(parents=True)
    (shim / "lienthong").symlink_to(checkout.resolve() / "hub", target_is_directory=True)
    env = dict(os.environ, PYTHONPATH=str(shim))
    command = [
        sys.executable,
        __file__,
        "--one",
        backend,
        "--dossiers",
        str(args.dossiers),
        "--rounds",
        str(args.rounds),
        "--warmup",
        str(args.warmup),
    ]
    try:
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    finally:
        (shim / "lienthong").unlink()
        shim.rmdir()
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--dossiers", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=800)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=5, help="alternations of --against and this checkout")
    parser.add_argument("--against", type=Path, help="another checkout to alternate with this one")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one_run(args.one, args.dossiers, args.rounds, args.warmup)))
        return
    checkouts = {"this": ROOT} if args.against is None else {"base": args.against, "this": ROOT}
    for backend in args.backends.split(","):
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
        for pair in range(args.pairs):
            for name, checkout in checkouts.items():
                r = _run_in(checkout, backend, args)
                results[name].append(r)
                print(
                    f"{backend} pair {pair} {name}: {r['median_us_round']:.0f} µs/round median,"
                    f" {r['us_per_dossier']:.0f} µs/dossier",
                    flush=True,
                )
        for name, rs in results.items():
            rounds = sorted(r["median_us_round"] for r in rs)
            dossier = sorted(r["us_per_dossier"] for r in rs)
            print(
                f"{backend} {name}: median of runs {statistics.median(rounds):.0f} µs/round"
                f" (runs {rounds[0]:.0f}-{rounds[-1]:.0f}), {statistics.median(dossier):.0f} µs/dossier"
                f" (runs {dossier[0]:.0f}-{dossier[-1]:.0f})"
            )


if __name__ == "__main__":
    main()
