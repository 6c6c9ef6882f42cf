"""The unprefixed signature of real edXML senders, read as the XML Signature it is meant to be.

The VNPT edXML SDK writes ``<Signature>`` without a prefix and without ``xmlns`` inside a document whose
default namespace is edXML's, so the element, by the rules of XML namespaces, is
``{http://www.mic.gov.vn/TBT/QCVN_102_2016}Signature``: no XML Signature processor sees a signature there.
What the sender's library signed is the same subtree in the xmldsig namespace, unprefixed (its own
``xmlns="…xmldsig#"`` was lost on the way out). So the hub verifies a private copy of the document in
which exactly that subtree is rebuilt as ``<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">``:

* SignedInfo then canonicalises as the sender's library produced it (default namespace xmldsig, the
  document's other in-scope declarations unchanged), so the SignatureValue verifies or fails on its merits;
* the enveloped-signature transform removes the rebuilt element like any signature, so the digest covers
  the document exactly as the enveloped transform would have over the original;
* nothing outside the subtree changes, and the caller's tree is never touched.

Private to :mod:`lienthong.trust`; reported as the quirk ``signature-unprefixed``.
"""

from __future__ import annotations

import copy
from typing import Final

from lxml import etree

from lienthong.xml import EDXML_NS, XMLDSIG_NS

#: The quirk code reported when a signature was verified this way.
UNPREFIXED: Final = "signature-unprefixed"


def is_unprefixed_edxml(sig: etree._Element) -> bool:
    """A ``Signature`` in the edXML namespace: the shape real senders write."""
    return sig.tag == f"{{{EDXML_NS}}}Signature"


def as_xmldsig(root: etree._Element, sig: etree._Element) -> tuple[etree._Element, etree._Element]:
    """A private copy of ``root`` with ``sig`` (an edXML-namespace Signature in it) rebuilt in xmldsig;
    returns the copy and the rebuilt signature in it."""
    path = element_path(root, sig)
    private = copy.deepcopy(root)
    old = private
    for index in path:
        old = old[index]
    parent = old.getparent()
    assert parent is not None  # a signature found under edXMLHeader
    # An unprefixed declaration, as the sender's library wrote it before the xmlns was lost.
    nsmap = {None: XMLDSIG_NS}
    new = etree.Element(f"{{{XMLDSIG_NS}}}Signature", _attributes(old), nsmap=nsmap)  # type: ignore[arg-type]
    _rebuild(old, new)
    new.tail = old.tail
    parent.replace(old, new)
    return private, new


def element_path(root: etree._Element, node: etree._Element) -> list[int]:
    """Child positions from ``root`` down to ``node`` (which must be inside it, or be it)."""
    path: list[int] = []
    current = node
    while current is not root:
        parent = current.getparent()
        if parent is None:
            raise ValueError("the element is not inside the document")
        path.append(parent.index(current))
        current = parent
    return list(reversed(path))


def _rebuild(old: etree._Element, new: etree._Element) -> None:
    """Copy ``old``'s content under ``new``: edXML-namespace elements become xmldsig elements (inheriting
    the unprefixed declaration); anything else (another namespace, a comment) is copied as it is."""
    new.text = old.text
    for child in old:
        if isinstance(child.tag, str) and etree.QName(child).namespace == EDXML_NS:
            rebuilt = etree.SubElement(
                new, f"{{{XMLDSIG_NS}}}{etree.QName(child).localname}", _attributes(child)
            )
            _rebuild(child, rebuilt)
            rebuilt.tail = child.tail
        else:
            new.append(copy.deepcopy(child))  # keeps its own tail


def _attributes(element: etree._Element) -> dict[str, str]:
    return {str(name): str(value) for name, value in element.attrib.items()}
