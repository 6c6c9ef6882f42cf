"""edXML (QCVN 102:2016): reading official documents and status packages tolerantly, writing them in
the standard form, and what the hub records of them. See docs/edxml.md."""
