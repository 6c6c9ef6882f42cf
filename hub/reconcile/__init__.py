"""Reconciliation: what each ministry system holds, compared with the hub's records and the one-stop
system's view; differences classified, the safe ones healed, the rest reported (docs/reconciliation.md).

Retries handle the failures the hub sees; this finds the ones it cannot: a message the system lost, a
callback that never came, a status changed on the ministry's side, a dossier entered twice there, a
result never returned. The data flows one way: this package reads the store and the systems, and heals
only through the hub's own paths (the outbox, intake, a poll)."""
