"""The notice maker on SQLite and PostgreSQL, without a network: status reports submitted through
intake as the SOAP gateway does, one round of the maker at a time. One notice per channel and status,
whichever round, maker or repeat of the report; the lease kept while another process holds it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from project_support import ROOT, AdapterSource, assemble_project
from ruamel.yaml import YAML
from sqlalchemy import select

from lienthong.compose import Hub, build_hub
from lienthong.config.files import load_configuration
from lienthong.envelope import MessageKind, new_envelope
from lienthong.notify.maker import NoticeMaker
from lienthong.notify.notice import Notice
from lienthong.store.migrate import upgrade
from lienthong.store.schema import deliveries, delivery_payloads, messages
from lienthong.store.sql import SqlStore, create_store_engine

CODE = "000.00.00.H49-261121-0001"
DD = "urn:lienthong:tnmt:dangkydatdai:1"
TB = "urn:lienthong:notice:1"
DOSSIER = ROOT / "adapters" / "land" / "cases" / "transfer-basic" / "input.xml"
ROUTES: list[dict[str, Any]] = [
    {
        "name": "land-status",
        "match": {
            "kind": "status",
            "sender": "000.00.00.G13",
            "xpath": "boolean(/dd:CapNhatTrangThaiHoSo)",
            "namespaces": {"dd": DD},
        },
        "targets": ["motcua"],
    },
    *[
        {
            "name": f"notice-{channel}",
            "match": {
                "kind": "status",
                "sender": "000.00.00.H49",
                "xpath": f"boolean(/tb:ThongBaoCongDan[tb:Kenh = '{channel}'])",
                "namespaces": {"tb": TB},
            },
            "targets": [channel],
        }
        for channel in ("email", "sms")
    ],
]
TEMPLATES = {
    "4": {
        "subject": "Hồ sơ {{ ma_ho_so }}: {{ ten_trang_thai }}",
        "email": "Kính gửi {{ chu_ho_so }}",
        "sms": "Ho so {{ ma_ho_so }}",
    },
    "5": {
        "subject": "Hồ sơ {{ ma_ho_so }} cần bổ sung",
        "email": "{{ khong_co }}",
    },  # names nothing the hub gives
}


@pytest.fixture(params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    adapters = tuple(AdapterSource(name, ROOT) for name in ("motcua", "email", "sms"))
    config_dir = assemble_project(tmp_path / "project", adapters=adapters, routes=ROUTES)
    yaml = YAML()
    hub_yaml = yaml.load((config_dir / "hub.yaml").read_text(encoding="utf-8"))
    hub_yaml["notify"] = {"enabled": True, "interval": "1s", "templates": TEMPLATES}
    with (config_dir / "hub.yaml").open("w", encoding="utf-8") as f:
        yaml.dump(hub_yaml, f)
    engine = create_store_engine(url)
    upgrade(engine)
    built = build_hub(load_configuration(config_dir, environ={}), store=SqlStore(engine))
    yield built
    built.close()


def maker(hub: Hub) -> NoticeMaker:
    [found] = [job for job in hub.pollers.pollers if isinstance(job, NoticeMaker)]
    return found


def submit_dossier(hub: Hub) -> None:
    hub.intake.submit(
        new_envelope(
            kind=MessageKind.DOSSIER,
            sender="000.00.00.H49",
            sender_message_id=f"motcua-{CODE}",
            payload=DOSSIER.read_bytes(),
            content_type="application/xml",
            procedure_code="1.004227",
            dossier_code=CODE,
        )
    )


def report(hub: Hub, status: str, message_id: str) -> uuid.UUID:
    body = (
        f'<dd:CapNhatTrangThaiHoSo xmlns:dd="{DD}"><dd:MaHoSoMotCua>{CODE}</dd:MaHoSoMotCua>'
        f"<dd:MaHoSoDatDai>DD-2026-000123</dd:MaHoSoDatDai><dd:TrangThai>{status}</dd:TrangThai>"
        "<dd:ThoiGian>2026-11-23T14:05:09+07:00</dd:ThoiGian><dd:NoiDung>Đang thẩm định</dd:NoiDung>"
        "</dd:CapNhatTrangThaiHoSo>"
    ).encode()
    accepted = hub.intake.submit(
        new_envelope(
            kind=MessageKind.STATUS,
            sender="000.00.00.G13",
            sender_message_id=message_id,
            payload=body,
            content_type="application/xml",
            dossier_code=CODE,
        )
    )
    return accepted.message_id


def notices(hub: Hub) -> list[tuple[str, Notice | bytes]]:
    """(target, notice) for every notice delivery the store holds."""
    assert isinstance(hub.store, SqlStore)
    query = (
        select(deliveries.c.target, delivery_payloads.c.payload, messages.c.kind)
        .join(delivery_payloads, delivery_payloads.c.delivery_id == deliveries.c.id)
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(deliveries.c.target.in_(["email", "sms"]))
        .order_by(deliveries.c.id)
    )
    with hub.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    found: list[tuple[str, Notice | bytes]] = []
    for target, payload, kind in rows:
        assert kind == "status"
        # the email adapter sends the notice as stored; the SMS adapter's bytes are the gateway's JSON
        found.append((target, Notice.from_xml(bytes(payload)) if target == "email" else bytes(payload)))
    return found


def test_one_notice_per_channel_and_status_whatever_repeats(hub: Hub) -> None:
    submit_dossier(hub)
    report(hub, "4", "dkdd-1")
    job = maker(hub)
    assert job.run() == ["sent"]  # a round under the lease
    assert job.round() == []  # examined once (round: the same work, without waiting for the interval)
    made = notices(hub)
    assert [target for target, _ in made] == ["email", "sms"]
    email = made[0][1]
    assert isinstance(email, Notice)
    assert (email.recipient, email.subject, email.text) == (
        "nguyenthihuong88@gmail.com",
        f"Hồ sơ {CODE}: Đang xử lý",
        "Kính gửi Nguyễn Thị Hương",
    )
    sms = made[1][1]
    assert isinstance(sms, bytes) and b'"Phone":"0912345678"' in sms.replace(b" ", b"")

    # The same status reported again, by a new message: examined, nothing sent.
    report(hub, "4", "dkdd-2")
    assert job.round() == ["repeat"]
    # A status without a template sends nothing; a template naming a field the hub lacks is refused.
    report(hub, "6", "dkdd-3")
    report(hub, "5", "dkdd-4")
    assert job.round() == ["no-template", "refused"]
    assert len(notices(hub)) == 2
    # A round forgotten (its checks lost) submits again and intake answers with the first notices.
    assert isinstance(hub.store, SqlStore)
    with hub.store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM notice_checks")
    assert job.round() == ["repeat", "repeat", "no-template", "refused"]
    assert len(notices(hub)) == 2


def test_the_maker_waits_while_another_process_holds_the_lease(hub: Hub) -> None:
    submit_dossier(hub)
    report(hub, "4", "dkdd-1")
    assert hub.store.start_poll("notify", "another-process", timedelta(minutes=1), timedelta(seconds=1))
    job = maker(hub)
    assert job.run() == []
    hub.store.end_poll("notify", "another-process")
    assert job.run() == []  # given back, but not due before its interval has passed
    assert notices(hub) == []
