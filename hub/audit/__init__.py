"""The auditor's record (issue 12): a tamper-evident log of what the hub received, decided, delivered,
refused and what its operators did, sealed in the background into an RFC 6962 Merkle tree whose signed
heads each commit to the one before. docs/audit.md tells an auditor how to check it."""
