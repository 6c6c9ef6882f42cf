"""Reconciliation's classification, rule by rule (lienthong.reconcile.compare), on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lienthong.config.models import ReconcileConfig
from lienthong.reconcile.compare import HubDelivery, HubView, classify, classify_axis
from lienthong.reconcile.records import HeldRecord

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=1)
STATUSES = {"processing": "4", "certificate-issued": "10", "supplement-requested": "5"}


def held(
    message_id: str, key: str, status: str = "processing", sequence: int = 1, operation: str = "TiepNhanHoSo"
) -> HeldRecord:
    return HeldRecord(message_id, operation, key, status, sequence, EARLIER, EARLIER)


def sent(message_id: str, code: str, state: str = "delivered", delivery_id: int = 1) -> HubDelivery:
    return HubDelivery(delivery_id, message_id, code, "1.004227", "TiepNhanHoSo", state, EARLIER)


def run(
    records: list[HeldRecord], hub: HubView, *, push: bool = True, fetch: bool = False
) -> list[tuple[str, str | None, str]]:
    found = classify(
        records,
        hub,
        statuses=STATUSES,
        final={"certificate-issued"},
        settled=NOW,
        can_push=push,
        can_fetch=fetch,
    )
    return [(f.kind, f.dossier_code, f.action) for f in found]


def test_nothing_differs_when_the_system_holds_what_was_sent_and_the_one_stop_knows_its_status() -> None:
    assert run([held("m1", "A")], HubView([sent("m1", "A")], one_stop={"A": "4"})) == []


def test_a_delivered_message_the_system_does_not_hold_is_sent_again() -> None:
    assert run([], HubView([sent("m1", "A")])) == [("missing-at-ministry", "A", "resend")]


def test_deliveries_still_under_way_or_dead_are_not_differences() -> None:
    hub = HubView([sent("m1", "A", "queued"), sent("m2", "B", "failed", 2), sent("m3", "C", "dead", 3)])
    assert run([], hub) == []


def test_what_the_hub_never_sent_is_reported_as_missing_at_the_hub() -> None:
    assert run([held("theirs", "Z")], HubView([])) == [("missing-at-hub", "Z", "none")]


def test_a_second_case_for_one_dossier_is_a_duplicate_reported_never_healed() -> None:
    records = [held("m1", "A", sequence=1), held("theirs", "A", sequence=2)]
    found = classify(
        records, HubView([sent("m1", "A")], one_stop={"A": "4"}), statuses=STATUSES, final=(), settled=NOW,
        can_push=True, can_fetch=False,
    )  # fmt: skip
    assert [(f.kind, f.message_id, f.action) for f in found] == [("duplicate-at-ministry", "theirs", "none")]


def test_a_status_the_one_stop_system_was_not_told_is_pushed_or_reported() -> None:
    hub = HubView([sent("m1", "A")], one_stop={})
    assert run([held("m1", "A")], hub) == [("status-diverged", "A", "push-status")]
    assert run([held("m1", "A")], hub, push=False) == [("status-diverged", "A", "none")]
    changed = run([held("m1", "A", "supplement-requested")], HubView([sent("m1", "A")], one_stop={"A": "4"}))
    assert changed == [("status-diverged", "A", "push-status")]


def test_a_status_on_its_way_to_the_one_stop_system_or_not_mapped_is_not_judged() -> None:
    assert run([held("m1", "A")], HubView([sent("m1", "A")], one_stop_pending={"A"})) == []
    assert run([held("m1", "A", "received")], HubView([sent("m1", "A")])) == []


def test_a_final_case_with_no_result_at_the_hub_is_fetched_when_a_poll_can() -> None:
    records = [held("m1", "A", "certificate-issued")]
    hub = HubView([sent("m1", "A")], one_stop={"A": "10"})
    assert run(records, hub) == [("result-never-returned", "A", "none")]
    assert run(records, hub, fetch=True) == [("result-never-returned", "A", "fetch-result")]
    assert run(records, HubView([sent("m1", "A")], results={"A"}, one_stop={"A": "10"})) == []


def test_records_changed_after_the_settle_time_wait_for_the_next_run() -> None:
    fresh = HeldRecord("m1", "TiepNhanHoSo", "A", "processing", 1, EARLIER, NOW + timedelta(seconds=1))
    assert run([fresh], HubView([sent("m1", "A")])) == []


def test_the_same_difference_found_again_has_the_same_fingerprint() -> None:
    def fingerprints() -> list[str]:
        found = classify(
            [held("m1", "A", "supplement-requested")], HubView([sent("m1", "A")], one_stop={"A": "4"}),
            statuses=STATUSES, final=(), settled=NOW, can_push=True, can_fetch=False,
        )  # fmt: skip
        return [f.fingerprint for f in found]

    assert fingerprints() == fingerprints() and len(fingerprints()) == 1


def test_the_axis_lists_what_the_hub_never_received() -> None:
    records = [held("doc-1", "", "pending"), held("doc-2", "", "pending")]
    found = classify_axis(records, {"doc-2"}, settled=NOW, can_receive=True)
    assert [(f.kind, f.message_id, f.action) for f in found] == [("missing-at-hub", "doc-1", "receive")]


def test_a_reconcile_section_takes_an_interval_or_a_cron_not_both() -> None:
    listing = {"protocol": "soap", "element": "dd:TraCuuHoSo"}
    assert ReconcileConfig.model_validate({"cron": "30 1 * * *", "list": listing}).cron == "30 1 * * *"
    with pytest.raises(ValueError, match="not both"):
        ReconcileConfig.model_validate({"interval": "1h", "cron": "30 1 * * *", "list": listing})
    with pytest.raises(ValueError, match="cron"):
        ReconcileConfig.model_validate({"cron": "every day", "list": listing})
    with pytest.raises(ValueError, match="element"):
        ReconcileConfig.model_validate({"interval": "1h", "list": {"protocol": "soap"}})
