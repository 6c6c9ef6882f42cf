"""Delivery: the workers that send stored payloads, their retry policy and circuit breaker, the
built-in SOAP plugin, and the transports it talks through."""
