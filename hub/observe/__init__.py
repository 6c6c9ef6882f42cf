"""What an operator watches: the hub's health at a glance, Prometheus metrics, liveness and readiness.

``snapshot(hub)`` is the one read of the hub's state (queues per adapter, dead letters, circuits, what
this process has done since it started) that ``/metrics``, ``/readyz`` and the console's dashboard share.
Nothing here is on the path of a message except the counters (``metrics.py``), which cost microseconds.
"""

from __future__ import annotations

from lienthong.observe.snapshot import AdapterHealth, HealthSnapshot, ProcessActivity, snapshot

__all__ = ["AdapterHealth", "HealthSnapshot", "ProcessActivity", "snapshot"]
