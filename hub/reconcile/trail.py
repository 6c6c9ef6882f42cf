"""The reconciliation's part of ``hub trail``: what each run found about the dossier and how it was
healed, below its messages (a healing message itself is on the trail like any other, header
``reconcile``; a re-sent delivery shows its extra attempt there)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from lienthong.reconcile.log import ReconcileLog

__all__ = ["findings_table"]


def findings_table(store: Any, dossier_code: str) -> Table | None:
    """The findings about ``dossier_code``, oldest first; None when there are none (or no SQL store)."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return None
    findings = ReconcileLog(engine).findings(dossier_code=dossier_code)
    if not findings:
        return None
    table = Table(title=f"Đối soát / reconciliation — {dossier_code}")
    for column in ("at (UTC)", "run", "adapter", "kind / loại", "outcome", "cause / nguyên nhân", "healing"):
        table.add_column(column, overflow="fold")
    for f in findings:
        healing = (
            f"message {f.healing_message_id}"
            if f.healing_message_id
            else f"delivery {f.delivery_id} re-sent"
            if f.delivery_id and f.outcome == "healed"
            else ""
        )
        table.add_row(
            f.at.strftime("%Y-%m-%d %H:%M:%S"),
            str(f.run_id),
            f.adapter,
            f.kind,
            f.outcome,
            escape(f.cause),
            healing,
        )
    return table
