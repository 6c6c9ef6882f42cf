"""Citizens told: a notice by email or SMS when their dossier changes status (docs/notify.md).

A notice is not a side channel: :mod:`.maker` turns each status report the hub passes to the one-stop
system into one message per channel (``tb:ThongBaoCongDan``, kind ``status``, from the hub), submitted
through intake with a sender message id made of the dossier, the status and the channel. Routes send
it to the ``email`` adapter (the :mod:`.smtp` plugin) or the ``sms`` adapter (the REST plugin and a
YAML mapping, with a simulator), so a notice is stored before anything is sent, retried, dead-lettered
and shown in ``hub trail`` like every delivery, and intake's idempotency makes it once per status.
"""
