"""Trust: the hub's signing keys, signing outbound payloads and verifying what agencies sign."""
