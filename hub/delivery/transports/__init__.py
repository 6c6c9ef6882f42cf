"""How delivery reaches a ministry. ``base`` is the contract (:class:`Transport`: one request, one
response); ``http`` carries it over sockets (pooled keep-alive connections, timeouts, bounds, safe
retries), ``memory`` through a handler function (tests without sockets); ``wsdl`` is zeep, built from
a local WSDL: the envelope of each request (written once) and the check of each reply against it."""
