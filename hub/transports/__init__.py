"""How delivery reaches a ministry: ``http`` (one POST through httpx: timeouts, bounds, safe retries) and
``wsdl`` (zeep, built from a local WSDL, writing envelopes and reading replies over ``http``)."""
