"""Translation: a mapping turns a provincial payload into what a ministry system expects.

The contract is :class:`Mapper` (one method); the hub's intake stages (``prepare``) hold any mapper.
Mappings are data (``mappings/<adapter>/*.xsl``, or declarative ``*.yaml``: docs/mappings.md), so a new
ministry needs a file, not Python; the hub picks the mapper from the file (:func:`load_mapper`). XSLT
stylesheets run with every access denied: no document(), no file or network writes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from lxml import etree

from lienthong.errors import TranslationError

# lxml-stubs lag behind lxml here: DENY_ALL exists since lxml 2.2.
_ACCESS = cast(Any, etree.XSLTAccessControl).DENY_ALL


class Mapper(Protocol):
    """Turns one document into another. ``params`` carry the message's context: ``message_id``,
    ``sender``, ``hub_agency``, ``target_agency``. Raises TranslationError for input it cannot map."""

    def apply(self, tree: etree._Element, params: Mapping[str, str]) -> etree._Element: ...


class XsltMapping:
    """A compiled XSLT 1.0 stylesheet; compiled per thread because lxml's XSLT objects are not shareable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._compile()

    def _compile(self) -> etree.XSLT:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            xslt = etree.XSLT(etree.parse(str(self.path), parser), access_control=_ACCESS)
        except (OSError, etree.XSLTParseError, etree.XMLSyntaxError) as exc:
            raise TranslationError(f"mapping {self.path} cannot be loaded: {exc}") from exc
        self._local.xslt = xslt
        return xslt

    def apply(self, root: etree._Element, params: Mapping[str, str]) -> etree._Element:
        xslt: etree.XSLT | None = getattr(self._local, "xslt", None)
        if xslt is None:
            xslt = self._compile()
        quoted = {k: etree.XSLT.strparam(v) for k, v in params.items()}
        try:
            result = cast(Any, xslt)(root, **quoted)
        except etree.XSLTApplyError as exc:
            raise TranslationError(f"mapping {self.path.name} failed: {exc}") from exc
        out: etree._Element | None = result.getroot()
        if out is None:
            messages = "; ".join(str(e.message) for e in cast(Any, xslt).error_log) or "empty result"
            raise TranslationError(f"mapping {self.path.name} produced no document: {messages}")
        return out


#: Mapping files the hub knows how to run, by suffix: XSLT, and declarative YAML (docs/mappings.md).
MAPPING_SUFFIXES = (".xsl", ".xslt", ".yaml", ".yml")


def load_mapper(path: Path, *, name: str | None = None) -> Mapper:
    """The mapper for a mapping file, chosen by its suffix. ``name`` is how problems in a YAML
    mapping name the file (its path from the project's root); a YAML mapping's problems are a
    ConfigError at the mapping file's lines, an XSLT's a TranslationError."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        from lienthong.pipeline.yaml_mapping import YamlMapping  # pydantic models, loaded when used

        return YamlMapping(path, name=name)
    if suffix in MAPPING_SUFFIXES:
        return XsltMapping(path)
    raise TranslationError(
        f"mapping {path.name}: unknown kind of mapping (expected one of {', '.join(MAPPING_SUFFIXES)})"
    )
