"""The background sealer: new rows into the log, and a signed tree head every ``head_interval``.

One thread per hub process; a lease in ``poll_state`` (``Store.start_poll``) makes sure only one process
seals at a time and a dead process's turn is taken over within one lease. Sealing never runs on the
request path: intake pays nothing for the log beyond the rows it writes anyway.

The process that takes the sealing lease (``SEAL_LEASE``, 30 s) keeps it for half of it and seals
every ``seal_interval`` without asking again, then gives it back and takes it anew; another process
asks every ``SEAL_RETRY``. Taking and giving back the lease at every tick cost two write
transactions a second (on SQLite two fsyncs, and the write lock intake waits for) to learn what the
process already knew. Half the lease leaves the other half as the margin against clocks: the
database's lease runs the full 30 s from when it was taken. Should two processes seal at once all
the same (a process paused past its lease), the log stays whole: ``AuditLog.seal`` writes only if
the log has not grown since it read, and leaf indices and source keys are unique. A process that
stops gives the lease back; the turn of one that dies passes on when its lease runs out (30 s).

The head's lease is asked for only when a head may be due: after this process took it, not before
``head_interval`` (no process can take it sooner); after another had it, every ``HEAD_RETRY``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import Final

from lienthong.audit.heads import SignedHead, TreeHead, sign_head
from lienthong.audit.log import SEAL_BATCH, AuditLog
from lienthong.audit.refusals import RefusalRecorder
from lienthong.config.models import AuditSettings, Configuration
from lienthong.envelope import utcnow
from lienthong.store import Store, lease_held
from lienthong.trust.keys import Keystore, SigningKey

log = logging.getLogger("lienthong.auditlog")

SEAL_KEY: Final = "audit/seal"
HEAD_KEY: Final = "audit/head"
LEASE: Final = timedelta(minutes=2)
#: The sealing lease: kept between ticks (see the module's text), so short enough that the turn of a
#: process that died passes on soon.
SEAL_LEASE: Final = timedelta(seconds=30)
#: How long the process holding the sealing lease seals before taking it anew: half the lease.
SEAL_HOLD: Final = SEAL_LEASE / 2
#: How often a process that does not hold the sealing lease (or the head's) asks for it.
SEAL_RETRY: Final = timedelta(seconds=10)
HEAD_RETRY: Final = timedelta(seconds=5)

#: Dates a head's hash (RFC 3161), returning the token; see lienthong.audit.timestamps.
Timestamper = Callable[[bytes], bytes]


def head_key(config: Configuration) -> SigningKey | None:
    """The key that signs tree heads: ``audit.signing``, else the hub's current signing key, else none."""
    audit = config.hub.audit
    if audit.signing is not None:
        return Keystore.load([audit.signing], config.root).current
    if config.hub.keys.signing:
        return Keystore.load(config.hub.keys.signing[:1], config.root).current
    return None


def make_head(log_: AuditLog, key: SigningKey, timestamper: Timestamper | None = None) -> SignedHead | None:
    """Sign a head over the whole log as it is now, naming the latest head; None when nothing changed."""
    size = log_.size()
    latest = log_.latest_head()
    if latest is not None and latest.size >= size:
        return None
    previous = None if latest is None else TreeHead.from_canonical(latest.head).hash()
    head = TreeHead(size=size, root=log_.root(size), at=utcnow(), previous=previous)
    signed = sign_head(head, key.private_key, key.certificate)
    token = None
    if timestamper is not None:
        try:
            token = timestamper(head.hash())
        except Exception as exc:  # the head stands without its timestamp; the log says why
            log.warning("tree head %d not timestamped: %s", size, exc)
    log_.add_head(signed, token)
    return signed


@dataclass
class Sealer:
    """Seals every ``settings.seal_interval`` and signs a head every ``settings.head_interval``."""

    store: Store
    audit_log: AuditLog
    settings: AuditSettings
    key: SigningKey | None
    owner: str
    timestamper: Timestamper | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refusals: RefusalRecorder | None = None
        #: Monotonic times: this process seals without asking until ``_held_until`` (0: it does not
        #: hold the lease); it asks for the sealing lease, and the head's, no sooner than these.
        self._held_until = 0.0
        self._ask_at = 0.0
        self._head_at = 0.0
        #: Monotonic: the next seal of this process (every ``seal_interval``, as the lease's due time
        #: paced it when the lease was taken at each seal).
        self._seal_at = 0.0

    def run_once(self) -> int:
        """One tick: seal what is new (if this process holds the turn), then a head if one is due."""
        sealed = 0
        if self._refusals is not None:
            self._refusals.flush_to_store()
        tick = monotonic()
        held = tick >= self._seal_at and self._sealing_turn()
        if held:
            self._seal_at = tick + self.settings.seal_interval.total_seconds()
        while held:
            count = self.audit_log.seal()
            sealed += count
            # Again at once only while a full batch says more may wait (a backlog): under steady
            # traffic each seal finds a few new rows, and sealing them one round after another
            # made the sealer a busy loop, its fixed cost per round paid many times a second.
            if count < SEAL_BATCH or self._stop.is_set() or monotonic() >= self._held_until:
                break
        if self.key is not None and monotonic() >= self._head_at:
            interval = self.settings.head_interval
            asked = monotonic()
            with lease_held(self.store, HEAD_KEY, self.owner, LEASE, interval) as held:
                if held:
                    make_head(self.audit_log, self.key, self.timestamper)
            self._head_at = asked + (interval if held else min(interval, HEAD_RETRY)).total_seconds()
        return sealed

    def _sealing_turn(self) -> bool:
        """Whether this process seals now: it holds the lease it took less than SEAL_HOLD ago, or takes
        it now (giving back the one it held first: the store hands out only a free or lapsed lease)."""
        now = monotonic()
        if now < self._held_until:
            return True
        if now < self._ask_at:
            return False
        if self._held_until:
            self.store.end_poll(SEAL_KEY, self.owner)
            self._held_until = 0.0
        if self.store.start_poll(SEAL_KEY, self.owner, SEAL_LEASE, self.settings.seal_interval):
            self._held_until = now + SEAL_HOLD.total_seconds()
            return True
        self._ask_at = now + SEAL_RETRY.total_seconds()
        return False

    def _give_back(self) -> None:
        """Hand the sealing lease back at once (another process takes over at its next ask)."""
        if self._held_until:
            self._held_until = 0.0
            self.store.end_poll(SEAL_KEY, self.owner)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._refusals = RefusalRecorder.install(self.audit_log.engine)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="audit-sealer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self._give_back()
        except Exception:
            log.exception("the sealing lease not given back at shutdown (it runs out on its own)")
        self.audit_log.close()
        if self._refusals is not None:
            self._refusals.uninstall()
            try:
                self._refusals.flush_to_store()
            except Exception:
                log.exception("refusals not recorded at shutdown")
            self._refusals = None

    def _loop(self) -> None:
        wait = min(self.settings.seal_interval.total_seconds(), 1.0)
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("audit sealing failed; trying again")
            self._stop.wait(wait)


def build_sealer(config: Configuration, store: Store, owner: str) -> Sealer | None:
    """The sealer for a hub on an SQL store (the in-memory store of some tests has no log)."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return None
    return Sealer(
        store, AuditLog(engine), config.hub.audit, head_key(config), owner, build_timestamper(config)
    )


def build_timestamper(config: Configuration) -> Timestamper | None:
    """RFC 3161 timestamps on heads when ``audit.timestamping`` names an authority."""
    settings = config.hub.audit.timestamping
    if settings is None:
        return None
    from lienthong.audit.timestamps import HttpTsaClient

    return HttpTsaClient(settings.url, timeout=settings.timeout.total_seconds()).stamp
