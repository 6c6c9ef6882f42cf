"""The land adapter with its declarative mapping (mappings/land/hoso-to-tiepnhanhoso.yaml) instead of
the XSLT: over real HTTP the registry simulator receives the same body bytes, and ``hub config check``
points a mistake in the mapping at the mapping file's own line."""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from conftest import Project, RunningHub, Simulator

from lienthong.devtools.samples import sample_dossiers
from lienthong.pipeline.prepare import AdapterStages
from lienthong.pipeline.yaml_mapping import YamlMapping
from lienthong.soap import request_hash

YAML_MAPPING = "mappings/land/hoso-to-tiepnhanhoso.yaml"


def submit(hub: RunningHub, xml: bytes, dossier_code: str) -> str:
    accepted = hub.submit(
        {
            "sender_message_id": f"motcua-{uuid.uuid4()}",
            "kind": "dossier",
            "sender": "000.00.00.H49",
            "procedure_code": "1.004227",
            "dossier_code": dossier_code,
            "content_type": "application/xml",
            "payload_base64": base64.b64encode(xml).decode("ascii"),
        }
    )
    assert accepted.status_code == 202, accepted.text
    message_id: str = accepted.json()["message_id"]
    hub.wait(message_id)
    return message_id


def test_the_registry_receives_the_same_bytes_from_the_yaml_mapping(
    hub_factory: Callable[..., RunningHub], land_sim: Simulator
) -> None:
    xslt_hub = hub_factory()
    yaml_hub = hub_factory(land={"operations": {"TiepNhanHoSo": {"mapping": YAML_MAPPING}}})
    stages = yaml_hub.hub.intake.preparations["land"]
    assert isinstance(stages, AdapterStages)
    assert stages.operations[0].operation == "TiepNhanHoSo", "operations are tried in the order written"
    assert isinstance(stages.operations[0].mapper, YamlMapping)
    for sample in sample_dossiers(3):
        sent: list[bytes] = []
        for hub in (xslt_hub, yaml_hub):
            message_id = submit(hub, sample.xml, sample.dossier_code)
            [stored] = hub.hub.store.get_message(uuid.UUID(message_id)).deliveries
            request = stored.history[-1].request
            assert request is not None
            assert land_sim.request_hash(message_id) == request_hash(request), "the registry got other bytes"
            body = stored.payload.split(b"?>", 1)[1].strip()
            assert body in request
            sent.append(stored.payload)
        assert sent[0] == sent[1]


def test_config_check_points_at_the_mapping_file(
    hub_cli: Callable[..., subprocess.CompletedProcess[str]], pristine_project: Project
) -> None:
    project = pristine_project
    mapping = project.root / "mappings" / "yaml" / "land.yaml"
    mapping.parent.mkdir(parents=True)
    text = (Path(project.root) / YAML_MAPPING).read_text(encoding="utf-8")
    text = text.replace("HoTen: h:ChuHoSo", "HoTen: h:ChuHoSoo").replace("SoGiayTo: h:", "SoGiayTX: h:")
    mapping.write_text(text, encoding="utf-8")
    project.update(
        "adapters/land.yaml", {"operations": {"TiepNhanHoSo": {"mapping": "mappings/yaml/land.yaml"}}}
    )
    lines = text.splitlines()
    hoten = next(i for i, line in enumerate(lines, 1) if "HoTen: h:ChuHoSoo" in line)
    sogiayto = next(i for i, line in enumerate(lines, 1) if "SoGiayTX" in line)

    result = hub_cli("config", "check", "-c", project.config_dir, cwd=project.root)

    assert result.returncode == 2, result.stdout
    errors = result.stderr.splitlines()
    assert any(
        e.startswith(f"mappings/yaml/land.yaml:{hoten}:7 [fields.ThongTinNguoiNopDon.fields.HoTen.path]: ")
        and "unknown source path 'h:ChuHoSoo'" in e
        and "did you mean ChuHoSo?" in e
        for e in errors
    ), result.stderr
    assert any(
        e.startswith(f"mappings/yaml/land.yaml:{sogiayto}:7 [fields.ThongTinNguoiNopDon.fields.SoGiayTX]: ")
        and "unknown target field: SoGiayTX is not declared in ThongTinNguoiNopDon" in e
        for e in errors
    ), result.stderr
