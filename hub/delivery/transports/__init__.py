"""How delivery reaches a ministry. ``base`` is the contract (:class:`Transport`: one request, one
response); ``http`` carries it over sockets (httpx: timeouts, bounds, safe retries), ``memory`` through a
handler function (tests without sockets); ``wsdl`` is zeep, built from a local WSDL, writing SOAP
envelopes and reading replies that a transport carries."""
