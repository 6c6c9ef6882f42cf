"""The auditor's record: a tamper-evident log of what the hub exchanged, and the proofs an auditor checks.

merkle.py and heads.py (and timestamps.py, bundle.py) are pure: no database, no configuration, so an auditor
verifies a bundle on a machine that has neither.
"""
