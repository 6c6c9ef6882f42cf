"""The background sealer: new rows into the log, and a signed tree head every ``head_interval``.

One thread per hub process; a lease in ``poll_state`` (``Store.start_poll``) makes sure only one process
seals at a time and a dead process's turn is taken over within one lease. Sealing never runs on the
request path: intake pays nothing for the log beyond the rows it writes anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
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

    def run_once(self) -> int:
        """One tick: seal what is new (if this process holds the turn), then a head if one is due."""
        sealed = 0
        if self._refusals is not None:
            self._refusals.flush_to_store()
        with lease_held(self.store, SEAL_KEY, self.owner, LEASE, self.settings.seal_interval) as held:
            while held:
                count = self.audit_log.seal()
                sealed += count
                # Again at once only while a full batch says more may wait (a backlog): under steady
                # traffic each seal finds a few new rows, and sealing them one round after another
                # made the sealer a busy loop, its fixed cost per round paid many times a second.
                if count < SEAL_BATCH or self._stop.is_set():
                    break
        if self.key is not None:
            with lease_held(self.store, HEAD_KEY, self.owner, LEASE, self.settings.head_interval) as held:
                if held:
                    make_head(self.audit_log, self.key, self.timestamper)
        return sealed

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
