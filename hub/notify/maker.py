"""The notice maker: a scheduled job turning status reports into notices (docs/notify.md).

Every ``notify.interval``, under a lease in ``poll_state`` (one process at a time, as polls run), it
takes the status reports on their way to the one-stop system not yet examined, finds the citizen in
the dossier's own message, renders the status's template for each channel with an address, and
submits each notice through intake as a message from the hub: sender message id
``notice:<channel>:<dossier>:<status>``. Intake's idempotency key then makes it one notice per status
change and channel, whichever process, round or restart submits it, and a second report of the same
status (a repeat, a reconciliation's re-push) is a repeat or a conflict intake refuses, never a second
email. Each report examined gets a ``notice_checks`` row saying what came of it.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Final

from lienthong.config.models import NotifySettings
from lienthong.envelope import MessageKind, new_envelope, utcnow
from lienthong.errors import HubError, IdempotencyConflictError, StoreUnavailableError
from lienthong.intake.service import Intake
from lienthong.notify.notice import Notice
from lienthong.notify.records import NoticeRecords, StatusReport
from lienthong.notify.templates import Contact, Renderer, contact, context
from lienthong.store import Store, lease_held
from lienthong.xml import parse_xml

__all__ = ["NOTICE_HEADER", "NoticeMaker"]

log = logging.getLogger("lienthong.notify")

#: The header a notice carries: its channel.
NOTICE_HEADER: Final = "notice"
_LEASE_MARGIN: Final = timedelta(seconds=60)
_POLL_KEY: Final = "notify"


class NoticeMaker:
    """A :class:`~lienthong.delivery.polling.ScheduledJob`: ``run`` never raises."""

    name = "notify"

    def __init__(
        self,
        settings: NotifySettings,
        store: Store,
        records: NoticeRecords,
        intake: Intake,
        *,
        hub_agency: str,
        owner: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.records = records
        self.intake = intake
        self.hub_agency = hub_agency
        self.owner = owner
        self.interval = settings.interval
        self.renderer = Renderer()

    def close(self) -> None:
        """Nothing of its own to close: notices go out through intake and the delivery workers."""

    def run(self) -> list[str]:
        """One round: the outcome of each report examined."""
        try:
            next_due = self.interval * 0.9
            with lease_held(
                self.store, _POLL_KEY, self.owner, self.interval + _LEASE_MARGIN, next_due
            ) as held:
                if not held:
                    return []
                outcomes = self.round()
        except StoreUnavailableError as exc:
            log.warning("notices skipped: %s", exc.message)
            return []
        except Exception:  # a bug must not stop the schedule; the next round tries again
            log.exception("notices failed")
            return []
        if outcomes:
            counts = Counter(outcomes)
            log.info("notices: %s", ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
        return outcomes

    def round(self) -> list[str]:
        since = utcnow() - self.settings.lookback
        reports = self.records.unchecked_reports(self.settings.sources, since, self.settings.batch)
        outcomes = []
        for report in reports:
            status, outcome, detail = self.examine(report)
            self.records.record(report, status, outcome, detail)
            outcomes.append(outcome)
        return outcomes

    def examine(self, report: StatusReport) -> tuple[str | None, str, str | None]:
        """(status, outcome, detail) for one report; submits its notices."""
        body = report.body
        if body is None or not report.dossier_code:
            return None, "unreadable", "no JSON status report with a dossier code"
        status = str(body.get("TrangThaiHoSo", "")).strip()
        template = self.settings.templates.get(status)
        if template is None:
            return status, "no-template", f"no template for status {status!r}"
        dossier = self.records.dossier_payload(report.dossier_code)
        if dossier is None:
            return status, "no-dossier", "the hub holds no dossier message with this code"
        try:
            who = contact(parse_xml(dossier, what="dossier"))
        except HubError as exc:
            return status, "unreadable", exc.message
        values = context(body, who, report.dossier_code, report.procedure_code)
        results: list[tuple[str, str | None]] = []
        for channel in self.settings.channels:
            text = template.email if channel == "email" else template.sms
            address = who.email if channel == "email" else who.phone
            if text is None or address is None:
                continue
            try:
                notice = Notice(
                    dossier_code=report.dossier_code,
                    status=status,
                    channel=channel,
                    recipient=address,
                    name=who.name,
                    subject=self.renderer.render(template.subject, values) if channel == "email" else None,
                    text=self.renderer.render(text, values),
                )
            except Exception as exc:  # a template naming what the hub does not give
                log.error("notice %s for %s: the template failed: %s", channel, report.dossier_code, exc)
                results.append(("refused", f"{channel}: template: {exc}"))
                continue
            results.append(self._submit(report, notice, who))
        if not results:
            return status, "no-contact", "no address for a channel with a template"
        outcomes = {outcome for outcome, _ in results}
        outcome = "sent" if "sent" in outcomes else "refused" if "refused" in outcomes else "repeat"
        detail = "; ".join(d for _, d in results if d)
        return status, outcome, detail or None

    def _submit(self, report: StatusReport, notice: Notice, who: Contact) -> tuple[str, str | None]:
        envelope = new_envelope(
            kind=MessageKind.STATUS,
            sender=self.hub_agency,
            sender_message_id=f"notice:{notice.channel}:{notice.dossier_code}:{notice.status}",
            payload=notice.to_xml(),
            content_type="application/xml",
            procedure_code=report.procedure_code,
            dossier_code=notice.dossier_code,
            causation_id=report.message_id,
            headers={NOTICE_HEADER: notice.channel},
        )
        try:
            accepted = self.intake.submit(envelope)
        except IdempotencyConflictError:  # this status was notified from another report already
            return "repeat", f"{notice.channel}: already notified"
        except StoreUnavailableError:
            raise
        except HubError as exc:
            log.error("notice %s for %s refused: %s", notice.channel, notice.dossier_code, exc.message)
            return "refused", f"{notice.channel}: {exc.message}"
        if accepted.created:
            return "sent", f"{notice.channel}: {accepted.message_id}"
        return "repeat", f"{notice.channel}: already notified"


def build_notice_makers(
    settings: NotifySettings, store: Store, intake: Intake, *, hub_agency: str, owner: str
) -> list[NoticeMaker]:
    """The maker when notices are enabled and the store is SQL (it reads the store's tables)."""
    engine = getattr(store, "engine", None)
    if not settings.enabled or engine is None:
        return []
    return [NoticeMaker(settings, store, NoticeRecords(engine), intake, hub_agency=hub_agency, owner=owner)]
