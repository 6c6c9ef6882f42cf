"""The demo's stage configuration: every adapter at its simulator, and this run's keys accepted."""

from __future__ import annotations

from pathlib import Path

from lienthong.config.files import load_configuration
from lienthong.devtools.demo import PROVINCE, demo_configuration
from lienthong.devtools.demo.stage import demo_signing
from lienthong.intake.callers import api_key_digest
from lienthong.trust.keys import DevCa

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
    assert [c.agency for c in demo.hub.callers] == [c.agency for c in config.hub.callers]
    digests = [(c.agency, c.name, c.api_key_sha256) for c in demo.hub.callers]
    for agency, key in ((PROVINCE, "k-motcua"), (land, "k-land"), (tax, "k-tax")):
        holders = [name for a, name, keys in digests if api_key_digest(key) in keys]
        first = next(name for a, name, _ in digests if a == agency)
        assert holders == [first]  # one key, one caller: the agency's first
    # The province's document system is a second caller of the province: it keeps its own key only.
    qlvb = next(c for c in demo.hub.callers if "QLVB" in c.name)
    assert qlvb.agency == PROVINCE and qlvb.api_key_sha256 == [] and qlvb.api_key_env == "HUB_QLVB_API_KEY"


def test_the_axis_adapters_move_to_their_simulators_and_receive_at_demo_pace(tmp_path: Path) -> None:
    config = load_configuration(ROOT / "config", environ={})
    demo = demo_configuration(
        config,
        database=tmp_path / "hub.db",
        simulators={"vpcp": "http://127.0.0.1:40010", "qlvb": "http://127.0.0.1:40011"},
        keys={PROVINCE: "k"},
    )

    assert demo.adapters["vpcp"].endpoint == "http://127.0.0.1:40010/axis"
    assert demo.adapters["qlvb"].endpoint == "http://127.0.0.1:40011/qlvb"
    receiving = demo.adapters["vpcp"].receiving
    assert receiving is not None and receiving.interval.total_seconds() == 0.3
    assert config.adapters["vpcp"].receiving is not None
    assert config.adapters["vpcp"].receiving.interval.total_seconds() == 30  # the YAML's, untouched


def test_signing_for_the_demo_signs_the_axis_documents_and_requires_the_ministries_signatures(
    tmp_path: Path,
) -> None:
    config = load_configuration(ROOT / "config", environ={})
    ca_pem = tmp_path / "ca.pem"
    ca = DevCa(  # where 'hub keys dev-ca' would put them: demo_signing only names the files
        directory=tmp_path,
        ca_certificate=ca_pem,
        ca_key=tmp_path / "ca.key",
        hub_certificate=tmp_path / "hub.pem",
        hub_key=tmp_path / "hub.key",
        hub_ec_certificate=tmp_path / "hub-ec.pem",
        hub_ec_key=tmp_path / "hub-ec.key",
        agencies={},
    )

    signed = demo_signing(config, ca)

    assert (config.adapters["vpcp"].signing.policy, signed.adapters["vpcp"].signing.policy) == (
        "none",
        "edxml",
    )
    assert signed.adapters["land"].signing.policy == "xmldsig"
    assert signed.adapters["qlvb"].signing.policy == "none"  # hands on what ministries signed, as signed
    ministries = {"000.00.00.G06", "000.00.00.G09"}  # the axis simulator's, in vpcp.yaml
    trust = signed.hub.trust.agencies
    assert ministries <= set(trust)
    for code in ministries:
        assert trust[code].anchors == [ca_pem] and trust[code].require_signature
        assert [s.subject for s in trust[code].signers] == [{"OU": code}]
    assert [k.id for k in signed.hub.keys.signing] == [DevCa.RSA_KEY_ID, DevCa.EC_KEY_ID]
