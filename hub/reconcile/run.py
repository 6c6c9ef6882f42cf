"""One reconciliation run of one adapter, and the scheduled job that runs it once per tick across
hub processes (a lease row in ``poll_state``, like the polls and the axis's receiving).

A run: list what the system holds in the window, read the hub's deliveries and results and what the
one-stop system was told, classify (:mod:`.compare`), then for each difference not found before heal
it through the hub's own paths — the outbox (re-send, same message id), intake (the system's status
pushed on, routed to the one-stop system and the portal), a poll (the missing result fetched) — or
report it. Every finding is a row with its cause and the healing done, shown by ``hub trail``."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from lxml import etree

from lienthong.config.models import AdapterConfig, Configuration, ReconcileConfig
from lienthong.envelope import MessageKind, new_envelope, utcnow
from lienthong.errors import HubError, IdempotencyConflictError
from lienthong.reconcile.compare import Finding, HubView, classify, classify_axis
from lienthong.reconcile.log import ReconcileLog
from lienthong.reconcile.records import VN, HeldRecord, list_held
from lienthong.store import AwaitingDossier, Store, lease_held
from lienthong.xml import parse_trusted_file, parse_xml, serialize

__all__ = [
    "Reconciler",
    "RunReport",
    "ScheduledReconciliation",
    "build_reconcilers",
    "scheduled_reconciliations",
]

log = logging.getLogger("lienthong.reconcile")
#: The header a healing message carries: which adapter's reconciliation made it.
RECONCILE_HEADER: Final = "reconcile"
_DENY_ALL: Final[etree.XSLTAccessControl] = etree.XSLTAccessControl.DENY_ALL  # type: ignore[attr-defined]
_EARLY: Final = timedelta(seconds=1)


@dataclass(frozen=True)
class Outcome:
    finding: Finding
    new: bool
    outcome: str  # healed | reported | known | would-heal | failed
    cause: str
    healing_message_id: uuid.UUID | None = None


@dataclass
class RunReport:
    run_id: int
    adapter: str
    dry_run: bool
    held: int = 0
    compared: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def new(self) -> int:
        return sum(1 for o in self.outcomes if o.new)


class Reconciler:
    """Reconciles one adapter. Built from a hub's parts; the CLI, the API and the schedule share it."""

    def __init__(
        self,
        config: Configuration,
        adapter: AdapterConfig,
        log_: ReconcileLog,
        *,
        submit: Callable[..., Any],
        wake: Callable[[], None],
        pollers: Mapping[str, Any],
        inbound: Any,
        owner: str,
    ) -> None:
        assert adapter.reconcile is not None
        self.config = config
        self.adapter = adapter
        self.spec: ReconcileConfig = adapter.reconcile
        self.log = log_
        self.submit = submit
        self.wake = wake
        self.owner = owner
        self.name = adapter.name
        self.inbound = inbound
        self.poller = (
            pollers.get(f"{adapter.name}/{self.spec.fetch_result}") if self.spec.fetch_result else None
        )
        self.receiver = pollers.get(f"{adapter.name}/axis-receive")
        self.push = None
        if self.spec.push_status is not None and inbound is not None:
            self.push = etree.XSLT(
                parse_trusted_file(str(config.resolve(self.spec.push_status.body))), access_control=_DENY_ALL
            )
        self.namespaces = {**adapter.namespaces, **self.spec.namespaces}

    # ------------------------------------------------------------ one run

    def run(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        dry_run: bool = False,
        trigger: str = "cli",
        progress: Callable[[str, int, int], None] | None = None,
    ) -> RunReport:
        """Compare, classify, heal (unless ``dry_run``) and record. Raises nothing for a system that
        does not answer: the run is recorded as failed with the reason."""
        until = until or utcnow()
        step = progress or (lambda what, done, total: None)
        run_id = self.log.start_run(self.name, trigger, self.owner, dry_run, since, until)
        report = RunReport(run_id, self.name, dry_run)
        try:
            step("list", 0, 1)
            held = self._list(since, until)
            report.held = len(held)
            step("list", 1, 1)
            settled = utcnow() - self.spec.settle
            if self.spec.list_.protocol == "axis":
                received = self.log.axis_received([r.message_id for r in held])
                report.compared = len(received)
                hub = HubView(())
                findings = classify_axis(
                    held, received, settled=settled, can_receive=self.receiver is not None
                )
            else:
                hub = self._hub_view(since, until)
                report.compared = len(hub.deliveries)
                findings = classify(
                    held,
                    hub,
                    statuses=self.spec.statuses,
                    final=self.spec.final,
                    settled=settled,
                    can_push=self.push is not None,
                    can_fetch=self.poller is not None,
                )
            seen = self.log.seen(self.name, [f.fingerprint for f in findings])
            cases = _cases(held)
            for done, finding in enumerate(findings):
                step("heal", done, len(findings))
                outcome = self._settle(finding, seen, dry_run, cases, hub)
                report.outcomes.append(outcome)
                self.log.add_finding(
                    run_id,
                    self.name,
                    finding,
                    new=outcome.new,
                    outcome=outcome.outcome,
                    cause=outcome.cause,
                    healing_message_id=outcome.healing_message_id,
                )
            step("heal", len(findings), len(findings))
            if any(o.outcome == "healed" for o in report.outcomes):
                self.wake()
            state = "done"
        except HubError as exc:
            report.error, state = exc.message, "failed"
            log.warning("reconcile %s: %s", self.name, exc.message)
        self.log.finish_run(
            run_id,
            state=state,
            held=report.held,
            compared=report.compared,
            found=len(report.outcomes),
            new=report.new,
            healed=report.count("healed"),
            reported=report.count("reported"),
            error=report.error,
        )
        log.info(
            "reconcile %s run %d: %d held, %d compared, %d differences (%d new): %d healed, %d reported%s",
            self.name,
            run_id,
            report.held,
            report.compared,
            len(report.outcomes),
            report.new,
            report.count("healed"),
            report.count("reported"),
            f", failed: {report.error}" if report.error else "",
        )
        return report

    def _list(self, since: datetime, until: datetime) -> list[HeldRecord]:
        endpoint = self.spec.list_.endpoint or self.adapter.endpoint or ""
        return list_held(
            self.spec.list_,
            endpoint,
            self.namespaces,
            since,
            until,
            timeout=self.adapter.timeout.total_seconds(),
            agency=self.config.hub.hub.agency,
        )

    def _hub_view(self, since: datetime, until: datetime) -> HubView:
        deliveries = self.log.deliveries(self.name, since, until, self.spec.operations)
        codes = {d.dossier_code for d in deliveries if d.dossier_code}
        results = self.log.results(self.adapter.agency, self.spec.result_kind, codes)
        held_one_stop: set[str] | None = None
        if self.spec.one_stop is not None:
            spec = self.spec.one_stop
            records = list_held(
                spec,
                spec.endpoint or "",
                self.namespaces,
                since - self.spec.window,
                utcnow() + timedelta(minutes=1),
                timeout=self.adapter.timeout.total_seconds(),
            )
            held_one_stop = {r.message_id for r in records}
        told, pending = self.log.one_stop(
            self.spec.one_stop_adapter, self.adapter.agency, codes, held_one_stop
        )
        return HubView(deliveries, results, told, pending)

    def _settle(
        self,
        finding: Finding,
        seen: Mapping[str, str],
        dry_run: bool,
        cases: Mapping[str, HeldRecord],
        hub: HubView,
    ) -> Outcome:
        new = finding.fingerprint not in seen
        if dry_run:
            return Outcome(
                finding, new, "would-heal" if finding.action != "none" else "reported", finding.cause
            )
        if not new:
            return Outcome(
                finding, False, "known", f"{finding.cause} (found before: {seen[finding.fingerprint]})"
            )
        if finding.action == "none":
            return Outcome(finding, True, "reported", finding.cause)
        try:
            if finding.action == "resend":
                assert finding.delivery is not None
                reason = f"reconcile: {finding.cause}; sent again with the same message id"
                if not self.log.resend(finding.delivery.delivery_id, reason):
                    return Outcome(
                        finding, True, "reported", f"{finding.cause}; the delivery changed meanwhile"
                    )
                return Outcome(
                    finding, True, "healed", f"{finding.cause}; sent again with the same message id"
                )
            if finding.action == "push-status":
                message_id = self._push_status(finding, cases)
                return Outcome(
                    finding,
                    True,
                    "healed",
                    f"{finding.cause}; TrangThaiHoSo {finding.hub_status} pushed through the routes",
                    message_id,
                )
            if finding.action == "receive":
                return self._receive(finding)
            return self._fetch(finding, hub)
        except HubError as exc:
            log.warning("reconcile %s: healing %s failed: %s", self.name, finding.kind, exc.message)
            return Outcome(finding, True, "failed", f"{finding.cause}; healing failed: {exc.message}")

    def _push_status(self, finding: Finding, cases: Mapping[str, HeldRecord]) -> uuid.UUID:
        """The system's status as a message from its agency, through intake (routes → one-stop, portal)."""
        assert self.push is not None and self.spec.push_status is not None and finding.dossier_code
        code = finding.dossier_code
        payload = self.log.case_payload(self.name, code)
        if payload is None:
            raise HubError(
                f"the hub holds no delivery of dossier {code} to {self.name} to build the status from"
            )
        record = cases[code]
        case = cases.get(f"first:{code}", record)
        params = {
            "key": code,
            "status": record.status,
            "code": finding.hub_status or "",
            "now": record.updated_at.astimezone(VN).isoformat(timespec="seconds"),
            "case_sequence": str(case.sequence),
            "case_received_at": case.received_at.astimezone(VN).isoformat(timespec="seconds"),
        }
        source = parse_xml(payload, what="delivered case")
        values = {k: etree.XSLT.strparam(v) for k, v in params.items()}
        result = self.push(etree.ElementTree(copy.deepcopy(source)), **values).getroot()  # type: ignore[arg-type]
        if result is None:
            raise HubError(f"{self.spec.push_status.body} produced nothing for dossier {code}")
        operation = self.inbound.operations.get(self.spec.push_status.operation)
        if operation is None:
            raise HubError(f"{self.name} has no inbound operation {self.spec.push_status.operation}")
        self.inbound.validator.validate(result, what="status pushed by reconciliation")
        body = serialize(result)
        envelope = new_envelope(
            kind=MessageKind(operation.kind),
            sender=self.adapter.agency,
            sender_message_id=f"reconcile:{self.name}:{code}:{record.status}:{params['now']}",
            payload=body,
            content_type="application/xml",
            recipient=operation.recipient or self.config.hub.hub.agency,
            dossier_code=code,
            causation_id=_uuid(finding.message_id),
            headers={RECONCILE_HEADER: self.name},
        )
        try:
            accepted = self.submit(envelope, tree=result)
        except IdempotencyConflictError as exc:
            raise HubError(
                f"a different status was pushed for the same change before: {exc.message}"
            ) from exc
        return uuid.UUID(str(accepted.message_id))

    def _receive(self, finding: Finding) -> Outcome:
        """A receiving round of the adapter (under its own lease), then: is the message the hub's now?"""
        assert self.receiver is not None and finding.message_id
        self.receiver.run()
        if self.log.axis_received([finding.message_id]):
            return Outcome(finding, True, "healed", f"{finding.cause}; received by {self.receiver.name}")
        return Outcome(finding, True, "reported", f"{finding.cause}; a receiving round did not take it")

    def _fetch(self, finding: Finding, hub: HubView) -> Outcome:
        """The missing result fetched by the adapter's poll, for this dossier alone."""
        assert self.poller is not None and finding.dossier_code
        delivery = next(d for d in hub.deliveries if d.dossier_code == finding.dossier_code)
        dossier = AwaitingDossier(
            finding.dossier_code,
            delivery.procedure_code,
            uuid.UUID(delivery.message_id),
            delivery.delivered_at or utcnow(),
        )
        group = (delivery.procedure_code or "") if self.poller.config.group_by == "procedure_code" else ""
        result = self.poller.poll_group(f"{self.poller.name}/reconcile", group, [dossier])
        if result.error or not (result.new or result.repeats):
            why = result.error or "the system has no result ready for it"
            return Outcome(finding, True, "reported", f"{finding.cause}; fetching it failed: {why}")
        return Outcome(finding, True, "healed", f"{finding.cause}; fetched by the poll {self.poller.name}")


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _cases(held: Sequence[HeldRecord]) -> dict[str, HeldRecord]:
    """Per dossier its latest record, and under ``first:<code>`` its first (the case's number)."""
    cases: dict[str, HeldRecord] = {}
    for record in sorted(held, key=lambda r: r.sequence):
        if record.key:
            cases.setdefault(f"first:{record.key}", record)
            cases[record.key] = record
    return cases


class ScheduledReconciliation:
    """The schedule's job for one adapter: a run over the last ``window`` whenever this process takes
    the lease (``poll_state`` key ``<adapter>/reconcile``): once per tick across processes, and a dead
    process's run taken over once its lease has run out."""

    def __init__(self, reconciler: Reconciler, store: Store) -> None:
        self.reconciler = reconciler
        self.store = store
        spec = reconciler.spec
        self.name = f"{reconciler.name}/reconcile"
        self.interval = spec.interval or timedelta(hours=1)
        self.trigger: Any = None
        if spec.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            self.trigger = CronTrigger.from_crontab(spec.cron, timezone="Asia/Ho_Chi_Minh")

    def first_run(self, now: datetime) -> datetime:
        """Not at start: a restarted hub waits for the first tick (the lease row spaces the rest)."""
        return now + self.next_due(now) + _EARLY

    def next_due(self, now: datetime) -> timedelta:
        if self.trigger is None:
            return self.interval - min(self.interval / 10, _EARLY)
        upcoming = self.trigger.get_next_fire_time(None, now)
        return max(timedelta(0), upcoming - now - _EARLY) if upcoming else self.interval

    def run(self) -> list[RunReport]:
        """One tick: a run if this process gets the lease. Never raises (it runs on a timer)."""
        try:
            now = datetime.now(UTC)
            lease = self.reconciler.spec.lease
            with lease_held(self.store, self.name, self.reconciler.owner, lease, self.next_due(now)) as held:
                if not held:
                    return []
                if abandoned := self.reconciler.log.abandon(self.reconciler.name, self.reconciler.owner):
                    log.warning(
                        "reconcile %s: %d run(s) of a stopped process taken over", self.name, abandoned
                    )
                report = self.reconciler.run(now - self.reconciler.spec.window, now, trigger="schedule")
            return [report]
        except Exception:  # a bug must not stop the schedule; the next tick tries again
            log.exception("reconcile %s failed", self.name)
            return []

    def close(self) -> None:
        return None


def build_reconcilers(
    config: Configuration,
    store: Store,
    *,
    submit: Callable[..., Any],
    wake: Callable[[], None],
    pollers: Sequence[Any],
    inbound: Mapping[str, Any],
    owner: str,
) -> dict[str, Reconciler]:
    """A reconciler per adapter with a ``reconcile:`` section; none on a store without SQL."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return {}
    by_name = {getattr(p, "name", ""): p for p in pollers}
    reconcile_log = ReconcileLog(engine)
    return {
        name: Reconciler(
            config,
            adapter,
            reconcile_log,
            submit=submit,
            wake=wake,
            pollers=by_name,
            inbound=inbound.get(name),
            owner=owner,
        )
        for name, adapter in config.adapters.items()
        if adapter.reconcile is not None
    }


def scheduled_reconciliations(
    config: Configuration,
    store: Store,
    intake: Any,
    workers: Any,
    pollers: Any,
    inbound: Mapping[str, Any],
    owner: str,
) -> list[ScheduledReconciliation]:
    """The scheduled jobs: one per adapter whose ``reconcile:`` has an interval or a cron."""
    reconcilers = build_reconcilers(
        config,
        store,
        submit=intake.submit,
        wake=workers.wake,
        pollers=pollers.pollers,
        inbound=inbound,
        owner=owner,
    )
    return [
        ScheduledReconciliation(r, store)
        for r in reconcilers.values()
        if r.spec.interval is not None or r.spec.cron is not None
    ]
