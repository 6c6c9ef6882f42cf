"""Adding an adapter is data: docs/howto/add-an-adapter.md followed for a "fee" adapter, with no
Python, no package, no entry point and no reinstall.

tests/fixtures/fee-adapter/ holds what the how-to asks for (a YAML file with plugin: soap and a
simulator: section, the ministry's XSD, a mapping, the simulator's answer mapping) and nothing else.
The test copies it into a project directory of its own, checks it with the installed ``hub config
check``, serves the simulator the YAML declares (as ``hub simulate fee -c …`` does) and delivers a
declaration to it through the hub's REST API and workers, over real sockets on loopback.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, Project, RunningHub
from lxml import etree
from support import LOOPBACK, ProcessGroup, free_port, hub_env, wait_for_port

from lienthong.devtools.simulator import FaultPlan, SimulatorServer, simulator_spec
from lienthong.xml import parse_xml

FIXTURE = ROOT / "tests" / "fixtures" / "fee-adapter"
TAX_NS = "urn:example:thue:1"
DECLARATION = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ToKhai xmlns="urn:example:province:tokhai:1"><MaSoThue>5701234567</MaSoThue>'
    b"<NguoiNop>Nguy\xe1\xbb\x85n Th\xe1\xbb\x8b Lan</NguoiNop><GiaTri>2000000000</GiaTri></ToKhai>"
)


def fee_project(tmp_path: Path) -> Project:
    root = tmp_path / "fee-project"
    shutil.copytree(FIXTURE, root)
    return Project(root)


def test_the_fixture_is_data_only() -> None:
    """What the how-to says an adapter is: YAML, schemas and mappings; not a line of Python."""
    files = {p.relative_to(FIXTURE).as_posix() for p in FIXTURE.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith(".py")]
    assert "config/adapters/fee.yaml" in files


def test_hub_config_check_accepts_the_new_adapter(
    hub_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    project = fee_project(tmp_path)

    result = hub_cli("config", "check", "-c", project.config_dir, cwd=project.root)

    assert result.returncode == 0, result.stderr
    assert "1 adapter(s), 1 route(s)" in result.stdout


def test_hub_config_check_points_at_the_new_adapter_s_mistakes(
    hub_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    project = fee_project(tmp_path)
    fee = project.config_dir / "adapters" / "fee.yaml"
    text = fee.read_text(encoding="utf-8")
    text = text.replace("transport: soap12", "transport: soap13")
    text = text.replace("th:NopToKhai: mappings/fee/simulator/", "th:NopToKhai: mappings/fee/missing/")
    fee.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    transport_line = next(i for i, line in enumerate(lines, 1) if "transport: soap13" in line)
    operation_line = next(i for i, line in enumerate(lines, 1) if "mappings/fee/missing/" in line)

    result = hub_cli("config", "check", "-c", project.config_dir, cwd=project.root)

    assert result.returncode == 2
    errors = result.stderr.splitlines()
    transport = f"config/adapters/fee.yaml:{transport_line}:3 [options.transport]: "
    assert any(e.startswith(transport) for e in errors), result.stderr
    missing = (
        f"config/adapters/fee.yaml:{operation_line}:5 [simulator.operations.th:NopToKhai]: "
        "file not found: mappings/fee/missing/noptokhai-response.xsl"
    )
    assert missing in errors, result.stderr


def test_a_declaration_reaches_the_simulator_the_yaml_declares(
    hub_factory: Callable[..., RunningHub], tmp_path: Path
) -> None:
    project = fee_project(tmp_path)
    spec = simulator_spec(project.load(), "fee")
    with SimulatorServer(spec, FaultPlan(seed=1)) as simulator:
        project.update("adapters/fee.yaml", {"endpoint": simulator.url})
        hub = hub_factory(project)
        body: dict[str, Any] = {
            "message_id": "tokhai-0001",
            "kind": "document",
            "sender": "000.00.00.H49",
            "document_id": "TK-2026-0001",
            "document_type": "le-phi-truoc-ba",
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(DECLARATION).decode("ascii"),
        }

        accepted = hub.submit(body)
        assert accepted.status_code == 202, accepted.text
        view = hub.wait(accepted.json()["message_id"])

        assert view["route"]["rule"] == "fee-declaration"
        [delivery] = view["deliveries"]
        assert delivery["target"] == "fee" and delivery["state"] == "delivered"
        assert simulator.stats()["unique"] == 1
        [stored] = hub.hub.store.get_message(uuid.UUID(view["message_id"])).deliveries
        request = parse_xml(stored.payload)
        assert request.tag == f"{{{TAX_NS}}}NopToKhai"
        assert request.findtext(f"{{{TAX_NS}}}LePhi") == "10000000"
        assert request.findtext(f"{{{TAX_NS}}}TenNguoiNop") == "Nguyễn Thị Lan"
        answer = parse_xml(stored.response or b"")
        case = answer.findtext(f".//{{{TAX_NS}}}MaHoSoThue")
        assert case == "THUE-5701234567-1", etree.tostring(answer)


def test_hub_simulate_serves_the_simulator_from_the_yaml(
    hub_factory: Callable[..., RunningHub], tmp_path: Path
) -> None:
    """``hub simulate fee -c DIR``: the stand-in a user starts by hand, read from the adapter file."""
    project = fee_project(tmp_path)
    port = free_port()
    env = hub_env(database_url="sqlite:///:memory:", land_endpoint="http://127.0.0.1:9/unused")
    with ProcessGroup(tmp_path / "logs") as group:
        process = group.start(
            "simulate", ["simulate", "fee", "-c", str(project.config_dir), "--port", str(port)], env
        )
        wait_for_port(port, alive=process.alive)
        url = f"http://{LOOPBACK}:{port}"
        project.update("adapters/fee.yaml", {"endpoint": f"{url}/soap/fee"})
        hub = hub_factory(project)
        body: dict[str, Any] = {
            "message_id": "tokhai-0002",
            "kind": "document",
            "sender": "000.00.00.H49",
            "document_id": "TK-2026-0002",
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(DECLARATION).decode("ascii"),
        }

        accepted = hub.submit(body)
        assert accepted.status_code == 202, accepted.text
        hub.wait(accepted.json()["message_id"])

        with httpx.Client(base_url=url, timeout=5) as client:
            assert client.get("/_sim/stats").json()["unique"] == 1
        assert "simulating fee at" in process.output()
