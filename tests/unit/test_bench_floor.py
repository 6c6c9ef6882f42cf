"""The end-to-end benchmark's yardstick and set-up (bench/_floor.py, bench/_hubproc.py).

The floor is what the hub's CPU per message is divided by, so it must do the hub's work, no more and
no less: its portal JSON, built with the libraries alone, must be the hub's own for the same
dossiers. A mapping change that the floor does not follow would make the ratio meaningless, and is
caught here before anyone runs the benchmark. Nothing is timed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from lienthong.config.files import load_configuration
from lienthong.devtools.samples import sample_dossiers
from lienthong.envelope import Envelope, MessageKind
from lienthong.pipeline.prepare import build_preparations

ROOT = Path(__file__).resolve().parents[2]
PROVINCE = "000.00.00.H49"


def _bench_module(name: str) -> Any:
    """A module of bench/ (scripts, not a package), loaded from its file under a name of its own
    (registered: its dataclasses look their module up)."""
    qualified = f"bench_{name.lstrip('_')}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


def test_floor_portal_json_is_the_hubs() -> None:
    floor = _bench_module("_floor")
    config = load_configuration(ROOT / "config", environ={})
    stages = build_preparations(config, only={"dvcqg"})["dvcqg"]
    work = floor.FloorWork(ROOT, key_file=None, certificate_file=None, hub_agency=config.hub.hub.agency)
    for sample in sample_dossiers(40, agency=PROVINCE):
        envelope = Envelope(
            message_id=uuid.uuid4(),
            kind=MessageKind.DOSSIER,
            sender=PROVINCE,
            recipient=None,
            sender_message_id=sample.dossier_code,
            correlation_id=uuid.uuid4(),
            payload=sample.xml,
            content_type="application/xml",
        )
        out = work.one(sample.xml)
        assert set(out) == {"land", "dvcqg"}
        assert json.loads(out["dvcqg"]) == json.loads(stages.prepare(envelope, None).payload)


def test_floor_parts_follow_the_targets() -> None:
    floor = _bench_module("_floor")
    documents = [s.xml for s in sample_dossiers(5, agency=PROVINCE)]
    both = floor.measure_floor(
        floor.FloorWork(ROOT, key_file=None, certificate_file=None), documents, passes=1
    )
    land = floor.measure_floor(
        floor.FloorWork(ROOT, key_file=None, certificate_file=None, targets=["land"]), documents, passes=1
    )
    assert set(both.by_target_ms) == {"input", "land", "dvcqg"}
    assert set(land.by_target_ms) == {"input", "land"}
    assert land.targets == ("land",)


def test_written_configuration_loads_with_the_runs_overrides(tmp_path: Path) -> None:
    hubproc = _bench_module("_hubproc")
    root = hubproc.config_root(tmp_path / "root", ROOT)
    caller = {"agency": PROVINCE, "name": "bench", "api_key_sha256": ["0" * 64], "services": ["rest:submit"]}
    written = hubproc.write_config(
        root,
        ROOT,
        "config",
        database_url="sqlite:////tmp/bench-test.db",
        workers=0,
        caller=caller,
        keys=None,
        land_only=True,
    )
    config = load_configuration(written, environ={})
    assert config.root == root
    assert config.hub.workers.count == 0
    assert config.hub.database.url == "sqlite:////tmp/bench-test.db"
    assert any(c.name == "bench" for c in config.hub.callers)
    assert next(r.targets for r in config.routes.routes if r.name == "land-transfer") == ["land"]
    # the project's own files are read through the root's links
    assert config.resolve(Path("schemas/province/hoso.xsd")).is_file()
