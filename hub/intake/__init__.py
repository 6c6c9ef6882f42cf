"""Intake: how a message gets in — the REST API and the SOAP gateway, who may call them, the limits
and refusals at the door, and the service that accepts a message into the store."""
