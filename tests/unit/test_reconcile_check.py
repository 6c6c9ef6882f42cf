"""``hub config check`` on a ``reconcile:`` section: each mistake named at its YAML line."""

from __future__ import annotations

from pathlib import Path

from lienthong.config.files import load_configuration
from lienthong.reconcile.check import check_reconcile

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_reconcile_sections_check_out() -> None:
    assert check_reconcile(load_configuration(ROOT / "config", environ={})) == []


def test_every_mistake_is_named_at_its_key() -> None:
    config = load_configuration(ROOT / "config", environ={})
    land = config.adapters["land"]
    assert land.reconcile is not None and land.reconcile.push_status is not None
    push = land.reconcile.push_status.model_copy(update={"operation": "Q", "body": Path("mappings/none.xsl")})
    wrong = land.reconcile.model_copy(
        update={"fetch_result": "Nope", "statuses": {"x": "11"}, "operations": ["Zzz"], "push_status": push}
    )
    broken = config.model_copy(
        update={"adapters": {**config.adapters, "land": land.model_copy(update={"reconcile": wrong})}}
    )
    found = {(i.file, i.key): i.message for i in check_reconcile(broken)}
    assert set(found) == {
        ("config/adapters/land.yaml", key)
        for key in (
            "reconcile.statuses.x",
            "reconcile.fetch_result",
            "reconcile.operations.0",
            "reconcile.push_status.operation",
            "reconcile.push_status.body",
        )
    }
    assert "no poll 'Nope'" in found[("config/adapters/land.yaml", "reconcile.fetch_result")]
    assert "No such file" in found[("config/adapters/land.yaml", "reconcile.push_status.body")]
