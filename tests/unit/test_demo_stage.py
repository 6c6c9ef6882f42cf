"""The demo's stage configuration: every adapter at its simulator, and this run's keys accepted."""

from __future__ import annotations

from pathlib import Path

from lienthong.config.files import load_configuration
from lienthong.devtools.demo import PROVINCE, demo_configuration
from lienthong.intake.callers import api_key_digest

ROOT = Path(__file__).resolve().parents[2]


def test_adapters_move_to_their_simulators_with_their_paths_and_keys_join_their_agencies(
    tmp_path: Path,
) -> None:
    config = load_configuration(ROOT / "config", environ={})
    land, tax = config.adapters["land"].agency, config.adapters["tax"].agency
    demo = demo_configuration(
        config,
        database=tmp_path / "hub.db",
        simulators={"land": "http://127.0.0.1:40001", "tax": "http://127.0.0.1:40002"},
        keys={PROVINCE: "k-motcua", land: "k-land", tax: "k-tax"},
    )

    assert demo.adapters["land"].endpoint == "http://127.0.0.1:40001/soap/land"
    assert demo.adapters["tax"].endpoint == "http://127.0.0.1:40002/soap/tax"
    assert demo.adapters["business"] == config.adapters["business"]  # no simulator given: untouched
    assert demo.adapters["land"].retry.initial_backoff.total_seconds() == 0.5
    assert demo.database_url() == f"sqlite:///{tmp_path / 'hub.db'}"
    digests: dict[str, list[str]] = {}  # an agency may have several callers (one-stop and QLVB)
    for caller in demo.hub.callers:
        digests.setdefault(caller.agency, []).extend(caller.api_key_sha256)
    for agency, key in ((PROVINCE, "k-motcua"), (land, "k-land"), (tax, "k-tax")):
        assert api_key_digest(key) in digests[agency]
    assert [c.agency for c in demo.hub.callers] == [c.agency for c in config.hub.callers]
