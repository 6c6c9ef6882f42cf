"""``hub simulate vpcp`` and ``hub simulate qlvb`` as a user starts them: a process serving the edXML
simulator its adapter YAML declares, printing where; ``hub keys dev-ca`` making keys for the ministries
the axis simulator plays, so their status packages go out signed."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import httpx
from support import LOOPBACK, ProcessGroup, free_port, hub_command, hub_env, wait_for_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "edxml-sim" / "config"
ENV = {"VPCP_SIM_API_KEY": "axis-cli-key", "QLVB_SIM_CALLER_KEY": "qlvb-cli-key", "QLVB_SIM_API_KEY": "x"}
EDOC = (
    b'<?xml version="1.0" encoding="UTF-8"?><edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
    b"<edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageHeader>"
    b"<edXML:From><edXML:OrganId>000.00.00.H49</edXML:OrganId></edXML:From>"
    b"<edXML:To><edXML:OrganId>000.00.00.G06</edXML:OrganId></edXML:To>"
    b"<edXML:DocumentId>000.00.00.H49,2026/11/20,7/UBND-VP</edXML:DocumentId>"
    b"</edXML:MessageHeader></edXML:edXMLHeader></edXML:edXMLEnvelope></edXML:edXML>"
)


def test_hub_simulate_vpcp_serves_the_axis_and_its_ministries_answer(tmp_path: Path) -> None:
    port = free_port()
    env = hub_env(database_url="sqlite:///:memory:", land_endpoint="http://127.0.0.1:9/unused", **ENV)
    store = tmp_path / "vpcp.db"
    args = ["simulate", "vpcp", "-c", str(FIXTURE), "--port", str(port), "--store", str(store)]
    with ProcessGroup(tmp_path / "logs") as group:
        process = group.start("simulate", args, env)
        wait_for_port(port, alive=process.alive)
        base = f"http://{LOOPBACK}:{port}/axis"
        headers = {"X-API-Key": "axis-cli-key", "from": "000.00.00.H49", "to": "000.00.00.G06"}
        headers |= {
            "servicetype": "eDoc",
            "messagetype": "edoc",
            "hash-file": hashlib.sha256(EDOC).hexdigest(),
        }
        with httpx.Client(timeout=5) as http:
            sent = http.post(f"{base}/sendEdoc", content=EDOC, headers=headers)
            assert sent.json()["status"] == "OK", sent.text
            listed = wait_until(
                lambda: (
                    got
                    if len(
                        got := http.post(
                            f"{base}/getReceivedEdocList",
                            headers={
                                "X-API-Key": "axis-cli-key",
                                "from": "000.00.00.H49",
                                "servicetype": "eDoc",
                            },
                        ).json()["data"]
                    )
                    == 4
                    else None
                ),
                timeout=10,
                what="the ministry's four status packages",
            )
        assert {m["from"] for m in listed} == {"000.00.00.G06"}
        output = process.output()
        assert f"simulating vpcp (edxml-axis) at http://127.0.0.1:{port}/axis" in output
        assert "plays 000.00.00.G09: answers 01, 03, 05, 06, refuses changes" in output
    assert store.is_file()


def test_hub_simulate_qlvb_says_where_its_answers_go(tmp_path: Path) -> None:
    port = free_port()
    env = hub_env(database_url="sqlite:///:memory:", land_endpoint="http://127.0.0.1:9/unused", **ENV)
    args = ["simulate", "qlvb", "-c", str(FIXTURE), "--port", str(port), "--store", ":memory:"]
    with ProcessGroup(tmp_path / "logs") as group:
        process = group.start("simulate", [*args, "--hub-url", "http://127.0.0.1:9"], env)
        wait_for_port(port, alive=process.alive)
        assert httpx.get(f"http://{LOOPBACK}:{port}/_sim/records", timeout=5).json() == []
        output = process.output()
    assert f"simulating qlvb (edxml-qlvb) at http://127.0.0.1:{port}/qlvb" in output
    assert "status packages to the hub's intake at http://127.0.0.1:9/api/v1/messages" in output


def test_hub_simulate_without_the_axis_key_says_which_variable(tmp_path: Path) -> None:
    env = hub_env(database_url="sqlite:///:memory:", land_endpoint="http://127.0.0.1:9/unused")
    env.pop("VPCP_SIM_API_KEY", None)
    done = subprocess.run(
        hub_command("simulate", "vpcp", "-c", str(FIXTURE), "--port", str(free_port())),
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "VPCP_SIM_API_KEY" in done.stdout + done.stderr


def test_dev_ca_makes_keys_for_the_ministries_the_axis_plays(tmp_path: Path) -> None:
    env = hub_env(database_url="sqlite:///:memory:", land_endpoint="http://127.0.0.1:9/unused")
    done = subprocess.run(
        hub_command("keys", "dev-ca", "-c", str(FIXTURE), "-o", str(tmp_path / "keys")),
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for agency in ("000.00.00.G06", "000.00.00.G09"):
        assert (tmp_path / "keys" / "agencies" / f"{agency}.pem").is_file()
        assert (tmp_path / "keys" / "agencies" / f"{agency}.key").is_file()
